import type { OptionRules } from '@herd/core';
import type { Sample } from '../sample.js';
import type { SampleStage } from './stage.js';

export interface TextSafetyOptions {
  name?: string;
  /** Text files to check (default `txt`); a missing one is not a problem here. */
  exts?: readonly string[];
  /** Check every string in the meta, at any depth (default true). */
  meta?: boolean;
  /** Longest line accepted, in characters (default 10 000: captions are sentences, not megabytes). */
  maxLineChars?: number;
  /** Longest text accepted per file or meta string, in characters (default 1 000 000). */
  maxChars?: number;
}

/** What a config file may set (`checkOptions`). */
export const TEXT_SAFETY_RULES = { name: 'string', exts: 'string[]', meta: 'boolean', maxLineChars: 'int', maxChars: 'int' } satisfies OptionRules<TextSafetyOptions>;

const decoder = new TextDecoder('utf-8', { fatal: true });

// Bidi embeddings, overrides and isolates reorder what a reader sees (the "Trojan Source" trick);
// zero-width and BOM characters hide text. Tab, newline and carriage return are ordinary text.
const BIDI = /[\u202A-\u202E\u2066-\u2069]/u;
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/u;
const INVISIBLE = /[\u200B-\u200F\u2060\uFEFF]/u;
const LONE_SURROGATE = /\p{Cs}/u;

function describeChar(c: string): string {
  return `U+${(c.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The first problem in a text, or undefined: what a reason names. */
export function textProblem(text: string, o: { maxLineChars?: number; maxChars?: number } = {}): string | undefined {
  const maxChars = o.maxChars ?? 1_000_000;
  const maxLine = o.maxLineChars ?? 10_000;
  if (text.length > maxChars) return `${text.length} characters (limit ${maxChars})`;
  if (text.includes('\u0000')) return `NUL byte at character ${text.indexOf('\u0000')}`;
  for (const [re, what] of [
    [BIDI, 'bidi control'],
    [CONTROL, 'control character'],
    [INVISIBLE, 'invisible character'],
    [LONE_SURROGATE, 'lone surrogate'],
  ] as const) {
    const m = re.exec(text);
    if (m) return `${what} ${describeChar(m[0])} at character ${m.index}`;
  }
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl;
    if (end - start > maxLine) return `a line of ${end - start} characters (limit ${maxLine})`;
    if (nl < 0) return undefined;
    start = nl + 1;
  }
}

/** Every string in a JSON value with its path, iteratively (meta depth is bounded at read, but be safe). */
function* strings(value: unknown): Generator<[string, string]> {
  const stack: [string, unknown][] = [['meta', value]];
  while (stack.length > 0) {
    const [path, v] = stack.pop() as [string, unknown];
    if (typeof v === 'string') yield [path, v];
    else if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push([`${path}[${i}]`, v[i]]);
    else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, x] = entries[i] as [string, unknown];
        const safe = textProblem(k, { maxLineChars: 200, maxChars: 200 }) === undefined;
        if (!safe) yield [`${path} key`, k];
        stack.push([`${path}.${safe ? k : '?'}`, x]);
      }
    }
  }
}

/**
 * The shared check for captions and other text: drops a sample whose text files or meta strings
 * hold NUL bytes, control characters, bidi overrides or isolates, invisible characters, invalid
 * UTF-8, or lines and texts past the limits, naming where: `unsafe_text: meta.caption: bidi control
 * U+202E at character 7`. Nothing is rewritten: a caption that needs cleaning is reported, not
 * silently changed.
 */
export function textSafety(options: TextSafetyOptions = {}): SampleStage {
  const exts = options.exts ?? ['txt'];
  const checkMeta = options.meta ?? true;
  const limits = { maxLineChars: options.maxLineChars, maxChars: options.maxChars };
  return {
    kind: 'sample',
    name: options.name ?? 'text_safety',
    version: JSON.stringify([exts, checkMeta, options.maxLineChars ?? null, options.maxChars ?? null]),
    process(sample: Sample) {
      for (const ext of exts) {
        const bytes = sample.files[ext];
        if (bytes === undefined) continue;
        let text: string;
        try {
          text = decoder.decode(bytes);
        } catch {
          return { keep: false, reason: `unsafe_text: .${ext}: invalid UTF-8` };
        }
        const problem = textProblem(text, limits);
        if (problem) return { keep: false, reason: `unsafe_text: .${ext}: ${problem}` };
      }
      if (checkMeta) {
        for (const [path, text] of strings(sample.meta)) {
          const problem = textProblem(text, limits);
          if (problem) return { keep: false, reason: `unsafe_text: ${path}: ${problem}` };
        }
      }
      return { keep: true, sample };
    },
  };
}
