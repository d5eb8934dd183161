/**
 * Finding and running ffmpeg. Order: an explicit path (HERD_FFMPEG, passed in by the caller), then
 * `ffmpeg-static`'s binary only if that optional package is installed and its file exists (its
 * install step downloads the binary, which fails without a network), then `ffmpeg` on PATH
 * (Debian's package).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { HerdError } from '@herd/core';

export function resolveFfmpeg(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.HERD_FFMPEG;
  if (explicit !== undefined && explicit !== '') {
    if (!existsSync(explicit)) throw new HerdError('tool_missing', `HERD_FFMPEG is ${explicit}, but no file is there`);
    return explicit;
  }
  try {
    const path = (createRequire(import.meta.url)('ffmpeg-static' as string) as string | null) ?? '';
    if (path !== '' && existsSync(path)) return path;
  } catch {
    // Not installed: that is the normal case.
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, 'ffmpeg'))) return join(dir, 'ffmpeg');
  }
  throw new HerdError(
    'tool_missing',
    'ffmpeg not found: set HERD_FFMPEG to an ffmpeg binary, or install it (Debian: apt-get install ffmpeg)',
  );
}

/**
 * Runs ffmpeg with `args`, writing `input` chunks to its stdin (pulled lazily so frames need not all
 * be in memory), and returns its stdout.
 */
export async function runFfmpeg(ffmpeg: string, args: readonly string[], input?: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const p = spawn(ffmpeg, ['-hide_banner', '-loglevel', 'error', ...(input ? [] : ['-nostdin']), ...args], {
    stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  p.stdout!.on('data', (b: Buffer) => out.push(b));
  p.stderr!.on('data', (b: Buffer) => err.push(b));
  const closed = new Promise<number | null>((resolve, reject) => {
    p.on('error', (e) => reject(new HerdError('tool_missing', `could not run ${ffmpeg}: ${e.message}`, { cause: e })));
    p.on('close', resolve);
  });
  if (input && p.stdin) {
    const stdin = p.stdin;
    stdin.on('error', () => {}); // ffmpeg failing early shows up as its exit code below
    for await (const chunk of input) {
      if (!stdin.write(chunk)) await new Promise<void>((r) => stdin.once('drain', () => r()));
    }
    stdin.end();
  }
  const code = await closed;
  if (code !== 0) throw new HerdError('runtime_error', `ffmpeg ${args.join(' ')} failed (${code}): ${Buffer.concat(err).toString().trim()}`);
  return new Uint8Array(Buffer.concat(out));
}
