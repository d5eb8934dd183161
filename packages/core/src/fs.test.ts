/**
 * `outputPathProblem`: an output path a command writes at the end of its run (`--answers FILE`, `--out DIR`)
 * checked before the run. Missing folders on the way are fine (the write creates them) and nothing is
 * created by the check; a path below a file, a file path that is a folder (or a FIFO), a folder path that
 * is a file, and a folder no file can be created in are refused, naming the path at fault.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { outputPathProblem, writeFileAtomic } from './fs.js';

const root = mkdtempSync(join(tmpdir(), 'herd-output-path-'));
afterAll(() => {
  chmodSync(root, 0o755);
  for (const d of readdirSync(root)) chmodSync(join(root, d), 0o755);
  rmSync(root, { recursive: true, force: true });
});

/**
 * A folder no file can be created in: a read-only folder for a normal user; root ignores permission
 * bits, so for root /sys (sysfs refuses new files), when this machine has one.
 */
function unwritableFolder(base: string): string | undefined {
  if (process.getuid?.() !== 0) {
    const d = join(base, 'read-only');
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o555);
    return d;
  }
  return existsSync('/sys') && statSync('/sys').isDirectory() ? '/sys' : undefined;
}

describe('outputPathProblem', () => {
  it('accepts a file or folder whose missing folders the write will create, and creates nothing itself', async () => {
    const file = join(root, 'new', 'deeper', 'answers.jsonl');
    expect(outputPathProblem(file, 'file')).toBeUndefined();
    expect(outputPathProblem(join(root, 'new', 'checkpoint'), 'folder')).toBeUndefined();
    expect(existsSync(join(root, 'new'))).toBe(false);
    expect(readdirSync(root)).toEqual([]); // the writability probe is gone too
    // …and the later write does create them (writeFileAtomic: mkdir -p, then temp + rename).
    await writeFileAtomic(file, 'x\n');
    expect(readdirSync(join(root, 'new', 'deeper'))).toEqual(['answers.jsonl']);
    // An existing file is fine (replaced by the atomic write), so is an existing folder as a folder.
    expect(outputPathProblem(file, 'file')).toBeUndefined();
    expect(outputPathProblem(join(root, 'new'), 'folder')).toBeUndefined();
    expect(readdirSync(join(root, 'new', 'deeper'))).toEqual(['answers.jsonl']);
  });

  it('refuses a path below a file, naming the file', () => {
    const blocker = join(root, 'a-file');
    writeFileSync(blocker, 'not a folder');
    expect(outputPathProblem(join(blocker, 'answers.jsonl'), 'file')).toBe(`${blocker} is a file, not a folder`);
    expect(outputPathProblem(join(blocker, 'x', 'y', 'answers.jsonl'), 'file')).toBe(`${blocker} is a file, not a folder`);
    expect(outputPathProblem(join(blocker, 'checkpoint'), 'folder')).toBe(`${blocker} is a file, not a folder`);
    expect(outputPathProblem(blocker, 'folder')).toBe(`${blocker} is a file, not a folder`);
  });

  it('refuses a file path that is a folder, a FIFO, ends in a slash or is empty', () => {
    expect(outputPathProblem(root, 'file')).toBe(`${root} is a folder, not a file`);
    expect(outputPathProblem(`${root}/sub/`, 'file')).toBe(`${root}/sub/ ends in '/', which names a folder; give a file name`);
    expect(outputPathProblem('', 'file')).toBe('an empty path names no file');
    const fifo = join(root, 'pipe');
    execFileSync('mkfifo', [fifo]);
    expect(outputPathProblem(fifo, 'file')).toMatch(new RegExp(`^${fifo} is a FIFO \\(named pipe\\), not a regular file`));
  });

  it('refuses a folder no file can be created in (probed, not read from the permission bits), with or without missing folders below it', (ctx) => {
    const locked = unwritableFolder(root);
    if (locked === undefined) return ctx.skip(); // root on a machine without /sys: no such folder to test with
    expect(outputPathProblem(join(locked, 'answers.jsonl'), 'file')).toMatch(new RegExp(`^cannot create files in the folder ${locked} \\((EACCES|EPERM|EROFS)\\)$`));
    expect(outputPathProblem(join(locked, 'a', 'b', 'answers.jsonl'), 'file')).toMatch(new RegExp(`^cannot create files in the folder ${locked} \\(`));
    expect(outputPathProblem(join(locked, 'checkpoint'), 'folder')).toMatch(new RegExp(`^cannot create files in the folder ${locked} \\(`));
  });
});
