import { createHash } from 'node:crypto';
import type { Sample } from '../sample.js';
import type { GlobalStage } from './stage.js';

export interface ExactDuplicateOptions {
  name?: string;
  /** Extensions whose bytes are compared (default: every file; the meta is never compared). */
  exts?: readonly string[];
}

/** sha256 over the chosen files, each framed by its extension and length so that no two layouts collide. */
export function mediaHash(sample: Sample, exts?: readonly string[]): string | null {
  const chosen = (exts ?? Object.keys(sample.files)).filter((e) => sample.files[e] !== undefined).sort();
  if (chosen.length === 0) return null;
  const h = createHash('sha256');
  for (const ext of chosen) {
    const data = sample.files[ext] as Uint8Array;
    h.update(`${ext}\0${data.byteLength}\0`);
    h.update(data);
  }
  return h.digest('hex');
}

/**
 * Drops every sample whose media bytes equal those of an earlier sample (dataset order), naming the
 * one that was kept: `exact_duplicate: same bytes as <key>`. Samples without the chosen files are kept.
 */
export function exactDuplicate(options: ExactDuplicateOptions = {}): GlobalStage<string | null> {
  return {
    kind: 'global',
    name: options.name ?? 'exact_duplicate',
    version: options.exts ? options.exts.join(',') : 'all',
    prepare: (sample) => mediaHash(sample, options.exts),
    // Only equal hashes can be duplicates: the runner decides one slice of hashes at a time.
    partitionBy: (hash) => hash,
    decide(features) {
      const first = new Map<string, string>();
      const drops = new Map<string, string>();
      for (const [key, hash] of features) {
        if (hash === null) continue;
        const original = first.get(hash);
        if (original === undefined) first.set(hash, key);
        else drops.set(key, `exact_duplicate: same bytes as ${original}`);
      }
      return drops;
    },
  };
}
