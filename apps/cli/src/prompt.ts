/**
 * Where a prompt comes from: `--prompt TEXT`, `--prompt -` (standard input) or `--prompt-file FILE`
 * (`-` for standard input too). Long prompts belong in a file or on stdin: onnxruntime-node 1.30
 * crashes (SIGSEGV, exit 139) creating a session in a process whose command line passes ~28 KB, so
 * `--prompt` is limited well below that and the limit's message points to the other two.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { HerdError, UsageError } from '@herd/core';
import { type Io } from './command.js';

/** Longest `--prompt` accepted on the command line (bytes); measured crash point ~28,000. */
export const PROMPT_ARG_MAX_BYTES = 16_384;
export const PROMPT_TOO_LONG_HINT = 'put a long prompt in a file and pass --prompt-file FILE, or pipe it in with --prompt -';

function decodeUtf8(bytes: Uint8Array, from: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new HerdError('corrupt_data', `${from} is not UTF-8 text`, { cause: e });
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

/** Editors and `echo` end files with a newline the user did not mean as part of the prompt. */
function dropFinalNewline(s: string): string {
  return s.replace(/\r?\n$/, '');
}

/** The prompt text; from a file or stdin, one final newline is dropped. */
export async function readPrompt(o: { prompt?: string | undefined; promptFile?: string | undefined }, io: Io): Promise<string> {
  if (o.prompt !== undefined && o.promptFile !== undefined) throw new UsageError('give either --prompt or --prompt-file, not both');
  if (o.prompt === undefined && o.promptFile === undefined) throw new UsageError(`a prompt is needed: --prompt TEXT, --prompt - (standard input) or --prompt-file FILE`);
  const source = o.promptFile ?? o.prompt!;
  if (o.prompt !== undefined && o.prompt !== '-') return o.prompt;
  if (source === '-') {
    if (io.stdin.isTTY) io.stderr.write('reading the prompt from standard input (end it with Ctrl-D)\n');
    return dropFinalNewline(decodeUtf8(await readAll(io.stdin), 'standard input'));
  }
  const path = resolve(source);
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new HerdError('io_error', `--prompt-file ${path}: no such file`, { cause: e });
  }
  // FIFOs are fine here: `--prompt-file <(command)` is a pipe by design.
  if (isDir) throw new HerdError('io_error', `--prompt-file ${path} is a directory, not a file`);
  return dropFinalNewline(decodeUtf8(readFileSync(path), path));
}
