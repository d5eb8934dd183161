/**
 * Running ffmpeg/ffprobe as a child process with a timeout and an AbortSignal. On an error, a
 * timeout or an abort the child is killed (SIGKILL) and reaped before the promise settles, so no
 * ffmpeg outlives the call.
 */
import { spawn } from 'node:child_process';
import { HerdError } from '@herd/core';

export const DEFAULT_FFMPEG_TIMEOUT_MS = 300_000;

export interface ToolCallOptions {
  /** Kill the process after this long (default 300 s). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Refuse (and kill) once stdout grows past this (default 2 GiB). */
  readonly maxOutputBytes?: number;
  /** What the call is about, for error messages (e.g. the file name). */
  readonly label?: string;
}

export interface ToolResult {
  readonly stdout: Uint8Array;
  readonly stderr: string;
}

/** Runs `bin args`, feeding `input` chunks to stdin when given; rejects on a non-zero exit. */
export async function runTool(bin: string, args: readonly string[], opts: ToolCallOptions & { input?: AsyncIterable<Uint8Array> } = {}): Promise<ToolResult> {
  const label = opts.label ?? bin;
  if (opts.signal?.aborted === true) throw new HerdError('runtime_error', `${label}: ${bin} aborted before it started`, { cause: opts.signal.reason });
  const p = spawn(bin, args, { stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let outBytes = 0;
  const maxOut = opts.maxOutputBytes ?? 2 ** 31;
  let failure: HerdError | undefined;
  const kill = (why: HerdError): void => {
    failure ??= why;
    p.kill('SIGKILL');
  };
  p.stdout!.on('data', (b: Buffer) => {
    outBytes += b.length;
    if (outBytes > maxOut) kill(new HerdError('invalid_argument', `${label}: output over ${maxOut} bytes; refused`));
    else out.push(b);
  });
  p.stderr!.on('data', (b: Buffer) => {
    if (err.length < 256) err.push(b);
  });
  const timeoutMs = opts.timeoutMs ?? DEFAULT_FFMPEG_TIMEOUT_MS;
  const timer = setTimeout(() => kill(new HerdError('runtime_error', `${label}: ${bin} timed out after ${timeoutMs} ms and was killed`)), timeoutMs);
  const onAbort = (): void => kill(new HerdError('runtime_error', `${label}: ${bin} aborted`, { cause: opts.signal?.reason }));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const closed = new Promise<number | null>((resolve) => {
    p.on('error', (e) => {
      failure ??= new HerdError('tool_missing', `${label}: could not run ${bin}: ${e.message}`, { cause: e });
      resolve(null);
    });
    p.on('close', resolve);
  });
  try {
    if (opts.input && p.stdin) {
      const stdin = p.stdin;
      stdin.on('error', () => {}); // ffmpeg failing early shows up as its exit code below
      try {
        for await (const chunk of opts.input) {
          if (failure !== undefined || stdin.destroyed) break;
          if (!stdin.write(chunk)) await new Promise<void>((r) => { stdin.once('drain', r); stdin.once('close', r); });
        }
      } catch (e) {
        kill(new HerdError('runtime_error', `${label}: input for ${bin} failed: ${(e as Error).message}`, { cause: e }));
      }
      stdin.end();
    }
    const code = await closed;
    if (failure !== undefined) throw failure;
    const stderr = Buffer.concat(err).toString().trim();
    if (code !== 0) throw new HerdError('runtime_error', `${label}: ${bin} ${args.join(' ')} failed (exit ${code}): ${stderr}`);
    return { stdout: new Uint8Array(Buffer.concat(out)), stderr };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await closed;
    }
  }
}

/**
 * Runs ffmpeg quietly with `args`, writing `input` chunks to its stdin (pulled lazily so frames need
 * not all be in memory), and returns its stdout. The generator's encoder uses it.
 */
export async function runFfmpeg(ffmpeg: string, args: readonly string[], input?: AsyncIterable<Uint8Array>, opts: ToolCallOptions = {}): Promise<Uint8Array> {
  const full = ['-hide_banner', '-loglevel', 'error', ...(input ? [] : ['-nostdin']), ...args];
  return (await runTool(ffmpeg, full, { ...opts, ...(input ? { input } : {}), label: opts.label ?? 'ffmpeg' })).stdout;
}
