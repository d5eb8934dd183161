import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HerdError, UsageError } from '@herd/core';
import { type BenchArgs, type BenchSpec, type FlagSpecs, parseBenchArgs, reportFailure } from './bench-args.js';

const SPEC = {
  about: 'Scores a stage on generated images.',
  writes: 'bench/results/x.json',
  flags: {
    count: { value: 'N', default: '1500', help: 'generated images' },
    cache: { value: 'DIR', help: 'where features are cached' },
    table: { help: 'mode: the variant table' },
    tag: { value: 'T', default: '', help: 'appended to the file name' },
  },
} as const;

function ok<F extends FlagSpecs>(spec: BenchSpec<F>, argv: string[]): BenchArgs<F> {
  const r = parseBenchArgs(spec, argv, 'x.js');
  if (!('args' in r)) throw new Error(`expected a command line that parses, got ${JSON.stringify(r)}`);
  return r.args;
}
function errors(spec: BenchSpec<FlagSpecs>, argv: string[]): readonly string[] {
  const r = parseBenchArgs(spec, argv, 'x.js');
  if (!('errors' in r)) throw new Error(`expected a refusal, got ${'help' in r ? 'the help' : 'a parse'}`);
  return r.errors;
}

describe('bench-args', () => {
  it('prints a usage block made from the declaration on --help or -h, whatever else is on the line', () => {
    const r = parseBenchArgs(SPEC, ['--count', '5', '--help'], 'x.js');
    expect('help' in r).toBe(true);
    const text = (r as { help: string }).help;
    expect(text.split('\n')[0]).toBe('usage: node bench/dist/x.js [flags]');
    expect(text).toContain('Scores a stage on generated images.\nWrites bench/results/x.json.');
    expect(text).toMatch(/--count N +generated images \(default: 1500\)/);
    expect(text).toMatch(/--cache DIR +where features are cached\n/); // no default: none shown
    expect(text).toMatch(/--table +mode: the variant table/);
    expect(text).toMatch(/--tag T +appended to the file name\n/); // an empty default is not shown
    expect(text).toMatch(/-h, --help +print this and exit/);
    // Help wins over a bad line, so that it can always be asked.
    expect(parseBenchArgs(SPEC, ['--tabel', '-h'], 'x.js')).toEqual(r);
    // Required flags and positionals appear in the usage line.
    const req = parseBenchArgs({ about: 'a', writes: 'b', flags: { raw: { value: 'DIR', required: true, help: 'r' } }, positionals: ['IN', 'OUT'] }, ['-h'], 'y.js');
    expect((req as { help: string }).help.split('\n')[0]).toBe('usage: node bench/dist/y.js --raw DIR IN OUT');
  });

  it('reads numbers: the default or the value as a number; a value that is not a finite number is refused, naming the flag', () => {
    expect(ok(SPEC, ['--count', '2e3']).number('count')).toBe(2000);
    expect(ok(SPEC, []).number('count')).toBe(1500);
    expect(ok(SPEC, []).number('cache')).toBeUndefined(); // no default, not given
    for (const bad of ['abc', '', ' ', 'Infinity', '1,5']) {
      expect(() => ok(SPEC, [`--count=${bad}`]).number('count'), bad).toThrow(`--count takes a number (N), got '${bad}'`);
    }
  });

  it('reads word lists: none when empty or not given, the words in order; an unknown or repeated word is refused, naming the flag', () => {
    expect(ok(SPEC, []).words('tag', ['colour', 'shape'])).toEqual([]);
    expect(ok(SPEC, ['--tag', 'shape']).words('tag', ['colour', 'shape'])).toEqual(['shape']);
    expect(ok(SPEC, ['--tag', 'shape,colour']).words('tag', ['colour', 'shape'])).toEqual(['shape', 'colour']);
    for (const bad of ['size', 'colour,colour', 'colour,', 'colour shape']) {
      expect(() => ok(SPEC, [`--tag=${bad}`]).words('tag', ['colour', 'shape']), bad).toThrow(`--tag takes a comma list of colour, shape (each once), got '${bad}'`);
    }
    // A bench's own check of flags that do not go together ends the same way (exit 2 in a run, thrown here).
    expect(() => ok(SPEC, []).refuse('--tag needs --table')).toThrow('--tag needs --table');
  });

  it('reads values, defaults and switches as declared', () => {
    const a = ok(SPEC, ['--count', '20', '--table', '--cache=/tmp/c']);
    expect(a.flag('count')).toBe('20');
    expect(a.flag('cache')).toBe('/tmp/c');
    expect(a.flag('tag')).toBe('');
    expect(a.has('table')).toBe(true);
    const d = ok(SPEC, []);
    expect(d.flag('count')).toBe('1500');
    expect(d.flag('cache')).toBeUndefined();
    expect(d.has('table')).toBe(false);
    // Negative numbers are values, not flags.
    expect(ok({ about: 'a', writes: 'b', flags: { thumbs: { value: 'X,…', help: 't' } } }, ['--thumbs', '-1,0.8']).flag('thumbs')).toBe('-1,0.8');
  });

  it('refuses an unknown flag, naming it, with the closest declared one when near', () => {
    expect(errors(SPEC, ['--tabel'])).toEqual(["unknown flag --tabel (did you mean '--table'?)"]);
    expect(errors(SPEC, ['--count=5', '--cahce', 'x'])).toEqual(["unknown flag --cahce (did you mean '--cache'?)", "unexpected argument 'x' (this bench takes flags only)"]);
    expect(errors(SPEC, ['--no-such-flag'])).toEqual(['unknown flag --no-such-flag']);
    expect(errors(SPEC, ['-count', '5'])).toEqual(["unknown flag -count (did you mean '--count'?)", "unexpected argument '5' (this bench takes flags only)"]);
  });

  it('refuses a value flag without its value, a switch with one, and a flag given twice, all at once', () => {
    expect(errors(SPEC, ['--count'])).toEqual(['--count needs a value (N)']);
    expect(errors(SPEC, ['--cache', '--table', '--table=1', '--count', '1', '--count', '2'])).toEqual([
      '--cache needs a value (DIR)',
      '--table is given twice',
      '--table is a switch and takes no value (got --table=1)',
      '--count is given twice',
    ]);
    const req = { about: 'a', writes: 'b', flags: { raw: { value: 'DIR', required: true, help: 'r' } } } as const;
    expect(errors(req, [])).toEqual(['--raw DIR is required']);
    expect(errors(req, ['--raw'])).toEqual(['--raw needs a value (DIR)']);
    expect(ok(req, ['--raw', '/d']).flag('raw')).toBe('/d');
  });

  it('takes exactly the declared positional arguments, and refuses stray ones', () => {
    const spec = { about: 'a', writes: 'b', flags: {}, positionals: ['INPUT', 'OUTPUT'] } as const;
    expect(ok(spec, ['in', 'out']).positionals).toEqual(['in', 'out']);
    expect(errors(spec, ['in'])).toEqual(['missing OUTPUT']);
    expect(errors(spec, ['in', 'out', 'more'])).toEqual(["unexpected argument 'more' (it takes INPUT OUTPUT)"]);
    expect(errors(SPEC, ['--count', '5', '10'])).toEqual(["unexpected argument '10' (this bench takes flags only)"]);
  });

  it('throws when code reads a flag its declaration lacks, or reads it as the wrong kind', () => {
    // Undeclared names do not type-check; a name computed at run time (or a cast) still reaches the check.
    const a = ok(SPEC, ['--count', '3']) as unknown as { flag(n: string): string | undefined; has(n: string): boolean };
    expect(() => a.flag('sets')).toThrow(/x\.js reads --sets, which its flag declaration lacks/);
    expect(() => a.has('sweep')).toThrow(/reads --sweep, which its flag declaration lacks/);
    expect(() => a.flag('table')).toThrow(/reads --table as a value, but declares it as a switch/);
    expect(() => a.has('count')).toThrow(/reads --count as a switch, but declares it as a value flag/);
    // So does a declaration that cannot be right.
    expect(() => parseBenchArgs({ about: 'a', writes: 'b', flags: { keep: { default: 'x', help: 'k' } } }, [], 'x.js')).toThrow(/declares the switch --keep with a default/);
    expect(() => parseBenchArgs({ about: 'a', writes: 'b', flags: { '--count': { value: 'N', help: 'c' } } }, [], 'x.js')).toThrow(/declares a flag named '--count'/);
  });

  it("passes a self-spawning bench's internal arguments to its child beside the user's flags, and nowhere else", () => {
    const spec = { ...SPEC, spawnsItself: true } as const;
    const parent = ok(spec, ['--count', '7']);
    expect(parent.child).toBeUndefined();
    const argv = parent.childArgs(['curate', '/in dir', '-']);
    expect(argv).toEqual(['--child', '["curate","/in dir","-"]', '--count', '7']);
    const child = ok(spec, argv);
    expect(child.child).toEqual(['curate', '/in dir', '-']);
    expect(child.flag('count')).toBe('7');
    // The child's user flags are checked as the parent's are; benches that do not spawn themselves know no --child.
    expect(errors(spec, ['--child', '["x"]', '--tabel'])).toEqual(["unknown flag --tabel (did you mean '--table'?)"]);
    expect(errors(SPEC, ['--child', '["x"]'])[0]).toBe('unknown flag --child');
    expect(() => parseBenchArgs(spec, ['--child', 'generate'], 'x.js')).toThrow(/--child takes a JSON list of strings/);
  });
});

// Every bench: its source declares its flags (a static check over all of them), and a few built ones
// are started with --help and with a bad flag (each start loads the bench's packages, ~1 s: all 30
// by hand with bench/scripts/check-bench-args.sh). Needs the build (`npx tsc -b`, as `npm test` does).
const SRC = dirname(fileURLToPath(import.meta.url));
const DIST = join(SRC, '..', 'dist');
const RESULTS = join(SRC, '..', 'results');
/** bench/src modules that are not benches: shared code the benches import. */
const NOT_BENCHES = ['bench-args.ts', 'curate-scale-pipeline.ts', 'llama-cpp.ts', 'reference-model.ts', 'video-identity-code.ts', 'vision-scenes.ts'];
/** Started here: the self-spawning ones, one with positionals, one with required flags, and the one whose typo started 1,500 images. */
const STARTED = ['curate-dedup-audit', 'curate-dedup-eval', 'curate-dedup-scale', 'curate-images-run', 'curate-scale', 'curate-vs-raw'];
const CHILD_CHECKED = ['curate-dedup-scale', 'curate-images-run', 'curate-scale', 'curate-dedup-eval'];

function run(script: string, argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(DIST, `${script}.js`), ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
const resultsState = (): string => (existsSync(RESULTS) ? readdirSync(RESULTS).sort().map((f) => `${f}:${statSync(join(RESULTS, f)).mtimeMs}`).join('\n') : '');

describe('the benches', () => {
  it('every bench declares its flags through benchArgs and reads no argv of its own', () => {
    const benches = readdirSync(SRC).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !NOT_BENCHES.includes(f));
    expect(benches.length).toBeGreaterThanOrEqual(30);
    for (const f of benches) {
      const src = readFileSync(join(SRC, f), 'utf8');
      expect(src, f).toMatch(/= benchArgs\(\{/);
      expect(src, f).not.toMatch(/process\.argv|parseArgs/);
    }
  });

  it('built benches answer --help with exit 0 and --no-such-flag with exit 2, before doing any work', async () => {
    for (const b of STARTED) expect(existsSync(join(DIST, `${b}.js`)), `bench/dist/${b}.js: build first (npx tsc -b)`).toBe(true);
    const before = resultsState();
    // A child's command line is checked too (the self-spawning benches), and --child is no flag of the others.
    const cases = STARTED.flatMap((b) => [[b, '--help'], [b, '--no-such-flag'], ...(CHILD_CHECKED.includes(b) ? [[b, '--child', '["generate"]', '--no-such-flag']] : [])]) as [string, ...string[]][];
    const out: Awaited<ReturnType<typeof run>>[] = [];
    for (let at = 0; at < cases.length; at += 4) out.push(...(await Promise.all(cases.slice(at, at + 4).map(([b, ...argv]) => run(b, argv)))));
    cases.forEach(([b, ...argv], i) => {
      const r = out[i]!;
      const what = `${b} ${argv.join(' ')}: ${r.stderr}`;
      if (argv[0] === '--help') {
        expect(r.code, what).toBe(0);
        expect(r.stdout).toContain(`usage: node bench/dist/${b}.js`);
        expect(r.stdout).toContain('-h, --help');
      } else {
        expect(r.code, what).toBe(2);
        expect(r.stderr, what).toMatch(new RegExp(`^${b}\\.js: unknown flag --(no-such-flag|child)`));
        expect(r.stdout, what).toBe(''); // nothing started: no progress line
      }
    });
    expect(resultsState()).toBe(before);
  });

  it('a bench that meets bad input after its command line prints one line naming it (exit 1; exit 2 for a flag value read by herd\'s own readers); a bug keeps its stack', async () => {
    const r = await run('core-induction', ['--models', '/no/such/core-folder']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("core-induction.js: io_error: no language core at /no/such/core-folder: expected config.json + model.safetensors (train one with 'herd train text')\n");
    // The vision oracle's --core is read before any scene: a wrong one fails naming it, whatever --data holds.
    const o = await run('vision-oracle', ['--core', '/no/such/core-folder', '--data', '/no/such/images']);
    expect(o.code).toBe(1);
    expect(o.stderr).toBe("vision-oracle.js: io_error: no language core at /no/such/core-folder: expected config.json + model.safetensors (train one with 'herd train text')\n");
    // Its round-23 flags are checked before any scene too: what the adapter reads, the encoder, the place-code grid.
    const vf = await Promise.all([['--features', 'pixels'], ['--encoder', '/no/such/encoder'], ['--features', 'encoder', '--encoder', '/no/such/encoder'], ['--position-code', '2.5'], ['--position-code', '-1'], ['--position-code', '65']].map((a) => run('vision-oracle', ['--data', '/no/such/images', ...a])));
    expect(vf.map((r) => r.code)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(vf.map((r) => r.stderr)).toEqual([
      "vision-oracle.js: invalid_argument: --features must be truth or encoder, got 'pixels'\n",
      'vision-oracle.js: invalid_argument: --encoder is the encoder of --features encoder; give that too\n',
      "vision-oracle.js: io_error: no herd-mini-encoder checkpoint at /no/such/encoder: expected config.json + model.safetensors (train one with 'herd vision train --dense-steps N')\n",
      'vision-oracle.js: invalid_argument: --position-code must be a whole number of bins from 0 (none) to 64, got 2.5\n',
      'vision-oracle.js: invalid_argument: --position-code must be a whole number of bins from 0 (none) to 64, got -1\n',
      'vision-oracle.js: invalid_argument: --position-code must be a whole number of bins from 0 (none) to 64, got 65\n',
    ]);
    // And round 24's place embeddings: the grid and the init, read by herd vision train's readers (PLACE_EMBEDDINGS_FLAG /
    // PLACE_INIT_FLAG through parseNumber): the same message as `herd vision train`, a usage error (exit 2).
    const pe = await Promise.all([['--place-embeddings', '65'], ['--place-embeddings', '1.5'], ['--place-embeddings', 'x'], ['--place-embeddings', '6', '--place-init', '-1'], ['--place-embeddings', '6', '--place-init', 'abc'], ['--place-init', '0.2']].map((a) => run('vision-oracle', ['--data', '/no/such/images', ...a])));
    expect(pe.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(pe.map((r) => r.stderr)).toEqual([
      "vision-oracle.js: invalid_argument: --place-embeddings must be an integer ≥ 0 and ≤ 64, got '65'\n",
      "vision-oracle.js: invalid_argument: --place-embeddings must be an integer ≥ 0 and ≤ 64, got '1.5'\n",
      "vision-oracle.js: invalid_argument: --place-embeddings must be an integer ≥ 0 and ≤ 64, got 'x'\n",
      "vision-oracle.js: invalid_argument: --place-init must be a number ≥ 0, got '-1'\n",
      "vision-oracle.js: invalid_argument: --place-init must be a number ≥ 0, got 'abc'\n",
      'vision-oracle.js: invalid_argument: --place-init is the init of --place-embeddings: give --place-embeddings G too\n',
    ]);
    // Round 24's switches (count items balanced by number; a count-balanced key-word draw) are known flags that take no value.
    const cb = await Promise.all([['--core', '/no/such/core-folder', '--count-balance', '--key-word-count-balance'], ['--count-balance', 'yes'], ['--key-word-count-balance', '1']].map((a) => run('vision-oracle', ['--data', '/no/such/images', ...a])));
    expect(cb.map((r) => r.code)).toEqual([1, 2, 2]);
    expect(cb[0]!.stderr).toMatch(/no language core at \/no\/such\/core-folder/);
    expect(cb[1]!.stderr).toMatch(/unexpected argument 'yes'/);
    expect(cb[2]!.stderr).toMatch(/unexpected argument '1'/);
    // So is the video oracle's, whatever --features holds.
    const vo = await run('video-oracle', ['--core', '/no/such/core-folder', '--features', '/no/such/features']);
    expect(vo.code).toBe(1);
    expect(vo.stderr).toBe("video-oracle.js: io_error: no language core at /no/such/core-folder: expected config.json + model.safetensors (train one with 'herd train text')\n");
    // Its round-25 identity code: a bad part list or --clips without it is a bad command line (exit 2, nothing read);
    // a --write-features folder that is not there is refused before any clip is read.
    const vi = await Promise.all([['--identity-code', 'size'], ['--identity-code', 'shape,shape'], ['--clips', '/no/such/clips'], ['--identity-code', 'shape', '--write-features', '/no/such/out']].map((a) => run('video-oracle', ['--features', '/no/such/features', ...a])));
    expect(vi.map((r) => r.code)).toEqual([2, 2, 2, 1]);
    expect(vi[0]!.stderr.split('\n')[0]).toBe("video-oracle.js: --identity-code takes a comma list of colour, shape (each once), got 'size'");
    expect(vi[1]!.stderr.split('\n')[0]).toBe("video-oracle.js: --identity-code takes a comma list of colour, shape (each once), got 'shape,shape'");
    expect(vi[2]!.stderr.split('\n')[0]).toBe('video-oracle.js: --clips says where the objects are for --identity-code; give that too');
    expect(vi[3]!.stderr).toBe('video-oracle.js: invalid_argument: --write-features /no/such/out: not an existing folder\n');
    // The dense-encoder bench checks its numbers and its --init encoder before reading any scene.
    const de = await Promise.all([['--steps', '-1'], ['--object-weight', '-1'], ['--object-colour-weight', '-2'], ['--init', '/no/such/encoder'], ['--colour-augment', 'rgb'], ['--shape-labels', 'some']].map((a) => run('vision-dense-encoder', ['--data', '/no/such/images', '--out', '/no/such/out', ...a])));
    expect(de.map((r) => r.code)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(de.map((r) => r.stderr)).toEqual([
      'vision-dense-encoder.js: invalid_argument: --steps must be an integer ≥ 0, got -1\n',
      'vision-dense-encoder.js: invalid_argument: --object-weight must be ≥ 0, got -1\n',
      'vision-dense-encoder.js: invalid_argument: --object-colour-weight must be ≥ 0, got -2\n',
      "vision-dense-encoder.js: io_error: no herd-mini-encoder checkpoint at /no/such/encoder: expected config.json + model.safetensors (train one with 'herd vision train --dense-steps N')\n",
      "vision-dense-encoder.js: invalid_argument: --colour-augment must be permute or hue or ink, got 'rgb'\n",
      "vision-dense-encoder.js: invalid_argument: --shape-labels must be all or recoloured, got 'some'\n",
    ]);
    // Round 30: --steps 0 probes the --init encoder as it starts; --init-resize resizes an --init encoder with coarser patches, and
    // only with it is an --init encoder of another patch size taken — all refused before any scene is read.
    const ink = fileURLToPath(new URL('../../packages/vision/weights/mini-ink-encoder', import.meta.url));
    const rs = await Promise.all([['--steps', '0'], ['--init-resize'], ['--preset', 'mini-patch4', '--init', ink], ['--init', ink, '--init-resize'], ['--preset', 'mini-patch4', '--init', ink, '--init-resize', '--steps', '0']].map((a) => run('vision-dense-encoder', ['--data', '/no/such/images', '--out', '/no/such/out', ...a])));
    expect(rs.map((r) => r.code)).toEqual([2, 1, 1, 1, 1]);
    expect(rs[0]!.stderr.split('\n')[0]).toBe('vision-dense-encoder.js: --steps 0 measures the --init encoder as it starts: give --init');
    expect(rs[1]!.stderr).toBe('vision-dense-encoder.js: invalid_argument: --init-resize resizes the --init encoder: give --init\n');
    expect(rs[2]!.stderr).toMatch(/checkpoint_mismatch: --init .*mini-ink-encoder: its config .* is not the mini-patch4 preset's \(pick it with --preset\)\. Its patch size is 8 px, the preset's 4 px: --init-resize resizes it\.\n$/);
    expect(rs[3]!.stderr).toBe(`vision-dense-encoder.js: invalid_argument: --init-resize: the --init encoder ${ink} already has the mini preset's patch size 8 (drop --init-resize)\n`);
    expect(rs[4]!.stderr).toMatch(/\/no\/such\/images/); // resized, then the missing data is what stops it
    const lines: string[] = [];
    const codes: number[] = [];
    reportFailure('x.js', new TypeError('oops'), (s) => lines.push(s), (c) => codes.push(c));
    reportFailure('x.js', new HerdError('invalid_config', 'bad'), (s) => lines.push(s), (c) => codes.push(c));
    reportFailure('x.js', new UsageError("--n must be an integer ≥ 1, got 'x'"), (s) => lines.push(s), (c) => codes.push(c));
    expect(lines[0]).toMatch(/^TypeError: oops\n\s+at /);
    expect(lines[1]).toBe('x.js: invalid_config: bad\n');
    expect(lines[2]).toBe("x.js: invalid_argument: --n must be an integer ≥ 1, got 'x'\n"); // a flag's value: a usage error, exit 2
    expect(codes).toEqual([1, 1, 2]);
  });
});
