/**
 * Scores a curation run against labelled noise (the synthetic world labels every noisy clip in
 * `meta.noise`): per stage, precision (of its drops, how many were the noise it is meant for) and
 * recall (of that noise which reached the stage, how much it dropped), plus the motion
 * target — the share of static clips removed and of moving clips the motion stage lost.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HerdError } from '@herd/core';
import { DROPS_FILE, type DropRecord } from '@herd/data';

/** Which labelled noise each stage is meant to remove. */
export const VIDEO_STAGE_TARGETS: Readonly<Record<string, readonly string[]>> = {
  language: ['non_english_caption'],
  video_quality: ['truncated', 'blank', 'tiny'],
  motion: ['static_clip'],
  clip_frame: ['mismatched_caption'],
  clip_video: ['mismatched_caption'],
  ocr_overlay: ['subtitles'],
  exact_duplicate: ['exact_duplicate'],
  near_duplicate: ['near_duplicate'],
};

export interface LabelledClip {
  key: string;
  /** `meta.noise`: null for a clean clip. */
  noise: string | null;
  /** Some object in the clip moves, appears or disappears (from the generator's ground truth). */
  moving: boolean;
}

export interface StageScore {
  stage: string;
  meantFor: readonly string[];
  /** Labelled samples of those kinds in the input. */
  labelled: number;
  /** …of which an earlier stage had already dropped. */
  goneBefore: number;
  dropped: number;
  /** Drops that were one of the kinds it is meant for. */
  right: number;
  precision: number | null;
  recall: number | null;
  /** Drops by reason code → noise label → count (what the wrong drops were). */
  confusion: Record<string, Record<string, number>>;
}

export interface CurationScore {
  stages: StageScore[];
  static: { labelled: number; removed: number; share: number | null };
  moving: { reachedMotion: number; lostToMotion: number; share: number | null };
  /** Clean clips (no noise label) dropped by any stage. */
  clean: { total: number; dropped: number };
}

/** The generator's clip meta → a label (`moving` from meta.objects' motion kinds). */
export function clipLabel(key: string, meta: Record<string, unknown>): LabelledClip {
  const objects = Array.isArray(meta['objects']) ? (meta['objects'] as { motion?: { kind?: string } }[]) : [];
  return { key, noise: typeof meta['noise'] === 'string' ? meta['noise'] : null, moving: objects.some((o) => o.motion?.kind !== undefined && o.motion.kind !== 'still') };
}

/** `stages`: the pipeline's stage names in order (earlier stages' drops do not count against later ones). */
export function scoreCuration(clips: readonly LabelledClip[], drops: ReadonlyMap<string, { stage: string; reason: string }>, stages: readonly string[]): CurationScore {
  const order = new Map(stages.map((s, i) => [s, i]));
  const at = (key: string): number => {
    const d = drops.get(key);
    return d === undefined ? Infinity : (order.get(d.stage) ?? -1);
  };
  const out: StageScore[] = [];
  for (const stage of stages) {
    const meantFor = VIDEO_STAGE_TARGETS[stage];
    if (meantFor === undefined) continue;
    const idx = order.get(stage)!;
    const labelled = clips.filter((c) => c.noise !== null && meantFor.includes(c.noise));
    const goneBefore = labelled.filter((c) => at(c.key) < idx).length;
    const mine = clips.filter((c) => drops.get(c.key)?.stage === stage);
    const right = mine.filter((c) => c.noise !== null && meantFor.includes(c.noise)).length;
    const confusion: Record<string, Record<string, number>> = {};
    for (const c of mine) {
      const code = drops.get(c.key)!.reason.split(':')[0]!;
      const label = c.noise ?? 'clean';
      (confusion[code] ??= {})[label] = (confusion[code]![label] ?? 0) + 1;
    }
    const reached = labelled.length - goneBefore;
    out.push({ stage, meantFor, labelled: labelled.length, goneBefore, dropped: mine.length, right, precision: mine.length ? right / mine.length : null, recall: reached ? right / reached : null, confusion });
  }
  const statics = clips.filter((c) => c.noise === 'static_clip');
  const removed = statics.filter((c) => drops.has(c.key)).length;
  const motionIdx = order.get('motion') ?? Infinity;
  const moving = clips.filter((c) => c.moving);
  const reachedMotion = moving.filter((c) => at(c.key) >= motionIdx);
  const lostToMotion = reachedMotion.filter((c) => drops.get(c.key)?.stage === 'motion').length;
  const clean = clips.filter((c) => c.noise === null);
  return {
    stages: out,
    static: { labelled: statics.length, removed, share: statics.length ? removed / statics.length : null },
    moving: { reachedMotion: reachedMotion.length, lostToMotion, share: reachedMotion.length ? lostToMotion / reachedMotion.length : null },
    clean: { total: clean.length, dropped: clean.filter((c) => drops.has(c.key)).length },
  };
}

/** The drops of a finished run (output/drops.jsonl), by key. */
export async function readDrops(output: string): Promise<Map<string, DropRecord>> {
  const text = await readFile(join(output, DROPS_FILE), 'utf8');
  const drops = new Map<string, DropRecord>();
  for (const line of text.split('\n')) if (line.trim()) {
    const d = JSON.parse(line) as DropRecord;
    drops.set(d.key, d);
  }
  return drops;
}

const pct = (v: number | null): string => (v === null ? '–' : `${(100 * v).toFixed(1)} %`);

/** A markdown table of the score, for benches and reports. */
export function scoreTable(s: CurationScore): string {
  const lines = ['| stage | meant to drop | labelled (gone before) | dropped | right | precision | recall |', '|---|---|---|---|---|---|---|'];
  for (const r of s.stages) lines.push(`| ${r.stage} | ${r.meantFor.join(', ')} | ${r.labelled} (${r.goneBefore}) | ${r.dropped} | ${r.right} | ${pct(r.precision)} | ${pct(r.recall)} |`);
  lines.push('', `static clips removed: ${s.static.removed}/${s.static.labelled} (${pct(s.static.share)}); moving clips lost to the motion stage: ${s.moving.lostToMotion}/${s.moving.reachedMotion} (${pct(s.moving.share)}); clean clips dropped by any stage: ${s.clean.dropped}/${s.clean.total}`);
  return lines.join('\n');
}

/**
 * A drop threshold from validation scores of good samples (samples scoring < threshold are dropped).
 *
 * Without `confidence`: the highest value that leaves at most `maxLost` of them below it — the
 * empirical quantile, which on a small validation set often loses more than `maxLost` on fresh data
 * (140 good clips: 4.3 % lost on validation, 8.6 % on test).
 *
 * With `confidence` (e.g. 0.95): the highest order statistic X_(k) for which the share of *all* good
 * samples below it is at most `maxLost` with that confidence. For a continuous score that share is
 * Beta(k, n − k + 1)-distributed, and P(Beta(k, n − k + 1) ≤ p) = P(Binomial(n, p) ≥ k), so k is the
 * largest with P(Binomial(n, maxLost) ≥ k) ≥ confidence. When even the lowest score cannot promise
 * that (too few samples), it is the lowest score.
 */
export function thresholdLosing(good: readonly number[], maxLost: number, confidence?: number): number {
  if (good.length === 0) throw new HerdError('invalid_argument', 'thresholdLosing: no good scores to choose from');
  if (!(maxLost >= 0 && maxLost < 1)) throw new HerdError('invalid_argument', `thresholdLosing: maxLost must be in [0, 1), got ${maxLost}`);
  const sorted = [...good].sort((a, b) => a - b);
  if (confidence === undefined) return sorted[Math.floor(maxLost * sorted.length)]!;
  if (!(confidence > 0 && confidence < 1)) throw new HerdError('invalid_argument', `thresholdLosing: confidence must be in (0, 1), got ${confidence}`);
  const n = sorted.length;
  let k = 1;
  while (k < n && binomialAtLeast(n, maxLost, k + 1) >= confidence) k++;
  return sorted[k - 1]!;
}

/** P(Binomial(n, p) ≥ k), summed in log space (n up to millions is fine). */
export function binomialAtLeast(n: number, p: number, k: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  // P(X < k) = Σ_{i<k} C(n,i) p^i (1−p)^(n−i), terms built by their ratio.
  let logTerm = n * Math.log1p(-p); // i = 0
  let below = 0;
  for (let i = 0; i < k; i++) {
    below += Math.exp(logTerm);
    logTerm += Math.log((n - i) / (i + 1)) + Math.log(p) - Math.log1p(-p);
  }
  return Math.max(0, 1 - below);
}

/** Area under the ROC curve: the chance a good sample scores above a bad one (ties count half). */
export function rocAuc(good: readonly number[], bad: readonly number[]): number | null {
  if (good.length === 0 || bad.length === 0) return null;
  let wins = 0;
  for (const g of good) for (const b of bad) wins += g > b ? 1 : g === b ? 0.5 : 0;
  return wins / (good.length * bad.length);
}
