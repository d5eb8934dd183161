import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HerdError, writeFileAtomic } from '@herd/core';

/**
 * The bookkeeping of a run lives in `<output>/_run/`: the pipeline fingerprint, a lock, one done
 * record per shard and pass, global decisions, intermediate shards, and the JSON-lines log.
 */
export const RUN_DIR = '_run';

export function runDir(output: string): string {
  return join(output, RUN_DIR);
}

export function passDir(output: string, pass: number): string {
  return join(output, RUN_DIR, `pass-${pass}`);
}

export function donePath(output: string, pass: number, shard: number): string {
  return join(passDir(output, pass), `shard-${String(shard).padStart(6, '0')}.done.json`);
}

export function decisionPath(output: string, pass: number): string {
  return join(passDir(output, pass), 'decision.json');
}

export async function readJsonIfAny<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HerdError('io_error', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    // Written atomically, so this is outside damage: treat as not done and redo the work.
    void e;
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Refuses a second live run on the same output; a lock left by a killed run is taken over. */
export async function acquireLock(output: string): Promise<() => Promise<void>> {
  const path = join(runDir(output), 'lock.json');
  const held = await readJsonIfAny<{ pid: number }>(path);
  if (held && held.pid !== process.pid && alive(held.pid)) {
    throw new HerdError('io_error', `${output} is being written by another run (pid ${held.pid}); wait for it or stop it`);
  }
  await writeFileAtomic(path, JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() }));
  return () => rm(path, { force: true });
}

/**
 * The fingerprint of what a run computes: a resumed run must have the same one, otherwise finished
 * shards of another pipeline would be mixed into the output.
 */
export async function checkFingerprint(output: string, fingerprint: unknown): Promise<void> {
  const path = join(runDir(output), 'run.json');
  const want = JSON.stringify(fingerprint, null, 2);
  const have = await readJsonIfAny<unknown>(path);
  if (have === undefined) {
    await writeFileAtomic(path, want + '\n');
    return;
  }
  if (JSON.stringify(have, null, 2) !== want) {
    throw new HerdError(
      'invalid_argument',
      `${output} holds a run of a different pipeline or input (see ${path}); remove the folder or choose another output`,
    );
  }
}

/**
 * Removes temp files and folders (`.<name>.<pid>.<hex>.tmp`) that a killed writer left behind,
 * anywhere under the given folders (the output, its run state, pass and decision folders, report plots).
 */
export async function removeTempFiles(dirs: readonly string[]): Promise<number> {
  let n = 0;
  for (const dir of dirs) {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (/^\..+\.tmp$/.test(e.name)) {
        await rm(join(dir, e.name), { force: true, recursive: true });
        n++;
      } else if (e.isDirectory()) n += await removeTempFiles([join(dir, e.name)]);
    }
  }
  return n;
}

export async function listPassDirs(output: string): Promise<string[]> {
  const names = await readdir(runDir(output)).catch(() => [] as string[]);
  return names.filter((n) => /^pass-\d+$/.test(n)).map((n) => join(runDir(output), n));
}
