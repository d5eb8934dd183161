/**
 * Output paths a command writes only at the end of its run (the evals' `--answers FILE`, the trainers'
 * `--out DIR`) are checked with the flags, before any model or data loads: a bad one is a usage error
 * (exit 2) naming the flag, the path and what is wrong, instead of a failure after minutes of work.
 * Each eval is given a missing checkpoint too, which fails with its own message when the path is good:
 * the path's error proves it was checked first. (Good paths being written: eval-answers.test.ts, and
 * cli.test.ts for `herd text eval --answers`.)
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS } from './cli.js';
import { herd } from './test-support/run-herd.js';

const root = mkdtempSync(join(tmpdir(), 'herd-cli-output-paths-'));
afterAll(() => {
  if (existsSync(join(root, 'read-only'))) chmodSync(join(root, 'read-only'), 0o755);
  rmSync(root, { recursive: true, force: true });
});
const blocker = join(root, 'a-file');
writeFileSync(blocker, 'not a folder');
const missing = join(root, 'no-such-checkpoint');

/** A folder no file can be created in: read-only for a normal user; for root (who ignores the bits) /sys, where there is one. */
function unwritableFolder(): string | undefined {
  if (process.getuid?.() !== 0) {
    const d = join(root, 'read-only');
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o555);
    return d;
  }
  return existsSync('/sys') && statSync('/sys').isDirectory() ? '/sys' : undefined;
}

/** Each eval with a checkpoint that is missing, and what it says about it when nothing else is wrong. */
const EVALS: [string[], RegExp][] = [
  [['vision', 'eval', '--vision', missing], /^herd: io_error: no vision checkpoint at .*no-such-checkpoint/],
  [['video', 'eval', '--video', missing], /^herd: io_error: no video checkpoint at .*no-such-checkpoint/],
  [['speech', 'eval', '--speech', missing], /^herd: io_error: no speech checkpoint at .*no-such-checkpoint/],
  [['text', 'eval', '--model', missing], /^herd: io_error: no model folder at .*no-such-checkpoint/],
];

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('--answers FILE is checked before the eval loads anything', () => {
  for (const [argv, checkpointError] of EVALS) {
    const name = `herd ${argv.slice(0, 2).join(' ')}`;
    it(`${name}: a path below a file, a folder or an unwritable folder is refused naming flag, path and reason; a good one passes to the checkpoint's error`, async () => {
      const cwd = process.cwd();
      process.chdir(root); // a default dataset would be made under ./out: none may be
      try {
        const locked = unwritableFolder();
        const bad: [string, string][] = [
          [join(blocker, 'answers.jsonl'), `${blocker} is a file, not a folder`],
          [root, `${root} is a folder, not a file`],
          ...(locked !== undefined ? [[join(locked, 'answers.jsonl'), `cannot create files in the folder ${locked} (`] as [string, string]] : []),
        ];
        for (const [path, reason] of bad) {
          const r = await herd([...argv, '--answers', path]);
          expect(r.code, r.err).toBe(2);
          expect(r.err).toMatch(new RegExp(`^herd: invalid_argument: --answers ${escape(path)}: ${escape(reason)}`));
          expect(r.err).not.toMatch(/no-such-checkpoint/);
          expect(r.out).toBe('');
        }
        // A good path whose folders are missing passes the check (the write at the end creates them; nothing now).
        const good = join(root, 'new', 'answers.jsonl');
        const r = await herd([...argv, '--answers', good]);
        expect(r.code, r.err).toBe(1);
        expect(r.err).toMatch(checkpointError);
        expect(existsSync(join(root, 'new'))).toBe(false);
        expect(readdirSync(root).filter((f) => f !== 'read-only').sort()).toEqual(['a-file']);
      } finally {
        process.chdir(cwd);
      }
    });
  }
});

describe('every output flag of every command is checked the same way', () => {
  // Which flags name a path written at the end: the evals' answers, the trainers' and text freeze's checkpoint folder.
  const outputs = COMMANDS.flatMap((c) => Object.entries(c.flags).flatMap(([flag, spec]) => (spec.kind === 'string' && spec.output ? [{ words: c.words, flag, kind: spec.output }] : [])));

  it('the declared output flags are the ones written at the end of a run', () => {
    expect(outputs.map((o) => `${o.words.join(' ')} --${o.flag} (${o.kind})`).sort()).toEqual([
      'speech eval --answers (file)',
      'speech train --out (folder)',
      'text eval --answers (file)',
      'text freeze --out (folder)',
      'text train --out (folder)',
      'video eval --answers (file)',
      'video train --out (folder)',
      'vision eval --answers (file)',
      'vision train --out (folder)',
    ]);
  });

  it('a path below a file is a usage error naming the flag before anything runs', async () => {
    for (const o of outputs) {
      const path = join(blocker, 'x');
      const r = await herd([...o.words, `--${o.flag}`, path]);
      expect(r.code, `${o.words.join(' ')}: ${r.err}`).toBe(2);
      expect(r.err).toMatch(new RegExp(`--${o.flag} ${escape(path)}: ${escape(blocker)} is a file, not a folder`));
    }
  });
});
