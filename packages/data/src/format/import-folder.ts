/**
 * A plain folder of media files with text beside them (`cat.jpg` + `cat.txt`) turned into a dataset,
 * so every curation pipeline can also start from what users usually have. Keys come from the file
 * names (made safe, de-duplicated); a media file without text is kept (the text stages drop it with a
 * reason).
 */
import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { HerdError, isRecord } from '@herd/core';
import type { Sample } from '../sample.js';
import { MANIFEST_FILE } from './manifest.js';
import { writeDataset } from './write.js';

export interface MediaFolderOptions {
  /** Media file extensions, lower case without the dot. */
  readonly exts: readonly string[];
  /** What the media files are, for messages ("images", "audio files", "clips"). */
  readonly what: string;
  /** Extensions of the text file beside each media file, first found wins; stored as `txt`. */
  readonly textExts: readonly string[];
  /** Key for a file whose name has nothing usable. */
  readonly keyFallback: string;
  readonly samplesPerShard: number;
  /** How a media extension is stored (e.g. jpeg → jpg); default unchanged. */
  readonly storedExt?: (ext: string) => string;
  /** Read `<stem>.json` beside a file into the sample's meta (a bad one is recorded as `metaError`). */
  readonly metaJson?: boolean;
}

/**
 * Sample keys from file names for one import: unsafe characters become `_`, at most 80 characters,
 * `fallback` for a name with nothing usable, and `_2`, `_3`… for a key already given.
 */
export function uniqueSampleKeys(fallback: string): (wanted: string) => string {
  const used = new Set<string>();
  return (wanted) => {
    const safe = wanted.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 80) || fallback;
    let key = safe;
    for (let i = 2; used.has(key); i++) key = `${safe.slice(0, 70)}_${i}`;
    used.add(key);
    return key;
  };
}

/** Writes the folder's media files (sorted by name) as a dataset in `datasetDir`; returns how many. */
export async function importMediaFolder(folder: string, datasetDir: string, o: MediaFolderOptions): Promise<number> {
  const names = (await readdir(folder)).sort();
  const media = names.filter((n) => o.exts.includes(extname(n).slice(1).toLowerCase()));
  if (media.length === 0) throw new HerdError('invalid_argument', `${folder}: no dataset manifest (${MANIFEST_FILE}) and no ${o.what} (${o.exts.join(', ')})`);
  const keyOf = uniqueSampleKeys(o.keyFallback);
  async function* samples(): AsyncGenerator<Sample> {
    for (const name of media) {
      const stem = basename(name, extname(name));
      const key = keyOf(stem);
      const ext = extname(name).slice(1).toLowerCase();
      const files: Record<string, Uint8Array> = { [o.storedExt ? o.storedExt(ext) : ext]: new Uint8Array(await readFile(join(folder, name))) };
      for (const t of o.textExts) {
        const p = join(folder, `${stem}.${t}`);
        if (existsSync(p)) {
          files['txt'] = new Uint8Array(await readFile(p));
          break;
        }
      }
      yield { key, files, meta: o.metaJson ? await sideMeta(folder, stem, name) : { source: name } };
    }
  }
  await writeDataset(datasetDir, samples(), { samplesPerShard: o.samplesPerShard, name: basename(folder), info: { importedFrom: folder } });
  return media.length;
}

async function sideMeta(folder: string, stem: string, name: string): Promise<Record<string, unknown>> {
  const metaPath = join(folder, `${stem}.json`);
  if (!existsSync(metaPath)) return { source: name };
  try {
    const m: unknown = JSON.parse(await readFile(metaPath, 'utf8'));
    return isRecord(m) ? { ...m, source: name } : { source: name, metaError: `${stem}.json is not a JSON object` };
  } catch (e) {
    return { source: name, metaError: `${stem}.json: ${(e as Error).message}` };
  }
}

/**
 * The dataset a curation run reads: `input` itself when it holds one, else (a plain folder) its
 * import, written once beside `output` and reused on a re-run.
 */
export async function curationInput(input: string, output: string, what: string, importFolder: (folder: string, datasetDir: string) => Promise<unknown>): Promise<string> {
  if (!(await stat(input).catch(() => null))?.isDirectory()) throw new HerdError('invalid_argument', `${what}: input ${input} is not a folder`);
  if (existsSync(join(input, MANIFEST_FILE))) return input;
  const datasetIn = `${output.replace(/\/+$/, '')}.import`;
  const there = await stat(datasetIn).catch(() => null);
  if (there && !there.isDirectory()) throw new HerdError('invalid_argument', `${what}: ${datasetIn} (where the folder ${input} is imported as shards) exists and is not a folder; move it or choose another output`);
  if (!existsSync(join(datasetIn, MANIFEST_FILE))) await importFolder(input, datasetIn);
  return datasetIn;
}
