/**
 * BEST-RQ's random-projection quantizer (Chiu et al. 2022, §3.1; Llama 3 paper §7.1 Speech): the
 * targets of self-supervised pre-training. Stack `stack` normalised log-mel frames (4 × 80 = 320
 * dims, one target per 40 ms encoder frame), project with a frozen random matrix to `codeDim` (16),
 * and take the index of the nearest vector by cosine similarity in each of `codebooks` frozen random
 * codebooks (16 × 8,192 in the paper). Nothing here is trained; the matrices are a function of the
 * seed, so targets can be computed once per utterance and cached.
 *
 * Legend: T input frames, F mel bins, S = ⌊T / stack⌋ encoder frames, I = stack·F, C codebook size.
 */
import { HerdError, Rng } from '@herd/core';
import { type SpeechConfig } from '../config.js';
import { type LogMelFeatures } from '../data/log-mel.js';

export class RandomProjectionQuantizer {
  /** [I, codeDim], Xavier-normal (BEST-RQ initialises the projection with Xavier). */
  readonly projection: Float32Array;
  /** [codebooks, C, codeDim], standard normal rows scaled to unit length. */
  readonly codebooks: Float32Array;
  readonly inDim: number;

  constructor(readonly config: SpeechConfig, readonly seed: number) {
    const { stack, nMels, bestRq: q } = config;
    this.inDim = stack * nMels;
    const rng = new Rng(seed);
    const std = Math.sqrt(2 / (this.inDim + q.codeDim));
    this.projection = Float32Array.from({ length: this.inDim * q.codeDim }, () => rng.normal() * std);
    this.codebooks = new Float32Array(q.codebooks * q.codebookSize * q.codeDim);
    for (let r = 0; r < q.codebooks * q.codebookSize; r++) {
      const row = this.codebooks.subarray(r * q.codeDim, (r + 1) * q.codeDim);
      for (let j = 0; j < q.codeDim; j++) row[j] = rng.normal();
      normalise(row);
    }
  }

  /** Encoder frames for `frames` input frames (a trailing partial stack is dropped). */
  frames(inputFrames: number): number {
    return Math.floor(inputFrames / this.config.stack);
  }

  /**
   * Targets [S, codebooks] (row-major). The features are first normalised per mel bin to zero mean
   * and unit variance over the utterance: BEST-RQ found normalisation critical for the random
   * projection not to collapse onto a few codes.
   */
  targets(features: LogMelFeatures, source = 'utterance'): Int32Array {
    const { stack, nMels: F, bestRq: q } = this.config;
    if (features.nMels !== F) throw new HerdError('shape_mismatch', `${source}: features have ${features.nMels} mel bins, the quantizer expects ${F}`);
    const S = this.frames(features.frames);
    if (S < 1) throw new HerdError('invalid_argument', `${source}: ${features.frames} frames is fewer than one stack of ${stack}`);
    const T = S * stack;
    const x = normalisePerBin(features.data, T, F);
    const out = new Int32Array(S * q.codebooks);
    const y = new Float32Array(q.codeDim);
    const { projection: P, codebooks: CB } = this;
    const C = q.codebookSize;
    for (let s = 0; s < S; s++) {
      // y = x[s·I : (s+1)·I] · P — the stacked frames are contiguous in the [T, F] layout.
      y.fill(0);
      const base = s * this.inDim;
      for (let i = 0; i < this.inDim; i++) {
        const v = x[base + i]!;
        const row = i * q.codeDim;
        for (let j = 0; j < q.codeDim; j++) y[j] = y[j]! + v * P[row + j]!;
      }
      normalise(y);
      for (let b = 0; b < q.codebooks; b++) {
        let best = 0;
        let bestDot = -Infinity;
        const book = b * C * q.codeDim;
        for (let c = 0; c < C; c++) {
          let d = 0;
          const o = book + c * q.codeDim;
          for (let j = 0; j < q.codeDim; j++) d += y[j]! * CB[o + j]!;
          if (d > bestDot) (bestDot = d), (best = c);
        }
        out[s * q.codebooks + b] = best;
      }
    }
    return out;
  }
}

function normalise(v: Float32Array): void {
  let n = 0;
  for (const x of v) n += x * x;
  const inv = 1 / Math.max(Math.sqrt(n), 1e-12);
  for (let i = 0; i < v.length; i++) v[i]! *= inv;
}

/** The first T frames of [.., F] data, each bin shifted and scaled to mean 0, variance 1. */
function normalisePerBin(data: Float32Array, T: number, F: number): Float32Array {
  const out = new Float32Array(T * F);
  for (let f = 0; f < F; f++) {
    let mean = 0;
    for (let t = 0; t < T; t++) mean += data[t * F + f]!;
    mean /= T;
    let v = 0;
    for (let t = 0; t < T; t++) v += (data[t * F + f]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / T + 1e-5);
    for (let t = 0; t < T; t++) out[t * F + f] = (data[t * F + f]! - mean) * inv;
  }
  return out;
}

/**
 * Entropy (nats) of the codes' marginal distribution, averaged over codebooks: the loss of a
 * predictor that knows only how often each code occurs. Pre-training has learnt something about
 * speech when its masked-frame loss on held-out audio falls below this.
 */
export function codeEntropy(targets: readonly Int32Array[], codebooks: number, codebookSize: number, keep?: readonly Uint8Array[]): number {
  let total = 0;
  for (let b = 0; b < codebooks; b++) {
    const counts = new Float64Array(codebookSize);
    let n = 0;
    targets.forEach((t, u) => {
      const k = keep?.[u];
      for (let s = 0; s < t.length / codebooks; s++) {
        if (k && !k[s]) continue;
        counts[t[s * codebooks + b]!]!++;
        n++;
      }
    });
    let h = 0;
    for (const c of counts) if (c > 0) h -= (c / n) * Math.log(c / n);
    total += h;
  }
  return total / codebooks;
}
