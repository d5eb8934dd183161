import { HerdError } from '@herd/core';

/**
 * One training example: media and text files keyed by extension ("png", "wav", "txt", ...) and JSON
 * metadata. In a shard, each file is the tar entry `<key>.<ext>` and the metadata is `<key>.json`.
 */
export interface Sample {
  key: string;
  files: Record<string, Uint8Array>;
  meta: Record<string, unknown>;
}

/**
 * What a tolerant reader yields in place of a sample it could not read, so that the runner can drop
 * it with reason `unreadable: <detail>` and go on. `key` is the sample's key where it is known,
 * otherwise `<shard file>#<n>`.
 */
export interface Unreadable {
  readonly kind: 'unreadable';
  readonly key: string;
  readonly shard: string;
  readonly detail: string;
}

export function isUnreadable(item: Sample | Unreadable): item is Unreadable {
  return (item as Partial<Unreadable>).kind === 'unreadable';
}

// WebDataset splits an entry name at the first dot of its last path part, so keys hold no dots. The
// whole entry name must fit the 100-byte ustar name field: one 512-byte header per entry keeps the
// byte offsets in the index plain arithmetic.
const KEY_RE = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/;
const EXT_RE = /^[a-z0-9_]+(\.[a-z0-9_]+)*$/;
export const MAX_ENTRY_NAME = 100;
/** Limits on stored meta, the same the reader applies: deep JSON exhausts recursive code, huge JSON memory. */
export const MAX_META_DEPTH = 64;
export const MAX_META_CHARS = 16 * 2 ** 20;

/** Nesting depth of JSON text, counted without parsing. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** Problems with a sample as a list of messages (empty when it can be written). */
export function sampleProblems(sample: Sample): string[] {
  const problems: string[] = [];
  const { key } = sample;
  if (typeof key !== 'string' || !KEY_RE.test(key)) {
    problems.push(`key ${JSON.stringify(key)} must be letters, digits, "_" or "-", in parts joined by "/" (no dots)`);
  }
  if (typeof sample.files !== 'object' || sample.files === null) {
    problems.push('files must be an object mapping extension to bytes');
  } else {
    for (const [ext, bytes] of Object.entries(sample.files)) {
      if (ext === 'json') problems.push('files must not hold "json": metadata goes in meta and is stored as <key>.json');
      else if (!EXT_RE.test(ext)) problems.push(`file extension ${JSON.stringify(ext)} must be lower-case letters, digits and "_", parts joined by "."`);
      if (!(bytes instanceof Uint8Array)) problems.push(`files.${ext} must be a Uint8Array, got ${typeof bytes}`);
      if (typeof key === 'string' && key.length + 1 + ext.length > MAX_ENTRY_NAME) {
        problems.push(`entry name "${key}.${ext}" is longer than ${MAX_ENTRY_NAME} characters`);
      }
    }
  }
  if (typeof sample.meta !== 'object' || sample.meta === null || Array.isArray(sample.meta)) {
    problems.push('meta must be a plain object');
  } else {
    let json: string | undefined;
    try {
      json = JSON.stringify(sample.meta);
    } catch (e) {
      problems.push(`meta cannot be stored as JSON: ${(e as Error).message}`);
    }
    if (json !== undefined) {
      if (json.length > MAX_META_CHARS) problems.push(`meta JSON is ${json.length} characters (limit ${MAX_META_CHARS})`);
      else if (jsonDepth(json) > MAX_META_DEPTH) problems.push(`meta JSON is nested ${jsonDepth(json)} levels deep (limit ${MAX_META_DEPTH})`);
    }
  }
  return problems;
}

export function assertValidSample(sample: Sample, where: string): void {
  const problems = sampleProblems(sample);
  if (problems.length > 0) {
    const name = typeof sample?.key === 'string' ? `sample "${sample.key}"` : 'a sample';
    throw new HerdError('invalid_argument', `${where}: ${name} cannot be stored:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Splits a tar entry name into sample key and extension (WebDataset rule); undefined when it has no extension. */
export function splitEntryName(name: string): { key: string; ext: string } | undefined {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  if (dot <= slash + 1 || dot === name.length - 1) return undefined;
  return { key: name.slice(0, dot), ext: name.slice(dot + 1) };
}
