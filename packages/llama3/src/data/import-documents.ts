/**
 * A plain folder of documents turned into a text dataset (one sample per document, the layout
 * `herd-datasets generate` writes: `txt` = the words, `meta.turns` = a dialogue's chat turns), so
 * text curation can start from what users have: `*.txt` / `*.md` files (one document each) and
 * `*.jsonl` files (one document per line: `{"text": "..."}` or `{"turns": [{"role", "content"}…]}`,
 * other fields kept in the meta, e.g. `"language": "fr"`; `"id"` names the sample). What cannot
 * become a document (a line that is not JSON or not UTF-8, a line or file past the size limits, a
 * meta too deep) is still written, with `meta.importError` saying what is wrong, so the curation's
 * `document` stage drops it with that reason instead of the import stopping.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { HerdError, isRecord } from '@herd/core';
import { MANIFEST_FILE, type Sample, sampleProblems, uniqueSampleKeys, writeDataset } from '@herd/data';

/** Extensions read as one document per file. */
export const DOCUMENT_EXTS = ['txt', 'md'] as const;
/** Extensions read as one document per line. */
export const JSONL_EXTS = ['jsonl'] as const;
/** Field of the meta that records why an input could not become a document. */
export const IMPORT_ERROR_FIELD = 'importError';

export interface ImportDocumentsOptions {
  readonly samplesPerShard?: number;
  /** Largest document file read (default 64 MiB); a larger one is recorded, not read. */
  readonly maxFileBytes?: number;
  /** Longest JSONL line read (default 16 MiB); a longer one is recorded, not kept in memory. */
  readonly maxLineBytes?: number;
}

const fatal = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** The lines of a file as byte arrays with their numbers; a line past `maxBytes` comes back as its length only. */
async function* lines(path: string, maxBytes: number): AsyncGenerator<{ n: number; bytes?: Uint8Array; length: number }> {
  let parts: Buffer[] = [];
  let length = 0;
  let n = 1;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); ; nl = chunk.indexOf(10, start)) {
      const end = nl < 0 ? chunk.length : nl;
      if (length + end - start <= maxBytes) parts.push(chunk.subarray(start, end));
      else parts = [];
      length += end - start;
      if (nl < 0) break;
      yield length <= maxBytes ? { n, bytes: Buffer.concat(parts), length } : { n, length };
      parts = [];
      length = 0;
      n++;
      start = nl + 1;
    }
  }
  if (length > 0) yield length <= maxBytes ? { n, bytes: Buffer.concat(parts), length } : { n, length };
}

/** A chat dialogue's words as one text, turns joined by newlines (what the generated corpus stores as `txt`). */
export function turnsText(turns: readonly unknown[]): string {
  return turns.map((t) => (isRecord(t) && typeof t['content'] === 'string' ? t['content'] : '')).join('\n');
}

/** One JSONL line as a document: its text (or turns' text) and the rest of the object as meta; or what is wrong with it. */
function lineDocument(bytes: Uint8Array): { txt: string; meta: Record<string, unknown>; id?: string } | { error: string } {
  let text: string;
  try {
    text = fatal.decode(bytes);
  } catch {
    return { error: 'invalid UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `not JSON (${(e as Error).message})` };
  }
  if (!isRecord(value)) return { error: `expected a JSON object with "text" or "turns", got ${Array.isArray(value) ? 'an array' : typeof value}` };
  const { text: t, turns, id, ...rest } = value;
  if (turns !== undefined) {
    if (!Array.isArray(turns)) return { error: `"turns" must be an array of {role, content}, got ${typeof turns}` };
    return { txt: turnsText(turns), meta: { ...rest, turns }, ...(typeof id === 'string' ? { id } : {}) };
  }
  if (typeof t !== 'string') return { error: `expected "text" (a string) or "turns", got ${t === undefined ? 'neither' : `"text" of type ${typeof t}`}` };
  return { txt: t, meta: rest, ...(typeof id === 'string' ? { id } : {}) };
}

/**
 * Writes the folder's documents (files sorted by name, lines in order) as a dataset in `datasetDir`;
 * returns how many samples it wrote.
 */
export async function importDocumentFolder(folder: string, datasetDir: string, o: ImportDocumentsOptions = {}): Promise<number> {
  const maxFile = o.maxFileBytes ?? 64 * 2 ** 20;
  const maxLine = o.maxLineBytes ?? 16 * 2 ** 20;
  const exts: readonly string[] = [...DOCUMENT_EXTS, ...JSONL_EXTS];
  const names = (await readdir(folder)).sort().filter((n) => exts.includes(extname(n).slice(1).toLowerCase()));
  if (names.length === 0) throw new HerdError('invalid_argument', `${folder}: no dataset manifest (${MANIFEST_FILE}) and no documents (${exts.map((e) => `*.${e}`).join(', ')})`);
  const keyOf = uniqueSampleKeys('doc');
  // A sample the shard format cannot hold (meta too deep or too large) is recorded, not written as is.
  const storable = (s: Sample): Sample => {
    const problems = sampleProblems(s);
    return problems.length === 0 ? s : { key: s.key, files: {}, meta: { source: s.meta['source'], [IMPORT_ERROR_FIELD]: `${String(s.meta['source'])}: ${problems.join('; ')}` } };
  };
  let count = 0;
  async function* samples(): AsyncGenerator<Sample> {
    for (const name of names) {
      const path = join(folder, name);
      const ext = extname(name).slice(1).toLowerCase();
      const stem = basename(name, extname(name));
      if (!(JSONL_EXTS as readonly string[]).includes(ext)) {
        const size = (await stat(path)).size;
        count++;
        yield size > maxFile
          ? { key: keyOf(stem), files: {}, meta: { source: name, [IMPORT_ERROR_FIELD]: `${name} is ${size} bytes (limit ${maxFile})` } }
          : { key: keyOf(stem), files: { txt: new Uint8Array(await readFile(path)) }, meta: { source: name } };
        continue;
      }
      for await (const line of lines(path, maxLine)) {
        if (line.bytes && line.bytes.every((b) => b === 0x20 || b === 0x09 || b === 0x0d)) continue; // blank lines are not documents
        const source = `${name}:${line.n}`;
        count++;
        if (!line.bytes) {
          yield { key: keyOf(`${stem}-${line.n}`), files: {}, meta: { source, [IMPORT_ERROR_FIELD]: `${source}: a line of ${line.length} bytes (limit ${maxLine})` } };
          continue;
        }
        const doc = lineDocument(line.bytes);
        if ('error' in doc) yield { key: keyOf(`${stem}-${line.n}`), files: {}, meta: { source, [IMPORT_ERROR_FIELD]: `${source}: ${doc.error}` } };
        else yield storable({ key: keyOf(doc.id ?? `${stem}-${line.n}`), files: { txt: encoder.encode(doc.txt) }, meta: { ...doc.meta, source } });
      }
    }
  }
  await writeDataset(datasetDir, samples(), { samplesPerShard: o.samplesPerShard ?? 1000, name: basename(folder), info: { importedFrom: folder } });
  return count;
}
