/**
 * Scores a speech curation run against labelled noise (the synthetic world's `meta.noise`): for each
 * stage, which noise kinds it is meant to drop, how many of those it dropped (recall) and how many of
 * its drops were such samples (precision). A duplicate drop is right when the dropped sample and the
 * one kept for it are the same recording (one is labelled a copy of the other, or both copy a third).
 */
export interface LabelledSample {
  key: string;
  /** `meta.noise`: null for a clean sample. */
  noise: string | null;
  /** `meta.duplicateOf` for a copy. */
  duplicateOf?: string;
}

export interface Drop {
  key: string;
  stage: string;
  reason: string;
}

/** The noise kinds each stage is meant to catch. `mismatched_caption` needs an ASR model (none yet). */
export const STAGE_TARGETS: Readonly<Record<string, readonly string[]>> = {
  text_safety: [],
  transcript: ['junk_transcript'],
  language: ['wrong_language_transcript'],
  audio: ['truncated'],
  duration: ['fragment'],
  snr: ['noisy', 'noise_only'],
  vad: ['silent'],
  clipping: ['clipped'],
  duplicate: ['exact_duplicate', 'near_duplicate'],
};

export interface StageScore {
  stage: string;
  targets: readonly string[];
  labelled: number;
  dropped: number;
  right: number;
  /** right / dropped (null when nothing was dropped). */
  precision: number | null;
  /** caught targets / labelled (null when nothing is labelled). */
  recall: number | null;
}

export interface CurationScore {
  stages: StageScore[];
  /** Noisy samples (any kind but mismatched_caption) dropped by some stage / all of them. */
  overallRecall: number;
  /** Clean samples dropped by some stage. */
  cleanDropped: number;
  clean: number;
  /** Noise kinds no stage is meant to catch, with their counts. */
  uncovered: Record<string, number>;
}

export function scoreCuration(samples: readonly LabelledSample[], drops: readonly Drop[]): CurationScore {
  const byKey = new Map(samples.map((s) => [s.key, s]));
  const root = (k: string): string => byKey.get(k)?.duplicateOf ?? k;
  const dropOf = new Map(drops.map((d) => [d.key, d]));
  const stages: StageScore[] = [];
  for (const [stage, targets] of Object.entries(STAGE_TARGETS)) {
    const mine = drops.filter((d) => d.stage === stage);
    const labelled = samples.filter((s) => s.noise !== null && targets.includes(s.noise));
    let right = 0;
    let caught = 0;
    for (const d of mine) {
      const s = byKey.get(d.key);
      if (stage === 'duplicate') {
        const kept = /^duplicate-of:(.+)$/.exec(d.reason)?.[1];
        if (kept !== undefined && root(kept) === root(d.key)) right++;
      } else if (s && s.noise !== null && targets.includes(s.noise)) right++;
    }
    if (stage === 'duplicate') {
      // Every copy is one recording too many: a group of n copies of one source should lose n.
      for (const s of labelled) {
        const group = samples.filter((x) => root(x.key) === root(s.key));
        const lost = group.filter((x) => dropOf.get(x.key)?.stage === 'duplicate').length;
        if (lost > 0) caught += Math.min(1, lost / (group.length - 1));
      }
      caught = Math.round(caught);
    } else caught = labelled.filter((s) => dropOf.get(s.key)?.stage === stage).length;
    stages.push({
      stage,
      targets,
      labelled: labelled.length,
      dropped: mine.length,
      right,
      precision: mine.length === 0 ? null : right / mine.length,
      recall: labelled.length === 0 ? null : caught / labelled.length,
    });
  }
  const covered = new Set(Object.values(STAGE_TARGETS).flat());
  const noisy = samples.filter((s) => s.noise !== null && covered.has(s.noise));
  const uncovered: Record<string, number> = {};
  for (const s of samples) if (s.noise !== null && !covered.has(s.noise)) uncovered[s.noise] = (uncovered[s.noise] ?? 0) + 1;
  const clean = samples.filter((s) => s.noise === null);
  return {
    stages: stages.filter((s) => s.labelled > 0 || s.dropped > 0),
    overallRecall: noisy.length === 0 ? 1 : noisy.filter((s) => dropOf.has(s.key)).length / noisy.length,
    cleanDropped: clean.filter((s) => dropOf.has(s.key)).length,
    clean: clean.length,
    uncovered,
  };
}
