/**
 * Audits the near-duplicate decisions of a finished image curation run against the generator's
 * labels: each `duplicate-of` drop is right when the dropped sample and the kept one share a source
 * (a labelled copy and its original, or two copies of one original); wrong drops are split by how
 * different the two scenes really are (the very same scene rendered twice — a perceptual duplicate the
 * labels do not know —, the same objects on another background, different objects). Recall: labelled
 * copies whose source also reached the stage, and whether one of the two was dropped.
 *
 *   node bench/dist/curate-dedup-audit.js INPUT_DATASET CURATED_OUTPUT
 *
 * Prints JSON. Asserts nothing.
 */
import { readFileSync } from 'node:fs';
import { isUnreadable, iterateDataset } from '@herd/data';
import { benchArgs } from './bench-args.js';

const cli = benchArgs({
  about: "Audits the near-duplicate drops of a finished image curation run against the generator's labels: precision (wrong drops split by how different the scenes are) and recall per noise kind.",
  writes: 'JSON to stdout (nothing to bench/results)',
  flags: {},
  positionals: ['INPUT_DATASET', 'CURATED_OUTPUT'],
});
const [input, output] = cli.positionals as [string, string];
interface Info { noise: string; dupOf: string | null; scene: string; objects: string }
const meta = new Map<string, Info>();
for await (const s of iterateDataset(input, { tolerant: true })) {
  if (isUnreadable(s)) continue;
  const scene = s.meta['scene'] as { objects?: unknown; word?: unknown } | undefined;
  meta.set(s.key, { noise: String(s.meta['noise'] ?? 'clean'), dupOf: (s.meta['duplicateOf'] as string | undefined) ?? null, scene: JSON.stringify(scene), objects: JSON.stringify([scene?.objects, scene?.word]) });
}
const kept = new Set<string>();
for await (const s of iterateDataset(output, { tolerant: true })) if (!isUnreadable(s)) kept.add(s.key);
const drops = readFileSync(`${output}/drops.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { key: string; stage: string; reason: string });
const source = (k: string): string => meta.get(k)?.dupOf ?? k;
const dedup = drops.filter((d) => d.reason.startsWith('duplicate-of:'));
const wrong = { sameScene: 0, sameObjectsOtherBackground: 0, differentObjects: 0 };
let right = 0;
for (const d of dedup) {
  const to = d.reason.slice('duplicate-of:'.length);
  if (source(d.key) === source(to)) right++;
  else {
    const a = meta.get(source(d.key))!;
    const b = meta.get(source(to))!;
    if (a.scene === b.scene) wrong.sameScene++;
    else if (a.objects === b.objects) wrong.sameObjectsOtherBackground++;
    else wrong.differentObjects++;
  }
}
// Samples that reached the near-duplicate stage: kept, or dropped by it or a later stage.
const reached = new Set(kept);
for (const d of drops) if (d.stage === 'near_duplicate' || d.stage === 'resample' || d.stage === 'ocr') reached.add(d.key);
const recall: Record<string, { pairs: number; resolved: number }> = {};
for (const [k, m] of meta) {
  if (m.dupOf === null || !reached.has(k) || !reached.has(m.dupOf)) continue;
  const r = (recall[m.noise] ??= { pairs: 0, resolved: 0 });
  r.pairs++;
  if (!(kept.has(k) && kept.has(m.dupOf))) r.resolved++;
}
console.log(JSON.stringify({ input, output, dedupDrops: dedup.length, right, precision: right / Math.max(1, dedup.length), wrong, precisionCountingSameScene: (right + wrong.sameScene) / Math.max(1, dedup.length), recall }, null, 2));
