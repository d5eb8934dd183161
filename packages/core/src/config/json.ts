/**
 * A JSON parser for files that come from outside: the same values as `JSON.parse`, plus a depth limit
 * (a 100000-deep value must not exhaust the stack, here or in whoever walks the result later) and
 * duplicate keys reported instead of silently keeping the last one (a safetensors header with a
 * tensor named twice is ambiguous). Errors carry the line and column.
 */
export interface JsonLimits {
  /** Deepest nesting of arrays/objects accepted. Default 64. */
  readonly maxDepth?: number;
  /** Report a key given twice in one object. Default true. */
  readonly rejectDuplicateKeys?: boolean;
}

export const DEFAULT_JSON_MAX_DEPTH = 64;

/** A JSON text that cannot be accepted; `kind` says which limit or rule it broke. */
export class JsonProblem extends Error {
  constructor(
    readonly kind: 'syntax' | 'too_deep' | 'duplicate_key',
    message: string,
    readonly offset: number,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
    this.name = 'JsonProblem';
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

export function parseJson(text: string, limits: JsonLimits = {}): unknown {
  const maxDepth = limits.maxDepth ?? DEFAULT_JSON_MAX_DEPTH;
  const rejectDuplicates = limits.rejectDuplicateKeys ?? true;
  let i = 0;

  const fail = (kind: JsonProblem['kind'], message: string, at = i): never => {
    let line = 1;
    let lineStart = 0;
    for (let k = 0; k < at && k < text.length; k++) {
      if (text.charCodeAt(k) === 10) {
        line++;
        lineStart = k + 1;
      }
    }
    throw new JsonProblem(kind, `${message} at line ${line} column ${at - lineStart + 1}`, at, line, at - lineStart + 1);
  };

  const ws = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else return;
    }
  };

  const describeAt = (): string => (i >= text.length ? 'end of input' : `'${text[i]}'`);

  const str = (): string => {
    const start = i;
    i++;
    let escaped = false;
    for (;;) {
      if (i >= text.length) fail('syntax', 'unterminated string', start);
      const c = text.charCodeAt(i);
      if (c === 34) break;
      if (c < 0x20) fail('syntax', 'control character in string');
      if (c === 92) {
        escaped = true;
        i++;
      }
      i++;
    }
    i++;
    if (!escaped) return text.slice(start + 1, i - 1);
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return fail('syntax', 'bad escape in string', start);
    }
  };

  const value = (depth: number): unknown => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      if (depth >= maxDepth) fail('too_deep', `nesting deeper than ${maxDepth} levels`);
      i++;
      return c === '{' ? object(depth + 1) : array(depth + 1);
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) return (i += 4), true;
    if (text.startsWith('false', i)) return (i += 5), false;
    if (text.startsWith('null', i)) return (i += 4), null;
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m !== null) {
      i += m[0].length;
      return Number(m[0]);
    }
    return fail('syntax', `unexpected ${describeAt()}`);
  };

  const array = (depth: number): unknown[] => {
    const out: unknown[] = [];
    ws();
    if (text[i] === ']') return i++, out;
    for (;;) {
      out.push(value(depth));
      ws();
      if (text[i] === ',') i++;
      else if (text[i] === ']') return i++, out;
      else fail('syntax', `expected ',' or ']' but found ${describeAt()}`);
    }
  };

  const object = (depth: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    ws();
    if (text[i] === '}') return i++, out;
    for (;;) {
      ws();
      if (text[i] !== '"') fail('syntax', `expected a quoted key but found ${describeAt()}`);
      const keyAt = i;
      const key = str();
      ws();
      if (text[i] !== ':') fail('syntax', `expected ':' after key ${JSON.stringify(key)} but found ${describeAt()}`);
      i++;
      const v = value(depth);
      if (Object.hasOwn(out, key) && rejectDuplicates) fail('duplicate_key', `key ${JSON.stringify(key)} appears twice in one object`, keyAt);
      // A key named "__proto__" is data, as in JSON.parse, not a prototype change.
      if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      else out[key] = v;
      ws();
      if (text[i] === ',') i++;
      else if (text[i] === '}') return i++, out;
      else fail('syntax', `expected ',' or '}' but found ${describeAt()}`);
    }
  };

  const result = value(0);
  ws();
  if (i < text.length) fail('syntax', `unexpected ${describeAt()} after the JSON value`);
  return result;
}
