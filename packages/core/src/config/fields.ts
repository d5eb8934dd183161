/**
 * Checking a config object field by field: typed readers that record a problem instead of throwing,
 * unknown keys reported with "did you mean", warnings (not errors) for keys of foreign formats that
 * herd does not use, and every problem thrown at once naming the config's source.
 *
 *   const c = new ConfigCheck('config.json in /models/llama');
 *   c.keys(json, KNOWN, { unknown: 'warn' });
 *   const dim = c.int(json, 'hidden_size', { min: 1 });
 *   const warnings = c.finish('unsupported Hugging Face Llama config');
 */
import { HerdError } from '../errors.js';
import { didYouMean } from './closest.js';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value shown in a message: JSON, cut short, never throwing (deep or cyclic values). */
export function showValue(v: unknown, max = 80): string {
  let s: string;
  try {
    s = v === undefined ? 'undefined' : typeof v === 'object' && v !== null ? shallow(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = Object.prototype.toString.call(v);
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function shallow(v: object): string {
  // Only one level: a value nested 100000 deep must not blow the stack while we describe it.
  if (Array.isArray(v)) return `[${v.slice(0, 8).map((x) => (typeof x === 'object' && x !== null ? (Array.isArray(x) ? '[…]' : '{…}') : JSON.stringify(x))).join(', ')}${v.length > 8 ? ', …' : ''}]`;
  const keys = Object.keys(v);
  return `{${keys.slice(0, 8).map((k) => `${JSON.stringify(k)}: ${typeof (v as Record<string, unknown>)[k] === 'object' && (v as Record<string, unknown>)[k] !== null ? '…' : JSON.stringify((v as Record<string, unknown>)[k])}`).join(', ')}${keys.length > 8 ? ', …' : ''}}`;
}

export interface NumberRule {
  /** Leave out to make the field required; give `null` to allow it absent (returns undefined). */
  readonly default?: number | null;
  readonly min?: number;
  readonly max?: number;
  /** Strictly greater than 0. */
  readonly positive?: boolean;
}

export class ConfigCheck {
  private readonly errors: string[] = [];
  private readonly warns: string[] = [];
  private unknownKeyErrors = 0;

  /** `source` names where the config came from: "config.json in /models/x", "Llama config". */
  constructor(readonly source: string) {}

  problem(message: string): void {
    this.errors.push(message);
  }

  warn(message: string): void {
    this.warns.push(message);
  }

  get problemCount(): number {
    return this.errors.length;
  }

  /**
   * Reports keys of `obj` not in `known`, each with the nearest known key. `unknown: 'warn'` is for
   * foreign formats (a Hugging Face config.json carries many keys herd has no use for); `at` prefixes
   * nested paths ("ropeScaling").
   */
  keys(obj: Record<string, unknown>, known: readonly string[], o: { unknown?: 'error' | 'warn'; at?: string; listValid?: boolean } = {}): string[] {
    const bad = Object.keys(obj).filter((k) => !known.includes(k));
    if (bad.length === 0) return bad;
    const where = o.at ?? this.source;
    const named = bad.map((k) => `'${k}'${didYouMean(k, known)}`).join(', ');
    if (o.unknown === 'warn') {
      this.warn(`ignoring unknown key${bad.length > 1 ? 's' : ''} in ${where}: ${named}`);
    } else {
      this.unknownKeyErrors++;
      this.errors.push(`unknown key${bad.length > 1 ? 's' : ''} in ${where}: ${named}${o.listValid === false ? '' : `; valid keys: ${known.join(', ')}`}`);
    }
    return bad;
  }

  private num(obj: Record<string, unknown>, key: string, rule: NumberRule, integer: boolean, label: string): number | undefined {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (rule.default === undefined) {
        this.problem(`${label} is required`);
        return NaN;
      }
      return rule.default ?? undefined;
    }
    const ok = typeof v === 'number' && Number.isFinite(v) && (!integer || Number.isSafeInteger(v));
    const kind = integer ? 'integer' : 'finite number';
    const bounds = rule.positive ? 'a positive ' : '';
    if (!ok) {
      this.problem(`${label} must be ${bounds || 'a '}${kind}, got ${showValue(v)}`);
      return NaN;
    }
    if (rule.positive && v <= 0) this.problem(`${label} must be a positive ${kind}, got ${v}`);
    else if (rule.min !== undefined && v < rule.min) this.problem(`${label} must be >= ${rule.min}, got ${v}`);
    else if (rule.max !== undefined && v > rule.max) this.problem(`${label} must be <= ${rule.max}, got ${v}`);
    return v;
  }

  int(obj: Record<string, unknown>, key: string, rule: NumberRule & { default: null }, label?: string): number | undefined;
  int(obj: Record<string, unknown>, key: string, rule?: NumberRule, label?: string): number;
  int(obj: Record<string, unknown>, key: string, rule: NumberRule = {}, label = key): number | undefined {
    return this.num(obj, key, rule, true, label);
  }

  number(obj: Record<string, unknown>, key: string, rule: NumberRule & { default: null }, label?: string): number | undefined;
  number(obj: Record<string, unknown>, key: string, rule?: NumberRule, label?: string): number;
  number(obj: Record<string, unknown>, key: string, rule: NumberRule = {}, label = key): number | undefined {
    return this.num(obj, key, rule, false, label);
  }

  boolean(obj: Record<string, unknown>, key: string, fallback?: boolean, label = key): boolean {
    const v = obj[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'boolean') {
      this.problem(v === undefined ? `${label} is required` : `${label} must be true or false, got ${showValue(v)}`);
      return false;
    }
    return v;
  }

  /** A string, optionally one of `oneOf` (a wrong one gets the closest suggestion); undefined when absent. */
  string(obj: Record<string, unknown>, key: string, o: { oneOf?: readonly string[]; required?: boolean; warnOnly?: boolean } = {}, label = key): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (o.required) this.problem(`${label} is required`);
      return undefined;
    }
    if (typeof v !== 'string') {
      this.problem(`${label} must be a string, got ${showValue(v)}`);
      return undefined;
    }
    if (o.oneOf !== undefined && !o.oneOf.includes(v)) {
      const msg = `${label} ${JSON.stringify(v)} is not one of ${o.oneOf.join(', ')}${didYouMean(v, o.oneOf, 3)}`;
      if (o.warnOnly) this.warn(msg);
      else this.problem(msg);
      return undefined;
    }
    return v;
  }

  /** A list of strings; undefined when absent. */
  stringList(obj: Record<string, unknown>, key: string, label = key): string[] | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      this.problem(`${label} must be a list of strings, got ${showValue(v)}${typeof v === 'string' ? ` (write [${JSON.stringify(v)}])` : ''}`);
      return undefined;
    }
    return v as string[];
  }

  /**
   * Throws every problem at once: HerdError('unknown_config_key') when unknown keys are among them,
   * else 'invalid_config'; `footer` is appended (e.g. how names map). Returns the warnings when there is nothing to throw.
   */
  finish(heading: string, footer?: string): readonly string[] {
    if (this.errors.length > 0) {
      const code = this.unknownKeyErrors > 0 ? 'unknown_config_key' : 'invalid_config';
      throw new HerdError(code, `${this.source}: ${heading}:\n${this.errors.map((p) => `  - ${p}`).join('\n')}${footer ? `\n${footer}` : ''}`);
    }
    return [...this.warns];
  }

  get warnings(): readonly string[] {
    return this.warns;
  }
}
