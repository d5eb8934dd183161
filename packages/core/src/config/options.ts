/**
 * Options read from a JSON file (a curation config's stage options), checked key by key against one
 * table per options type: unknown keys are refused with "did you mean", values of the wrong JSON type
 * are refused naming the path and what was expected. Value ranges stay with the code that uses them
 * (a stage checks its own bounds); this table answers only "is this a key, and is it the right kind".
 *
 *   export const CLIPPING_RULES = { name: 'string', maxClippedFraction: 'number', ... } satisfies OptionRules<ClippingOptions>;
 *   checkOptions(check, json, { dedup: [false, { options: NEAR_DUPLICATE_RULES }] }, 'curation config');
 *
 * `satisfies OptionRules<T>` makes the table complete: a key added to the options type without a rule,
 * or a rule for a key the type does not have, is a type error.
 */
import { didYouMean } from './closest.js';
import { type ConfigCheck, isRecord, showValue } from './fields.js';

/**
 * One option's rule. Strings name a JSON kind; `'function'` marks an option that only code can pass
 * (refused in a file); `{ oneOf }` lists literal values; `{ options }` is a nested options object; an
 * array is "any of these" (e.g. `[false, { options: … }]` for a stage that can be turned off).
 */
export type OptionRule =
  | 'int'
  | 'number'
  | 'boolean'
  | 'string'
  | 'string[]'
  | 'number[]'
  | 'function'
  | null
  | boolean
  | { readonly oneOf: readonly (string | number)[] }
  | { readonly options: OptionTable }
  | readonly OptionRule[];

export type OptionTable = { readonly [key: string]: OptionRule };

/** A complete table for the options type `T`: one rule per key, no others. */
export type OptionRules<T> = { readonly [K in keyof Required<T>]: OptionRule };

/** `table` without `keys` (the options a config file cannot hold, e.g. the ones its pipeline sets). */
export function omitOptions<T extends OptionTable, K extends keyof T>(table: T, keys: readonly K[]): Omit<T, K> {
  const out: Record<string, OptionRule> = { ...table };
  for (const k of keys) delete out[k as string];
  return out as Omit<T, K>;
}

function describe(rule: OptionRule): string {
  if (Array.isArray(rule)) return rule.map(describe).join(' or ');
  if (rule === null) return 'null';
  if (typeof rule === 'boolean') return String(rule);
  if (typeof rule === 'object') {
    const r = rule as Exclude<OptionRule, readonly OptionRule[] | string | null | boolean>;
    return 'oneOf' in r ? `one of ${r.oneOf.map((v) => JSON.stringify(v)).join(', ')}` : 'an object of options';
  }
  switch (rule) {
    case 'int':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'string':
      return 'a string';
    case 'string[]':
      return 'a list of strings';
    case 'number[]':
      return 'a list of numbers';
    case 'function':
      return 'a function';
  }
  return String(rule);
}

function matches(rule: Exclude<OptionRule, readonly OptionRule[] | { readonly options: OptionTable }>, v: unknown): boolean {
  if (rule === null || typeof rule === 'boolean') return v === rule;
  if (typeof rule === 'object') return rule.oneOf.includes(v as string | number);
  switch (rule) {
    case 'int':
      return typeof v === 'number' && Number.isSafeInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'string[]':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'number[]':
      return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
    case 'function':
      return false;
  }
  return false;
}

/**
 * Records on `check` every problem of `value` against `table`: unknown keys (with the nearest known
 * one), values of the wrong kind, nested options at their dotted path (`at`: the path of `value`,
 * "" for the top of the file, which is then named by the check's source).
 */
export function checkOptions(check: ConfigCheck, value: unknown, table: OptionTable, at: string): void {
  if (!isRecord(value)) {
    check.problem(`${at || check.source} must be an object of options, got ${showValue(value)}`);
    return;
  }
  check.keys(value, Object.keys(table), at === '' ? {} : { at });
  for (const [key, v] of Object.entries(value)) {
    const rule = table[key];
    if (rule === undefined || v === undefined) continue;
    checkValue(check, v, rule, at === '' ? key : `${at}.${key}`);
  }
}

function checkValue(check: ConfigCheck, v: unknown, rule: OptionRule, path: string): void {
  const alternatives: readonly OptionRule[] = Array.isArray(rule) ? rule : [rule as OptionRule];
  const nested = alternatives.find((r): r is { readonly options: OptionTable } => typeof r === 'object' && r !== null && !Array.isArray(r) && 'options' in r);
  const flat = alternatives.filter((r) => r !== nested) as Parameters<typeof matches>[0][];
  if (flat.some((r) => matches(r, v))) return;
  // An object goes to the nested table, which names the wrong key inside it.
  if (nested && isRecord(v)) return checkOptions(check, v, nested.options, path);
  if (flat.includes('function')) {
    check.problem(`${path} is code (a function) and cannot come from a config file; pass it through the library API`);
    return;
  }
  const literals = flat.flatMap((r) => (typeof r === 'object' && r !== null && 'oneOf' in r ? r.oneOf.map(String) : []));
  // A short word is only "meant" when one edit away ("en" is not a typo of "any").
  const hint = typeof v === 'string' && literals.length > 0 ? didYouMean(v, literals, Math.min(2, Math.floor(v.length / 2))) : '';
  check.problem(`${path} must be ${describe(alternatives)}, got ${showValue(v)}${hint}`);
}
