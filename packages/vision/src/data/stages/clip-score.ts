/**
 * Image–text similarity filter (Llama 3 paper §7.1.1: pairs with a low CLIP score are removed). The
 * scorer is a function so that the project's CLIP-style model plugs in once it is trained; until then
 * the stage is tested with simple scorers. Two modes: an absolute threshold (a sample stage), or
 * keeping the best fraction of the dataset (a global stage over the scores the first one recorded).
 * Scores: `meta.curation.clip = {score}`.
 */
import { HerdError } from '@herd/core';
import { drop, keep, type GlobalStage, type Sample, type SampleStage, type StageResult } from '@herd/data';
import { decodeImage } from '@herd/media';
import { type MiniClip } from '../../train/clip-mini.js';
import { tileImage, type TiledImage } from '../tiling.js';
import { captionOf, imageFileOf, scoreOf, withScores } from './meta.js';

/** Image–text similarity of one sample (higher = better matched), e.g. cosine of CLIP embeddings. */
export type ImageTextScorer = (sample: Sample) => Promise<number> | number;

/**
 * The project's mini CLIP as a scorer: the cosine of the sample's image and caption embeddings. A
 * sample without a decodable image or a UTF-8 caption scores NaN (the stage drops it with a reason;
 * the quality stages before it normally have).
 */
export function miniClipScorer(clip: MiniClip): ImageTextScorer {
  return async (sample) => {
    const file = imageFileOf(sample);
    const caption = captionOf(sample);
    if (file === undefined || !('text' in caption)) return Number.NaN;
    let tiled;
    try {
      tiled = tileImage(await decodeImage(file.bytes, { name: `${sample.key}.${file.ext}` }), clip.config.vision);
    } catch {
      return Number.NaN;
    }
    return (await clip.scorePairs([tiled], [caption.text]))[0] as number;
  };
}

/** Scores of several samples in one call (one per sample, in order): a model that runs B pairs at once. */
export type BatchImageTextScorer = (samples: readonly Sample[]) => Promise<number[]> | number[];

/**
 * The mini CLIP scoring many samples per call: each image decoded and tiled, then every pair with
 * an image and a caption goes through `clip.scorePairs` together (the model's batch size per ONNX
 * call). Same scores as `miniClipScorer` (NaN for the same samples).
 */
export function miniClipBatchScorer(clip: MiniClip): BatchImageTextScorer {
  return async (samples) => {
    const scores = samples.map(() => Number.NaN);
    const at: number[] = [];
    const images: TiledImage[] = [];
    const captions: string[] = [];
    for (const [i, sample] of samples.entries()) {
      const file = imageFileOf(sample);
      const caption = captionOf(sample);
      if (file === undefined || !('text' in caption)) continue;
      try {
        images.push(tileImage(await decodeImage(file.bytes, { name: `${sample.key}.${file.ext}` }), clip.config.vision));
      } catch {
        continue;
      }
      captions.push(caption.text);
      at.push(i);
    }
    if (images.length > 0) (await clip.scorePairs(images, captions)).forEach((s, j) => (scores[at[j] as number] = s));
    return scores;
  };
}

export interface ClipScoreOptions {
  name?: string;
  score: ImageTextScorer;
  /** Drop samples scoring below this; omit to only record the score (for `clipTopFraction`). */
  threshold?: number;
  /** Names the scorer in the run fingerprint (a new model must not mix with old decisions). */
  scorerId?: string;
  /** The same scorer over many samples per call: the stage then gets the runner's batch hook. */
  scoreBatch?: BatchImageTextScorer;
  /** Samples per `scoreBatch` call (default 16). */
  batchSize?: number;
}

export function clipScore(options: ClipScoreOptions): SampleStage {
  if (typeof options.score !== 'function') throw new HerdError('invalid_argument', 'clipScore: score must be a function (sample) => number');
  const name = options.name ?? 'clip';
  const verdict = (sample: Sample, score: number): StageResult => {
    if (!Number.isFinite(score)) return drop(`clip_score_failed: scorer returned ${score}`);
    if (options.threshold !== undefined && score < options.threshold) return drop(`low_clip_score: ${score.toFixed(4)} < ${options.threshold}`);
    return keep(withScores(sample, name, { score: Number(score.toFixed(6)) }));
  };
  const stage: SampleStage = {
    kind: 'sample',
    name,
    version: JSON.stringify([options.scorerId ?? 'unnamed', options.threshold ?? null]),
    async process(sample) {
      return verdict(sample, await options.score(sample));
    },
  };
  const scoreBatch = options.scoreBatch;
  if (scoreBatch === undefined) return stage;
  const batchSize = options.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new HerdError('invalid_argument', `clipScore: batchSize must be an integer ≥ 1, got ${batchSize}`);
  return {
    ...stage,
    batchSize,
    async processBatch(samples) {
      const scores = await scoreBatch(samples);
      if (scores.length !== samples.length) throw new HerdError('runtime_error', `clipScore: batch scorer returned ${scores.length} scores for ${samples.length} samples`);
      return samples.map((s, i) => verdict(s, scores[i] as number));
    },
  };
}

export interface ClipTopFractionOptions {
  name?: string;
  /** Keep this fraction (0, 1] of the scored samples, best first. */
  fraction: number;
  /** The stage whose `meta.curation.<from>.score` is ranked (default `clip`). */
  from?: string;
}

/** Keeps the best `fraction` of samples by the recorded CLIP score; ties broken by dataset order. Unscored samples are kept. */
export function clipTopFraction(options: ClipTopFractionOptions): GlobalStage<number | null> {
  if (!(options.fraction > 0 && options.fraction <= 1)) throw new HerdError('invalid_argument', `clipTopFraction: fraction must be in (0, 1], got ${options.fraction}`);
  const from = options.from ?? 'clip';
  return {
    kind: 'global',
    name: options.name ?? 'clip_top_fraction',
    version: JSON.stringify([options.fraction, from]),
    prepare(sample) {
      const s = scoreOf(sample, from, 'score');
      return typeof s === 'number' ? s : null;
    },
    decide(features) {
      const scored = [...features].filter((e): e is [string, number] => e[1] !== null);
      const order = scored.map((e, i) => [e, i] as const).sort((a, b) => b[0][1] - a[0][1] || a[1] - b[1]);
      const keepN = Math.ceil(options.fraction * scored.length);
      const cut = order[keepN - 1]?.[0][1];
      const drops = new Map<string, string>();
      for (const [[key, score]] of order.slice(keepN)) drops.set(key, `below_clip_top_fraction: ${score.toFixed(4)} < ${cut?.toFixed(4)} (top ${options.fraction})`);
      return drops;
    },
  };
}
