/**
 * The benches' command line, one way for every bench: each declares its flags once (name, value
 * placeholder or switch, default, one line of meaning) with a line on what it measures and where it
 * writes, and `benchArgs` checks the command line against that before anything runs — `--help`/`-h`
 * prints the usage made from the declaration and exits 0; an unknown flag (with "did you mean"), a
 * flag without its value, a value given to a switch, a repeated flag, a missing required flag or a
 * stray argument is refused with exit 2, all of them at once. Reading a flag the bench did not declare
 * throws: a programming error, so that the declaration stays complete.
 *
 * The benches are developer tools, not the `herd` CLI with its own parser; this stays small.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { HerdError, didYouMean, exitCodeFor } from '@herd/core';

/** One flag: a value flag when it names a `value` placeholder, else a switch (given or not). */
export interface FlagSpec {
  /** The value's placeholder in the usage (`N`, `DIR`, `a,b,…`); absent: a switch, which takes no value. */
  readonly value?: string;
  /** A value flag's value when it is not given (shown in the usage); absent: `flag()` gives undefined. */
  readonly default?: string;
  /** A value flag the bench cannot start without. */
  readonly required?: true;
  /** One line: what it sets. */
  readonly help: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export interface BenchSpec<F extends FlagSpecs> {
  /** One line: what the bench measures. */
  readonly about: string;
  /** Where it writes its results (one line), e.g. `bench/results/x.json`. */
  readonly writes: string;
  readonly flags: F;
  /** Names of the positional arguments it takes, all required (none: a stray argument is refused). */
  readonly positionals?: readonly string[];
  /**
   * The bench runs parts of itself in child processes it spawns (`childArgs`): their internal arguments
   * travel as one `--child JSON` pair in front of the user's flags, and `child` gives them back.
   */
  readonly spawnsItself?: true;
}

type ValueName<F> = { [K in keyof F]: F[K] extends { readonly value: string } ? K : never }[keyof F] & string;
type SwitchName<F> = Exclude<keyof F & string, ValueName<F>>;
type ValueOf<S> = S extends { readonly default: string } | { readonly required: true } ? string : string | undefined;

/** The checked command line of one bench. */
export interface BenchArgs<F extends FlagSpecs> {
  /** The value of `--name` (a declared value flag), else its declared default. */
  flag<K extends ValueName<F>>(name: K): ValueOf<F[K]>;
  /** `flag(name)` as a number; a value that is not a finite number stops the bench (exit 2), naming the flag. */
  number<K extends ValueName<F>>(name: K): undefined extends ValueOf<F[K]> ? number | undefined : number;
  /**
   * `flag(name)` as a comma list of words from `allowed`, each at most once (empty or not given: none); any other
   * word stops the bench (exit 2), naming the flag and what it takes.
   */
  words<K extends ValueName<F>, W extends string>(name: K, allowed: readonly W[]): W[];
  /** Stops the bench as a bad command line does (exit 2), with this one line: flags that do not go together, a value out of range. */
  refuse(message: string): never;
  /** Whether the switch `--name` (a declared switch) was given. */
  has(name: SwitchName<F>): boolean;
  /** The positional arguments, as many as declared. */
  readonly positionals: readonly string[];
  /** In a child the bench spawned of itself: the internal arguments the parent passed; else undefined. */
  readonly child: readonly string[] | undefined;
  /** The script arguments for a child of this bench: `--child JSON(internal)` and this command line's flags. */
  childArgs(internal: readonly string[]): string[];
}

export type Parsed<F extends FlagSpecs> = { readonly help: string } | { readonly errors: readonly string[] } | { readonly args: BenchArgs<F> };

const CHILD = '--child';

/** The usage block of a bench, made from its declaration. */
function usage(spec: BenchSpec<FlagSpecs>, script: string): string {
  const entries = Object.entries(spec.flags);
  const required = entries.filter(([, f]) => f.required).map(([n, f]) => `--${n} ${f.value ?? ''}`.trim());
  const head = ['node', `bench/dist/${script}`, ...required, ...(spec.positionals ?? []), ...(entries.length > required.length ? ['[flags]'] : [])].join(' ');
  const rows = [
    ...entries.map(([n, f]) => {
      const dflt = f.required ? ' (required)' : f.default !== undefined && f.default !== '' ? ` (default: ${f.default})` : '';
      return [`--${n}${f.value !== undefined ? ` ${f.value}` : ''}`, `${f.help}${dflt}`] as const;
    }),
    ['-h, --help', 'print this and exit'] as const,
  ];
  const width = Math.min(28, Math.max(...rows.map(([l]) => l.length)));
  const lines = rows.map(([l, h]) => (l.length > width ? `  ${l}\n  ${' '.repeat(width)}  ${h}` : `  ${l.padEnd(width)}  ${h}`));
  return [`usage: ${head}`, '', spec.about, `Writes ${spec.writes}.`, '', 'flags:', ...lines, ''].join('\n');
}

/**
 * Checks `argv` (the script's arguments) against the declaration: the usage when help is asked
 * (whatever else is on the line), else every problem found, else the reader.
 */
export function parseBenchArgs<const F extends FlagSpecs>(
  spec: BenchSpec<F>,
  argv: readonly string[],
  script: string,
  // What a bad number read later does: the bench exits 2 (benchArgs); a test sees the message thrown.
  badValue: (message: string) => never = (message) => {
    throw new Error(message);
  },
): Parsed<F> {
  const decl: FlagSpecs = spec.flags;
  for (const [n, f] of Object.entries(decl)) {
    // The declaration's own mistakes are the bench's, not the user's: thrown, like a read of an undeclared flag.
    if (!/^[a-z0-9][a-z0-9-]*$/.test(n) || n === 'help' || n === 'child') throw new Error(`${script} declares a flag named '${n}': names are lower-case words joined by '-', not help or child`);
    if (f.value === undefined && (f.default !== undefined || f.required)) throw new Error(`${script} declares the switch --${n} with a default or as required: give it a value placeholder, or neither`);
  }
  const errors: string[] = [];
  let rest = argv;
  let child: readonly string[] | undefined;
  if (spec.spawnsItself && rest[0] === CHILD) {
    let internal: unknown;
    try {
      internal = JSON.parse(rest[1] ?? '');
    } catch {
      internal = undefined;
    }
    if (!Array.isArray(internal) || !internal.every((x) => typeof x === 'string')) throw new Error(`${script}: ${CHILD} takes a JSON list of strings (the bench's own child processes), got ${rest[1]}`);
    child = internal as string[];
    rest = rest.slice(2);
  }
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const positionals: string[] = [];
  const given = new Set<string>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--help' || a === '-h') return { help: usage(spec, script) };
    if (!a.startsWith('-') || a === '-') {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? a.slice(2, eq > 0 ? eq : undefined) : '';
    const f = Object.hasOwn(decl, name) ? decl[name] : undefined;
    if (f === undefined) {
      const bare = eq > 0 ? a.slice(0, eq) : a;
      errors.push(`unknown flag ${bare}${didYouMean(bare, Object.keys(decl).map((n) => `--${n}`))}`);
      continue;
    }
    if (given.has(name)) errors.push(`--${name} is given twice`);
    given.add(name);
    if (f.value === undefined) {
      if (eq > 0) errors.push(`--${name} is a switch and takes no value (got ${a})`);
      switches.add(name);
    } else if (eq > 0) {
      values.set(name, a.slice(eq + 1));
    } else {
      const v = rest[i + 1];
      // A value never starts with `--`: that is the next flag, and this one's value is missing.
      if (v === undefined || v.startsWith('--')) errors.push(`--${name} needs a value (${f.value})`);
      else {
        values.set(name, v);
        i++;
      }
    }
  }
  for (const [n, f] of Object.entries(decl)) if (f.required && !given.has(n)) errors.push(`--${n} ${f.value ?? ''} is required`);
  const want = spec.positionals ?? [];
  if (positionals.length > want.length) errors.push(`unexpected argument${positionals.length - want.length > 1 ? 's' : ''} ${positionals.slice(want.length).map((p) => `'${p}'`).join(', ')} (${want.length === 0 ? 'this bench takes flags only' : `it takes ${want.join(' ')}`})`);
  else if (positionals.length < want.length) errors.push(`missing ${want.slice(positionals.length).join(' ')}`);
  if (errors.length > 0) return { errors };

  const declared = (name: string, kind: 'value' | 'switch'): FlagSpec => {
    const f = Object.hasOwn(decl, name) ? decl[name] : undefined;
    if (f === undefined) throw new Error(`${script} reads --${name}, which its flag declaration lacks: declare it`);
    if ((f.value === undefined) !== (kind === 'switch')) throw new Error(`${script} reads --${name} as a ${kind}, but declares it as a ${kind === 'switch' ? 'value flag' : 'switch'}`);
    return f;
  };
  const args: BenchArgs<F> = {
    flag: ((name: string) => {
      const f = declared(name, 'value');
      return values.get(name) ?? f.default;
    }) as BenchArgs<F>['flag'],
    number: ((name: string) => {
      const f = declared(name, 'value');
      const raw = values.get(name) ?? f.default;
      if (raw === undefined) return undefined;
      const x = raw.trim() === '' ? NaN : Number(raw);
      return Number.isFinite(x) ? x : badValue(`--${name} takes a number (${f.value}), got '${raw}'`);
    }) as BenchArgs<F>['number'],
    words: ((name: string, allowed: readonly string[]) => {
      const f = declared(name, 'value');
      const raw = values.get(name) ?? f.default ?? '';
      const ws = raw.trim() === '' ? [] : raw.split(',').map((w) => w.trim());
      const bad = ws.some((w) => !allowed.includes(w)) || new Set(ws).size !== ws.length;
      return bad ? badValue(`--${name} takes a comma list of ${allowed.join(', ')} (each once), got '${raw}'`) : ws;
    }) as BenchArgs<F>['words'],
    refuse: (message) => badValue(message),
    has: (name) => {
      declared(name, 'switch');
      return switches.has(name);
    },
    positionals,
    child,
    childArgs: (internal) => [CHILD, JSON.stringify(internal), ...rest],
  };
  return { args };
}

/**
 * This process's command line checked against the bench's declaration: prints the usage and exits 0
 * on `--help`, prints the problems and exits 2 on a bad command line, else returns the reader. Call it
 * first thing, before any work.
 */
export function benchArgs<const F extends FlagSpecs>(spec: BenchSpec<F>): BenchArgs<F> {
  // The name under bench/dist, also when run from source (tsx): usage and messages say what to type.
  const script = `${basename(process.argv[1] ?? 'bench', extname(process.argv[1] ?? ''))}.js`;
  const r = parseBenchArgs(spec, process.argv.slice(2), script, (message) => {
    process.stderr.write(`${script}: ${message}\nrun 'node bench/dist/${script} --help' for its flags\n`);
    process.exit(2);
  });
  if ('help' in r) {
    process.stdout.write(r.help);
    process.exit(0);
  }
  if ('errors' in r) {
    process.stderr.write(`${script}: ${r.errors.join('; ')}\nrun 'node bench/dist/${script} --help' for its flags\n`);
    process.exit(2);
  }
  process.on('uncaughtException', (e) => reportFailure(script, e));
  return r.args;
}

/**
 * How a bench that failed after its command line was checked ends: a HerdError is bad input (a model folder
 * that is not one, a path that is not a dataset) and gets one line, `<bench>: <code>: <message>`, as the
 * herd CLI prints it; anything else is a bug in the bench and keeps its stack. Exit 2 for a UsageError (a flag's
 * value read with herd's own readers, e.g. `parseCounts` / `parseNumber`), as herd's CLI does; else exit 1.
 */
export function reportFailure(script: string, e: unknown, write: (s: string) => void = (s) => process.stderr.write(s), exit: (code: number) => void = (c) => process.exit(c)): void {
  write(e instanceof HerdError ? `${script}: ${e.code}: ${e.message}\n` : `${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  exit(exitCodeFor(e));
}

/** The declaration of `--features DIR`, for the benches that read a video clip feature cache. */
/** The frozen language core a bench trains or scores against (`loadLanguageCore(cli.flag('core'))`). */
export const CORE_FLAG = {
  core: { value: 'DIR', help: 'the frozen language core (default: the committed mini core, packages/llama3/weights/mini); a core of its vocabulary, as the train commands\' --core takes it' },
} as const satisfies FlagSpecs;

export const FEATURES_FLAG = {
  features: { value: 'DIR', help: "the clip feature cache (default: the first out/video/features-* that 'herd video train' cached)" },
} as const satisfies FlagSpecs;

/** `--features DIR` when given, else the first `out/video/features-*` folder the video recipe cached. */
export function videoFeaturesDir(given: string | undefined): string {
  if (given) return given;
  const root = join('out', 'video');
  const found = existsSync(root) ? readdirSync(root).find((d) => d.startsWith('features-')) : undefined;
  if (!found) {
    console.error(`no cached video features under ${root}/features-*: run 'herd video train' first (it caches them), or pass --features DIR`);
    process.exit(1);
  }
  return join(root, found);
}
