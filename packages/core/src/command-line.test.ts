import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError, describeFlags, exitCodeFor, flag, formatCommandError, formatCommandLine, parseCommandLine, parseCounts, parseNumber } from './command-line.js';
import { HerdError } from './errors.js';

const SPECS = {
  prompt: flag.string({ maxBytes: 100, tooLong: 'use --prompt-file' }),
  chat: flag.boolean(),
  'max-tokens': flag.integer({ min: 1, default: 64 }),
  temperature: flag.number({ min: 0, default: 0 }),
  'top-p': flag.number({ above: 0, max: 1, default: 1 }),
  seed: flag.integer({ min: 0 }),
  device: flag.choice(['cpu', 'cuda', 'auto']),
} as const;

function problemsOf(argv: string[]): string {
  try {
    parseCommandLine(argv, SPECS);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(argv)} to be refused`);
}

describe('parseCommandLine', () => {
  it('parses typed values and fills defaults', () => {
    const { values, given } = parseCommandLine(['--prompt', 'hi', '--chat', '--max-tokens', '5', '--temperature=0.7', '--device', 'cuda'], SPECS);
    expect(values).toEqual({ prompt: 'hi', chat: true, 'max-tokens': 5, temperature: 0.7, 'top-p': 1, device: 'cuda' });
    expect([...given].sort()).toEqual(['chat', 'device', 'max-tokens', 'prompt', 'temperature']);
    // Absent switch is false, absent optional value is undefined.
    const empty = parseCommandLine([], SPECS).values;
    expect(empty.chat).toBe(false);
    expect(empty.seed).toBeUndefined();
  });

  it('an empty value does not shift the flags after it', () => {
    const { values } = parseCommandLine(['--prompt', '', '--max-tokens', '3'], SPECS);
    expect(values.prompt).toBe('');
    expect(values['max-tokens']).toBe(3);
  });

  it("'-' is a value (standard input), negative numbers reach the range check", () => {
    expect(parseCommandLine(['--prompt', '-'], SPECS).values.prompt).toBe('-');
    expect(problemsOf(['--max-tokens', '-5'])).toBe("--max-tokens must be an integer ≥ 1, got '-5'");
  });

  it('refuses unknown short flags and stray words instead of ignoring them', () => {
    const m = problemsOf(['-n', '5']);
    expect(m).toMatch(/unknown option -n/);
    expect(m).toMatch(/unexpected argument '5'/);
    expect(m).toMatch(/valid options: --prompt, --chat, --max-tokens/);
    expect(problemsOf(['--chat', 'yes'])).toMatch(/unexpected argument 'yes'/);
    expect(problemsOf(['--chat=yes'])).toMatch(/--chat is a switch and takes no value, got 'yes'/);
  });

  it('reports every bad number at once, naming the flag and what it allows', () => {
    const m = problemsOf(['--max-tokens', '2.5', '--temperature', '-1', '--top-p', '2', '--seed', '0.5']);
    expect(m).toMatch(/^4 problems with the arguments:/);
    expect(m).toContain("--max-tokens must be an integer ≥ 1, got '2.5'");
    expect(m).toContain("--temperature must be a number ≥ 0, got '-1'");
    expect(m).toContain("--top-p must be a number > 0 and ≤ 1, got '2'");
    expect(m).toContain("--seed must be an integer ≥ 0, got '0.5'");
    expect(problemsOf(['--top-p', '0'])).toMatch(/> 0/);
  });

  it('accepts plain decimals only', () => {
    for (const bad of ['', ' ', '0x10', 'abc', '1,5', 'Infinity', 'NaN']) expect(problemsOf(['--max-tokens', bad])).toMatch(/--max-tokens must be an integer/);
    expect(parseCommandLine(['--max-tokens', '1e3'], SPECS).values['max-tokens']).toBe(1000);
  });

  it('KEY=N counts parse to a record of the keys given, and every kind of bad list is refused by name', () => {
    const specs = { repeat: flag.counts(['direction', 'moving', 'count'], { min: 0, max: 20 }) } as const;
    expect(parseCommandLine(['--repeat', 'direction=3,count=0'], specs).values.repeat).toEqual({ direction: 3, count: 0 });
    expect(parseCommandLine([], specs).values.repeat).toBeUndefined();
    const refused = (v: string): string => {
      try {
        parseCommandLine(['--repeat', v], specs);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      throw new Error(`expected '${v}' to be refused`);
    };
    const allowed = 'KEY=N,… with KEY one of direction, moving, count and N an integer ≥ 0 and ≤ 20';
    expect(refused('colour=2')).toBe(`--repeat: 'colour=2' is not ${allowed}`);
    expect(refused('direction=x')).toBe(`--repeat: 'direction=x' is not ${allowed}`);
    expect(refused('direction=2.5')).toContain("'direction=2.5' is not KEY=N,…");
    expect(refused('direction=21')).toContain("'direction=21' is not KEY=N,…");
    expect(refused('direction')).toContain("'direction' is not KEY=N,…");
    expect(refused('direction=1=2')).toContain("'direction=1=2' is not KEY=N,…");
    expect(refused('direction=1,')).toContain("'' is not KEY=N,…");
    expect(refused('moving=1,moving=2')).toBe('--repeat: moving is given more than once');
    expect(describeFlags(specs)).toContain(`--repeat KEY=N,…  ${allowed}`);
    // The help's placeholder names the key in messages too.
    const typed = { mix: flag.counts(['a', 'b'], { placeholder: 'TYPE=N,…', min: 1 }) } as const;
    expect(() => parseCommandLine(['--mix', 'c=1'], typed)).toThrow("--mix: 'c=1' is not TYPE=N,… with TYPE one of a, b and N an integer ≥ 1");
    // Read outside parseCommandLine (a bench script's own reader): the same rules and messages, as a UsageError.
    expect(parseCounts('repeat', specs.repeat, 'direction=3,count=0')).toEqual({ direction: 3, count: 0 });
    expect(() => parseCounts('repeat', specs.repeat, 'colour=2')).toThrow(new UsageError(`--repeat: 'colour=2' is not ${allowed}`));
  });

  it('a number flag read outside parseCommandLine (parseNumber): the same rules and message, as a UsageError', () => {
    const grid = flag.integer({ min: 0, max: 64 });
    const init = flag.number({ min: 0 });
    expect(parseNumber('grid', grid, '6')).toBe(6);
    expect(parseNumber('grid', grid, '0')).toBe(0);
    expect(parseNumber('init', init, '0.25')).toBe(0.25);
    for (const bad of ['65', '-1', '2.5', 'x', '', '0x10', 'Infinity']) {
      const viaLine = (() => { try { parseCommandLine(['--grid', bad], { grid }); return 'accepted'; } catch (e) { return (e as Error).message; } })();
      expect(() => parseNumber('grid', grid, bad)).toThrow(new UsageError(`--grid must be an integer ≥ 0 and ≤ 64, got '${bad}'`));
      if (bad !== '') expect(viaLine).toBe(`--grid must be an integer ≥ 0 and ≤ 64, got '${bad}'`); // herd's own command line says the same
    }
    expect(() => parseNumber('init', init, '-0.5')).toThrow(new UsageError("--init must be a number ≥ 0, got '-0.5'"));
    expect(exitCodeFor((() => { try { parseNumber('init', init, 'abc'); } catch (e) { return e; } })())).toBe(2);
  });

  it('a value flag followed by another flag, missing values, repeats and bad choices are refused', () => {
    expect(problemsOf(['--prompt', '--max-tokens', '5'])).toMatch(/--prompt needs a value but is followed by the flag '--max-tokens' \(.*--prompt=--max-tokens\)/);
    expect(parseCommandLine(['--prompt=--odd'], SPECS).values.prompt).toBe('--odd');
    expect(problemsOf(['--max-tokens'])).toMatch(/--max-tokens needs a value \(an integer ≥ 1\)/);
    expect(problemsOf(['--seed', '1', '--seed', '2'])).toMatch(/--seed is given more than once/);
    expect(problemsOf(['--device', 'tpu'])).toBe("--device must be one of cpu, cuda, auto, got 'tpu'");
  });

  it('a repeatable flag collects every value in order; absent is empty; a missing value is still refused', () => {
    const specs = { image: flag.string({ multiple: true }), seed: flag.integer({ default: 0 }) } as const;
    expect(parseCommandLine(['--image', 'a.png', '--seed', '3', '--image=b.png'], specs).values.image).toEqual(['a.png', 'b.png']);
    expect(parseCommandLine([], specs).values.image).toEqual([]);
    expect(() => parseCommandLine(['--image'], specs)).toThrow(/--image needs a value/);
  });

  it('a missing string value is named as --help names it (its placeholder, else TEXT), not "a value"', () => {
    const specs = { types: flag.string({ placeholder: 'TYPES' }), note: flag.string(), prompt: flag.string({ maxBytes: 100 }) } as const;
    expect(() => parseCommandLine(['--types'], specs)).toThrow(new UsageError('--types needs a value (TYPES)'));
    expect(() => parseCommandLine(['--note'], specs)).toThrow(new UsageError('--note needs a value (TEXT)'));
    expect(() => parseCommandLine(['--prompt'], specs)).toThrow(new UsageError('--prompt needs a value (text of at most 100 bytes)'));
  });

  it('refuses a value over its byte limit, saying the limit and what to do instead', () => {
    expect(problemsOf(['--prompt', 'é'.repeat(60)])).toBe('--prompt is 120 bytes; the limit on the command line is 100 (use --prompt-file)');
  });

  it('checks positionals against the command', () => {
    expect(parseCommandLine(['dir'], {}, [{ name: 'checkpoint', optional: true }]).positionals).toEqual(['dir']);
    expect(() => parseCommandLine(['a', 'b'], {}, [{ name: 'checkpoint', optional: true }])).toThrow(/unexpected argument 'b' \(expected at most checkpoint\)/);
    expect(() => parseCommandLine([], {}, [{ name: 'checkpoint' }])).toThrow(/missing checkpoint/);
  });

  it('checks output paths while parsing: every bad one named with its flag, among the other problems; a good one untouched', () => {
    const dir = mkdtempSync(join(tmpdir(), 'herd-output-flags-'));
    try {
      const blocker = join(dir, 'a-file');
      writeFileSync(blocker, '');
      const specs = { answers: flag.string({ output: 'file' }), out: flag.string({ output: 'folder' }), log: flag.string({ output: 'file', multiple: true }), note: flag.string(), n: flag.integer({ min: 1 }) } as const;
      let message = '';
      try {
        parseCommandLine(['--answers', dir, '--out', join(blocker, 'ck'), '--log', join(dir, 'ok.log'), '--log', join(blocker, 'x.log'), '--note', join(blocker, 'x'), '--n', '0'], specs);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        message = (e as Error).message;
      }
      // In the order of the flags' specs; --note is no output flag, so its path is not looked at.
      expect(message.split('\n')).toEqual([
        '4 problems with the arguments:',
        `  - --answers ${dir}: ${dir} is a folder, not a file`,
        `  - --out ${join(blocker, 'ck')}: ${blocker} is a file, not a folder`,
        `  - --log ${join(blocker, 'x.log')}: ${blocker} is a file, not a folder`,
        "  - --n must be an integer ≥ 1, got '0'",
      ]);
      const good = parseCommandLine(['--answers', join(dir, 'new', 'a.jsonl'), '--out', join(dir, 'ck')], specs).values;
      expect(good).toMatchObject({ answers: join(dir, 'new', 'a.jsonl'), out: join(dir, 'ck') });
      expect(readdirSync(dir)).toEqual(['a-file']); // nothing created by the check
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('describes flags with what they allow and their defaults', () => {
    const help = describeFlags(SPECS);
    expect(help).toMatch(/--max-tokens N +an integer ≥ 1 \(default 64\)/);
    expect(help).toMatch(/--device cpu\|cuda\|auto/);
  });
});

describe('formatCommandLine', () => {
  const specs = {
    ...SPECS,
    image: flag.string({ multiple: true }),
    repeat: flag.counts(['direction', 'count'] as const, { min: 0 }),
    out: flag.string(),
  } as const;

  it('gives back the words that parse to the same values: switches when on, every repeat, counts, odd words quoted', () => {
    const argv = ['--prompt', "it's a red circle", '--chat', '--max-tokens', '8', '--image', 'a.png', '--image', 'b c.png', '--repeat', 'direction=3,count=0', '--temperature', '0.5', '--out', 'x'];
    const parsed = parseCommandLine(argv, specs);
    const line = formatCommandLine('herd generate', specs, parsed.values, (n) => parsed.given.has(n) && n !== 'out');
    expect(line).toBe("herd generate --prompt 'it'\\''s a red circle' --chat --max-tokens 8 --temperature 0.5 --image a.png --image 'b c.png' --repeat direction=3,count=0");
    // The shell's reading of the line (quotes undone) parses to the same values, less the one left out.
    const words = line.slice('herd generate '.length).match(/'(?:[^']|'\\'')*'|\S+/g)!.map((w) => (w.startsWith("'") ? w.slice(1, -1).replace(/'\\''/g, "'") : w));
    const again = parseCommandLine(words, specs);
    expect(again.values).toEqual({ ...parsed.values, out: undefined });
  });

  it('includes defaults only where asked, and never a switch that is off or a flag with no value', () => {
    const parsed = parseCommandLine([], specs);
    expect(formatCommandLine('herd generate', specs, parsed.values, () => true)).toBe('herd generate --max-tokens 64 --temperature 0 --top-p 1');
    expect(formatCommandLine('herd generate', specs, parsed.values, (n) => n === 'top-p')).toBe('herd generate --top-p 1');
  });
});

describe('formatCommandError', () => {
  it('one line with the code; stack only when verbose; exit 2 for usage, 1 otherwise', () => {
    const e = new HerdError('io_error', 'x.json is a directory');
    expect(formatCommandError('herd', e)).toBe('herd: io_error: x.json is a directory');
    expect(formatCommandError('herd', e, true)).toMatch(/^herd: io_error: x.json is a directory\n.*HerdError/);
    expect(exitCodeFor(e)).toBe(1);
    expect(exitCodeFor(new UsageError('bad'))).toBe(2);
    const sys = Object.assign(new Error('EISDIR: illegal operation on a directory, read'), { syscall: 'read', code: 'EISDIR' });
    expect(formatCommandError('herd', sys)).toBe('herd: io_error: EISDIR: illegal operation on a directory, read (run with --verbose for the stack)');
    expect(formatCommandError('herd', new TypeError('boom')).split('\n')).toHaveLength(1);
  });
});
