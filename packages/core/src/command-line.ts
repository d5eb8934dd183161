/**
 * The one command-line parser of every herd entry point (the `herd` command, the datasets tool).
 * `node:util` `parseArgs` splits the words; herd then checks them all and reports every problem at
 * once, naming the flag and what it allows: unknown flags (long or short), a switch given a value,
 * a value flag given none or given another flag, a flag given twice, stray words, numbers out of
 * range or not integers, values outside a fixed set, KEY=N lists with an unknown key or a bad count, and
 * output paths (flags with `output`) that could not be written at the end of the run. Nothing here reads
 * `process.argv` or the environment: entry points pass the words in.
 */
import { parseArgs } from 'node:util';
import { HerdError } from './errors.js';
import { type OutputKind, outputPathProblem } from './fs.js';

interface FlagCommon {
  readonly description?: string;
  /** A one-letter alias (`-h`). */
  readonly short?: string;
}
export interface StringFlag extends FlagCommon {
  readonly kind: 'string';
  readonly default?: string;
  /** Name of the value in help text (`--out DIR`). */
  readonly placeholder?: string;
  /** Longest value accepted, in UTF-8 bytes; `tooLong` says what to do instead. */
  readonly maxBytes?: number;
  readonly tooLong?: string;
  /** May be given several times (`--image a.png --image b.png`); the value is then every one, in order. */
  readonly multiple?: boolean;
  /**
   * The value is where the command writes a file or folder (`--answers FILE`, `--out DIR`): checked while
   * parsing (`outputPathProblem`), so a path that cannot be written fails before the run, not after it.
   */
  readonly output?: OutputKind;
}
export interface BooleanFlag extends FlagCommon {
  readonly kind: 'boolean';
}
export interface NumberFlag extends FlagCommon {
  readonly kind: 'integer' | 'number';
  readonly default?: number;
  readonly placeholder?: string;
  /** Inclusive lower bound. */
  readonly min?: number;
  /** Exclusive lower bound. */
  readonly above?: number;
  /** Inclusive upper bound. */
  readonly max?: number;
}
export interface ChoiceFlag<C extends string = string> extends FlagCommon {
  readonly kind: 'choice';
  readonly choices: readonly C[];
  readonly default?: C;
}
/** Whole-number counts by key, written `KEY=N,KEY=N` (e.g. how often each question type is repeated); keys not given are absent. */
export interface CountsFlag<K extends string = string> extends FlagCommon {
  readonly kind: 'counts';
  readonly keys: readonly K[];
  readonly placeholder?: string;
  /** Inclusive bounds of every count. */
  readonly min?: number;
  readonly max?: number;
}
export type FlagSpec = StringFlag | BooleanFlag | NumberFlag | ChoiceFlag | CountsFlag;
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type ValueOf<S> = S extends BooleanFlag ? boolean : S extends NumberFlag ? number : S extends ChoiceFlag<infer C> ? C : S extends CountsFlag<infer K> ? Partial<Record<K, number>> : string;
/** Parsed values: switches are always present (false when absent), repeatable flags always (empty when absent), others when given or defaulted. */
export type FlagValues<T extends FlagSpecs> = {
  -readonly [K in keyof T]: T[K] extends BooleanFlag ? boolean : T[K] extends { readonly multiple: true } ? string[] : T[K] extends { readonly default: unknown } ? ValueOf<T[K]> : ValueOf<T[K]> | undefined;
};

/** Builders that keep each flag's literal type, so parsed values are typed without casts. */
export const flag = {
  string: <const O extends Omit<StringFlag, 'kind'>>(o: O = {} as O): O & { readonly kind: 'string' } => ({ ...o, kind: 'string' }),
  boolean: <const O extends Omit<BooleanFlag, 'kind'>>(o: O = {} as O): O & { readonly kind: 'boolean' } => ({ ...o, kind: 'boolean' }),
  integer: <const O extends Omit<NumberFlag, 'kind'>>(o: O = {} as O): O & { readonly kind: 'integer' } => ({ ...o, kind: 'integer' }),
  number: <const O extends Omit<NumberFlag, 'kind'>>(o: O = {} as O): O & { readonly kind: 'number' } => ({ ...o, kind: 'number' }),
  choice: <const C extends string, const O extends Omit<ChoiceFlag<C>, 'kind' | 'choices'>>(choices: readonly C[], o: O = {} as O): O & { readonly kind: 'choice'; readonly choices: readonly C[] } => ({
    ...o,
    kind: 'choice',
    choices,
  }),
  counts: <const K extends string, const O extends Omit<CountsFlag<K>, 'kind' | 'keys'>>(keys: readonly K[], o: O = {} as O): O & { readonly kind: 'counts'; readonly keys: readonly K[] } => ({
    ...o,
    kind: 'counts',
    keys,
  }),
};

/** A mistake in how a command was called (exit status 2 at the entry points, not 1). */
export class UsageError extends HerdError {
  constructor(message: string) {
    super('invalid_argument', message);
    this.name = 'UsageError';
  }
}

export interface PositionalSpec {
  readonly name: string;
  readonly optional?: boolean;
}

export interface CommandLine<T extends FlagSpecs> {
  readonly values: FlagValues<T>;
  readonly positionals: readonly string[];
  /** Flags the user gave (as opposed to defaults). */
  readonly given: ReadonlySet<keyof T & string>;
}

/** What a value must be, for messages and help: "an integer ≥ 1", "one of cpu, cuda". */
export function describeAllowed(spec: FlagSpec): string {
  switch (spec.kind) {
    case 'boolean':
      return 'a switch (no value)';
    case 'string':
      return spec.maxBytes !== undefined ? `text of at most ${spec.maxBytes.toLocaleString('en-US')} bytes` : 'a value';
    case 'choice':
      return `one of ${spec.choices.join(', ')}`;
    case 'counts': {
      const key = spec.placeholder?.split('=')[0] || 'KEY'; // the help's own name for the key ("TYPE=N,…")
      return `${key}=N,… with ${key} one of ${spec.keys.join(', ')} and N ${describeAllowed({ kind: 'integer', ...(spec.min !== undefined ? { min: spec.min } : {}), ...(spec.max !== undefined ? { max: spec.max } : {}) })}`;
    }
    default: {
      const bounds: string[] = [];
      if (spec.min !== undefined) bounds.push(`≥ ${spec.min}`);
      if (spec.above !== undefined) bounds.push(`> ${spec.above}`);
      if (spec.max !== undefined) bounds.push(`≤ ${spec.max}`);
      return `${spec.kind === 'integer' ? 'an integer' : 'a number'}${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
    }
  }
}

// Plain decimal numbers only: Number('') is 0 and Number('0x10') is 16, neither of which a user meant.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function checkNumber(name: string, spec: NumberFlag, raw: string): number | string {
  const problem = `--${name} must be ${describeAllowed(spec)}, got '${raw}'`;
  if (!DECIMAL.test(raw.trim())) return problem;
  const v = Number(raw);
  if (!Number.isFinite(v)) return problem;
  if (spec.kind === 'integer' && !Number.isSafeInteger(v)) return problem;
  if (spec.min !== undefined && v < spec.min) return problem;
  if (spec.above !== undefined && v <= spec.above) return problem;
  if (spec.max !== undefined && v > spec.max) return problem;
  return v;
}

/** `KEY=N,KEY=N` → counts, or the problem (naming the flag and the part that is wrong). */
function checkCounts(name: string, spec: CountsFlag, raw: string): Record<string, number> | string {
  const out: Record<string, number> = {};
  for (const part of raw.split(',')) {
    const [key, n, ...rest] = part.split('=');
    const count = n === undefined || rest.length > 0 || !/^\d+$/.test(n) ? NaN : Number(n);
    if (!spec.keys.includes(key!) || !Number.isSafeInteger(count) || (spec.min !== undefined && count < spec.min) || (spec.max !== undefined && count > spec.max)) {
      return `--${name}: '${part}' is not ${describeAllowed(spec)}`;
    }
    if (key! in out) return `--${name}: ${key} is given more than once`;
    out[key!] = count;
  }
  return out;
}

/**
 * `KEY=N,KEY=N` of a counts flag read outside `parseCommandLine` (a bench script's own argument reader):
 * the same rules and messages, thrown as a UsageError.
 */
export function parseCounts<K extends string>(name: string, spec: CountsFlag<K>, raw: string): Partial<Record<K, number>> {
  const counts = checkCounts(name, spec, raw);
  if (typeof counts === 'string') throw new UsageError(counts);
  return counts as Partial<Record<K, number>>;
}

/**
 * The value of an integer or number flag read outside `parseCommandLine` (a bench script's own argument reader):
 * the same rules and message (`--NAME must be an integer ≥ 0 and ≤ 64, got 'x'`), thrown as a UsageError.
 */
export function parseNumber(name: string, spec: NumberFlag, raw: string): number {
  const v = checkNumber(name, spec, raw);
  if (typeof v === 'string') throw new UsageError(v);
  return v;
}

function checkOutput(problems: string[], name: string, kind: OutputKind, path: string): void {
  const problem = outputPathProblem(path, kind);
  if (problem !== undefined) problems.push(`--${name} ${path === '' ? "''" : path}: ${problem}`);
}

/** A word that is itself a flag (`--chat`, `-n`), not a value; `-` (stdin) and numbers are values. */
function looksLikeFlag(s: string): boolean {
  return s.length > 1 && s.startsWith('-') && !DECIMAL.test(s);
}

function flagList(specs: FlagSpecs): string {
  return Object.entries(specs)
    .map(([n, s]) => (s.short ? `--${n} (-${s.short})` : `--${n}`))
    .join(', ');
}

/**
 * Parses `argv` against `specs`: every problem is collected and thrown as one UsageError whose
 * message lists them all and, for unknown flags, the flags the command knows.
 */
export function parseCommandLine<const T extends FlagSpecs>(argv: readonly string[], specs: T, positionalSpecs: readonly PositionalSpec[] = []): CommandLine<T> {
  const { tokens } = parseArgs({
    args: [...argv],
    // Not strict: herd checks the tokens itself so that all problems are reported at once and a
    // value flag may take a negative number ("--max-tokens -5" is then refused by range, by name).
    strict: false,
    allowPositionals: true,
    tokens: true,
    options: Object.fromEntries(
      Object.entries(specs).map(([n, s]) => [n, { type: s.kind === 'boolean' ? ('boolean' as const) : ('string' as const), ...(s.short ? { short: s.short } : {}) }]),
    ),
  });
  const problems: string[] = [];
  const raw = new Map<string, string | true>();
  const repeated = new Map<string, string[]>();
  const positionals: string[] = [];
  let unknown = false;
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    if (t.kind === 'positional') {
      positionals.push(t.value);
      continue;
    }
    const spec = specs[t.name];
    if (spec === undefined) {
      problems.push(`unknown option ${t.rawName}`);
      unknown = true;
      continue;
    }
    if (raw.has(t.name) && !(spec.kind === 'string' && spec.multiple)) {
      problems.push(`--${t.name} is given more than once`);
      continue;
    }
    if (spec.kind === 'boolean') {
      if (t.value !== undefined) problems.push(`--${t.name} is a switch and takes no value, got '${t.value}'`);
      else raw.set(t.name, true);
      continue;
    }
    if (t.value === undefined) {
      // A plain string flag names its value the way --help does (TYPES, FILE, …), not 'a value' again.
      const wanted = spec.kind === 'string' && spec.maxBytes === undefined ? spec.placeholder ?? 'TEXT' : describeAllowed(spec);
      problems.push(`--${t.name} needs a value (${wanted})`);
      continue;
    }
    // "--prompt --max-tokens 5": parseArgs would take the next flag as the value.
    if (!t.inlineValue && looksLikeFlag(t.value)) {
      problems.push(`--${t.name} needs a value but is followed by the flag '${t.value}' (to pass a value starting with '-', write --${t.name}=${t.value})`);
      continue;
    }
    raw.set(t.name, t.value);
    if (spec.kind === 'string' && spec.multiple) repeated.set(t.name, [...(repeated.get(t.name) ?? []), t.value]);
  }
  const allowed = positionalSpecs.length;
  if (positionals.length > allowed) {
    const stray = positionals.slice(allowed).map((p) => `'${p.length > 40 ? `${p.slice(0, 40)}…` : p}'`);
    problems.push(
      allowed === 0
        ? `unexpected argument${stray.length > 1 ? 's' : ''} ${stray.join(', ')} (this command takes only flags; a switch such as --chat takes no value)`
        : `unexpected argument${stray.length > 1 ? 's' : ''} ${stray.join(', ')} (expected at most ${positionalSpecs.map((p) => p.name).join(' ')})`,
    );
  }
  for (const p of positionalSpecs.slice(positionals.length)) if (!p.optional) problems.push(`missing ${p.name}`);

  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const v = raw.get(name);
    if (spec.kind === 'boolean') {
      values[name] = v === true;
      continue;
    }
    if (spec.kind === 'string' && spec.multiple) {
      const all = repeated.get(name) ?? [];
      const long = all.filter((x) => spec.maxBytes !== undefined && Buffer.byteLength(x) > spec.maxBytes);
      if (long.length) problems.push(`--${name}: a value is over the limit of ${spec.maxBytes!.toLocaleString('en-US')} bytes${spec.tooLong ? ` (${spec.tooLong})` : ''}`);
      for (const path of spec.output ? all : []) checkOutput(problems, name, spec.output!, path);
      values[name] = all;
      continue;
    }
    if (typeof v !== 'string') {
      if ('default' in spec && spec.default !== undefined) values[name] = spec.default;
      continue;
    }
    if (spec.kind === 'integer' || spec.kind === 'number') {
      const n = checkNumber(name, spec, v);
      if (typeof n === 'string') problems.push(n);
      else values[name] = n;
    } else if (spec.kind === 'counts') {
      const counts = checkCounts(name, spec, v);
      if (typeof counts === 'string') problems.push(counts);
      else values[name] = counts;
    } else if (spec.kind === 'choice') {
      if ((spec.choices as readonly string[]).includes(v)) values[name] = v;
      else problems.push(`--${name} must be ${describeAllowed(spec)}, got '${v}'`);
    } else if (spec.kind === 'string') {
      const bytes = Buffer.byteLength(v);
      if (spec.maxBytes !== undefined && bytes > spec.maxBytes) {
        problems.push(`--${name} is ${bytes.toLocaleString('en-US')} bytes; the limit on the command line is ${spec.maxBytes.toLocaleString('en-US')}${spec.tooLong ? ` (${spec.tooLong})` : ''}`);
      } else {
        if (spec.output) checkOutput(problems, name, spec.output, v);
        values[name] = v;
      }
    }
  }
  if (problems.length > 0) {
    const known = unknown ? `\n  valid options: ${flagList(specs)}` : '';
    throw new UsageError(problems.length === 1 ? `${problems[0]}${known}` : `${problems.length} problems with the arguments:\n${problems.map((p) => `  - ${p}`).join('\n')}${known}`);
  }
  return { values: values as FlagValues<T>, positionals, given: new Set([...raw.keys()] as (keyof T & string)[]) };
}

/** A word as a shell reads it back: left bare when it is safe, else single-quoted. */
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line that gives `values` again (`parseCommandLine(…)`'s flags back as words, in the specs' order):
 * the flags `include` keeps, each that has a value (a switch only when on, a repeatable flag once per value, counts
 * as `KEY=N,…`). For a card's Re-train line: the flags given plus those worth spelling out even at their default.
 */
export function formatCommandLine<T extends FlagSpecs>(program: string, specs: T, values: FlagValues<T>, include: (name: keyof T & string) => boolean): string {
  const words = [program];
  for (const [name, spec] of Object.entries(specs) as [keyof T & string, FlagSpec][]) {
    const v = (values as Record<string, unknown>)[name];
    if (!include(name) || v === undefined || v === false) continue;
    if (spec.kind === 'boolean') words.push(`--${name}`);
    else if (Array.isArray(v)) for (const x of v) words.push(`--${name}`, shellWord(String(x)));
    else if (spec.kind === 'counts') words.push(`--${name}`, Object.entries(v as Record<string, number>).map(([k, n]) => `${k}=${n}`).join(','));
    else words.push(`--${name}`, shellWord(String(v)));
  }
  return words.join(' ');
}

/** Help lines for a command's flags: name, value, what is allowed, default, description. */
export function describeFlags(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const value = s.kind === 'boolean' ? '' : ` ${('placeholder' in s && s.placeholder) || (s.kind === 'choice' ? s.choices.join('|') : s.kind === 'counts' ? 'KEY=N,…' : s.kind === 'string' ? 'TEXT' : 'N')}`;
    const head = `${s.short ? `-${s.short}, ` : ''}--${name}${value}`;
    const def = 'default' in s && s.default !== undefined ? ` (default ${String(s.default)})` : '';
    const allowed = s.kind === 'integer' || s.kind === 'number' || s.kind === 'counts' ? describeAllowed(s) : '';
    return [head, `${[s.description, allowed].filter(Boolean).join('; ')}${def}`] as const;
  });
  const width = Math.max(...rows.map(([h]) => h.length));
  return rows.map(([h, d]) => `  ${h.padEnd(width)}  ${d}`).join('\n');
}

/** Exit status for an error that reached an entry point: 2 for a usage mistake, 1 otherwise. */
export function exitCodeFor(e: unknown): 1 | 2 {
  return e instanceof UsageError ? 2 : 1;
}

/**
 * The one error report of every herd entry point: `<program>: <code>: <message>`. Errors that are
 * not HerdErrors (a bug, or a system call failing where no check caught it) get `io_error` when
 * they come from the operating system and `internal_error` otherwise. The stack and the chain of
 * causes only with `verbose`.
 */
export function formatCommandError(program: string, e: unknown, verbose = false): string {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = e instanceof HerdError ? e.code : typeof (err as NodeJS.ErrnoException).syscall === 'string' ? 'io_error' : 'internal_error';
  let line = `${program}: ${code}: ${err.message}`;
  if (!verbose) return e instanceof HerdError ? line : `${line} (run with --verbose for the stack)`;
  line += `\n${err.stack ?? ''}`;
  for (let c = err.cause, depth = 0; c !== undefined && depth < 8; c = c instanceof Error ? c.cause : undefined, depth++) {
    line += `\ncaused by: ${c instanceof Error ? (c.stack ?? c.message) : String(c)}`;
  }
  return line;
}
