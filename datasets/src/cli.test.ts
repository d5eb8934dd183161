/** The datasets tool shares herd's parser and error line: bad flags are refused before anything is generated. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { textCorpusCommand } from './corpus-command.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

function run(args: string[]) {
  expect(existsSync(CLI), `build first (npm run build): ${CLI}`).toBe(true);
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

describe('herd-datasets command line', () => {
  it('records a text corpus\'s options in its manifest, and the command read back from them re-makes it byte for byte', () => {
    const out = mkdtempSync(join(tmpdir(), 'herd-ds-cmd-'));
    try {
      const args = ['--size', 'tiny', '--only', 'text', '--seed', '5', '--count', 'text=300', '--noise-rate', '0', '--text-mix', 'dialogue=0.7,copy=0.3', '--qa-balance', '--qa-types', 'word,colour,direction', '--copy-filler', '2', '--direction-named'];
      expect(run(['generate', ...args, '--out', join(out, 'a')]).status).toBe(0);
      const info = JSON.parse(readFileSync(join(out, 'a', 'text', 'train', 'manifest.json'), 'utf8')).info;
      const command = textCorpusCommand(info, join(out, 'b'));
      expect(command).toBe(`node datasets/dist/cli.js generate --size tiny --only text --seed 5 --count text=300 --noise-rate 0 --text-mix dialogue=0.7,copy=0.3 --qa-balance --qa-types word,colour,direction --copy-filler 2 --direction-named --out ${join(out, 'b')}`);
      expect(run(command!.split(' ').slice(2)).status).toBe(0);
      for (const split of ['train', 'heldout']) {
        const shards = readdirSync(join(out, 'a', 'text', split)).filter((f) => f.endsWith('.tar'));
        expect(shards.length).toBeGreaterThan(0);
        for (const f of shards) expect(readFileSync(join(out, 'b', 'text', split, f)).equals(readFileSync(join(out, 'a', 'text', split, f)))).toBe(true);
      }
      // A default corpus records no options: the command is the plain one; a manifest from before the record gives none.
      expect(run(['generate', '--only', 'text', '--count', 'text=50', '--out', join(out, 'c')]).status).toBe(0);
      expect(textCorpusCommand(JSON.parse(readFileSync(join(out, 'c', 'text', 'train', 'manifest.json'), 'utf8')).info)).toBe('node datasets/dist/cli.js generate --size tiny --only text --seed 1 --count text=50 --out OUT');
      expect(textCorpusCommand({ ...info, text: undefined })).toBeUndefined();
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('refuses bad values and unknown flags at once, with exit 2 and one error format', () => {
    const out = mkdtempSync(join(tmpdir(), 'herd-ds-cli-'));
    try {
      const r = run(['generate', '--out', join(out, 'w'), '--seed', '0.5', '--noise-rate', '2', '-n', '--size', 'huge']);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^herd-datasets: invalid_argument: 4 problems with the arguments:/);
      expect(r.stderr).toContain("--seed must be an integer ≥ 0 and ≤ 4294967295, got '0.5'");
      expect(r.stderr).toContain("--noise-rate must be a number ≥ 0 and ≤ 1, got '2'");
      expect(r.stderr).toContain('unknown option -n');
      expect(r.stderr).toContain("--size must be one of tiny, sample, small, full, got 'huge'");
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(join(out, 'w'))).toBe(false);
      const bad = run(['generate', '--only', 'text,pics', '--out', join(out, 'w')]);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/^herd-datasets: invalid_argument: --only takes a comma-separated list of text, images, video, speech; got 'pics'/);
      const types = run(['generate', '--only', 'text', '--qa-types', 'word,wrod', '--out', join(out, 'w')]);
      expect(types.status).toBe(2);
      expect(types.stderr).toMatch(/^herd-datasets: invalid_argument: --qa-types: question types must be some of colour, .*; got 'wrod'/);
      const words = run(['generate', '--only', 'text', '--copy-words', 'red,Blue', '--out', join(out, 'w')]);
      expect(words.status).toBe(2);
      expect(words.stderr).toMatch(/^herd-datasets: invalid_argument: --copy-words: copy words must be lowercase letters only .*"Blue"/);
      const filler = run(['generate', '--only', 'text', '--copy-filler', '-1', '--out', join(out, 'w')]);
      expect(filler.status).toBe(2);
      expect(filler.stderr).toContain("--copy-filler must be an integer ≥ 0, got '-1'");
      expect(existsSync(join(out, 'w'))).toBe(false);
      expect(run(['frobnicate']).status).toBe(2);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
