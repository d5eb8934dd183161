/**
 * Reading a JSON file a user hands us (config.json, an index, a manifest): every way it can be wrong
 * ends in one HerdError that names the file and says what is wrong, never a raw SyntaxError or EISDIR.
 */
import { closeSync } from 'node:fs';
import { resolve } from 'node:path';
import { HerdError, type HerdErrorCode } from '../errors.js';
import { openRegularFileSync, readFullySync } from '../fs.js';
import { DEFAULT_JSON_MAX_DEPTH, JsonProblem, parseJson } from './json.js';

export interface ReadJsonOptions {
  /** The file's role in messages, e.g. "config file". Default "JSON file". */
  readonly what?: string;
  /** Code for a file that is there but bad. Default 'invalid_config'. */
  readonly code?: HerdErrorCode;
  /** Largest file accepted. Default 16 MiB (config files are kilobytes; indexes of huge models ~100 KB). */
  readonly maxBytes?: number;
  readonly maxDepth?: number;
  /** Default true: a key given twice is an error. */
  readonly rejectDuplicateKeys?: boolean;
}

export const DEFAULT_JSON_MAX_BYTES = 16 * 1024 * 1024;

/** Parses JSON text from `path` (for messages), with the same checks as `readJsonFile`. */
export function parseJsonText(path: string, bytes: Uint8Array, o: ReadJsonOptions = {}): unknown {
  const what = o.what ?? 'JSON file';
  const code = o.code ?? 'invalid_config';
  let text: string;
  try {
    // fatal: invalid UTF-8 is an error, not U+FFFD; the decoder drops a leading BOM.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new HerdError(code, `${what} ${path} is not valid UTF-8 text; save it as UTF-8`, { cause: e });
  }
  if (text.trim() === '') throw new HerdError(code, `${what} ${path} is empty; expected a JSON object`);
  try {
    return parseJson(text, { maxDepth: o.maxDepth ?? DEFAULT_JSON_MAX_DEPTH, rejectDuplicateKeys: o.rejectDuplicateKeys ?? true });
  } catch (e) {
    if (e instanceof JsonProblem) {
      const hint = e.kind === 'syntax' ? ' (is it really JSON?)' : e.kind === 'too_deep' ? ' (no real file nests this deep)' : '';
      throw new HerdError(code, `${what} ${path} is not acceptable JSON: ${e.message}${hint}`, { cause: e });
    }
    throw e;
  }
}

/** Reads and parses a JSON file; refuses directories, FIFOs and devices, oversized, empty and non-UTF-8 files. */
export function readJsonFile(path: string, o: ReadJsonOptions = {}): unknown {
  const abs = resolve(path);
  const what = o.what ?? 'JSON file';
  const code = o.code ?? 'invalid_config';
  const maxBytes = o.maxBytes ?? DEFAULT_JSON_MAX_BYTES;
  const { fd, size } = openRegularFileSync(abs, what, code);
  try {
    if (size > maxBytes) throw new HerdError(code, `${what} ${abs} is ${size} bytes, more than the ${maxBytes} accepted; is it the right file?`);
    const bytes = new Uint8Array(size);
    readFullySync(fd, bytes, 0, abs, 'the file');
    return parseJsonText(abs, bytes, o);
  } finally {
    closeSync(fd);
  }
}
