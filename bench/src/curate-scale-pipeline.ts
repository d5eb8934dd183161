// The two-pass pipeline of bench/src/curate-scale.ts, importable by queue workers: a per-sample
// caption check, then a global exact-duplicate stage over the caption (samples are meta-only, so
// that 10M of them fit the disk: one 1 KiB tar member each).
import { createHash } from 'node:crypto';
import { metaFilter, type GlobalStage, type Stage } from '@herd/data';

const captionDedup: GlobalStage<string> = {
  kind: 'global',
  name: 'dedup',
  prepare: (s) => createHash('sha1').update(String(s.meta.caption)).digest('base64'),
  partitionBy: (hash) => hash,
  decide(features) {
    const first = new Map<string, string>();
    const drops = new Map<string, string>();
    for (const [key, hash] of features) {
      const original = first.get(hash);
      if (original === undefined) first.set(hash, key);
      else drops.set(key, `exact_duplicate: same caption as ${original}`);
    }
    return drops;
  },
};

export function pipeline(): Stage[] {
  return [metaFilter('caption', (m) => typeof m.caption === 'string' && m.caption.length >= 3, (s) => `caption_too_short: ${String(s.meta.caption).length} < 3`), captionDedup];
}
