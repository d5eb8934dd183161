/**
 * BEST-RQ span masking (Llama 3 paper §7.1 Speech: spans of 32 frames with probability 2.5%; BEST-RQ
 * §3.1: masked frames replaced by N(0, 0.1²) noise). Spans are counted in 10 ms input frames and
 * start on encoder-frame boundaries, so a span of 32 covers exactly 8 encoder frames and a target is
 * either wholly masked or not. Each encoder frame starts a span with probability maskProb · stack
 * (the same expected number of span starts per second as a per-input-frame probability); spans may
 * overlap and are clipped at the end. Short utterances that draw no span get one at a uniformly
 * drawn start, so every utterance contributes to the loss.
 */
import { Rng } from '@herd/core';
import { type SpeechConfig } from '../config.js';

/** Mask over `S` encoder frames: 1 = masked. */
export function spanMask(S: number, cfg: SpeechConfig, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const { maskProb, maskSpan } = cfg.bestRq;
  const span = Math.max(1, maskSpan / cfg.stack);
  const pStart = Math.min(1, maskProb * cfg.stack);
  const mask = new Uint8Array(S);
  let any = false;
  for (let s = 0; s < S; s++) {
    if (rng.next() < pStart) {
      mask.fill(1, s, Math.min(S, s + span));
      any = true;
    }
  }
  if (!any && S > 0) {
    const s = rng.int(Math.max(1, S - span + 1));
    mask.fill(1, s, Math.min(S, s + span));
  }
  return mask;
}

/** A copy of features [T, F] with the input frames of masked encoder frames replaced by noise. */
export function applyMask(features: Float32Array, nMels: number, mask: Uint8Array, cfg: SpeechConfig, seed: number): Float32Array {
  const out = Float32Array.from(features);
  const rng = new Rng(seed ^ 0x5bd1e995);
  const rows = cfg.stack * nMels;
  for (let s = 0; s < mask.length; s++) {
    if (!mask[s]) continue;
    for (let i = s * rows; i < (s + 1) * rows && i < out.length; i++) out[i] = rng.normal() * cfg.bestRq.noiseStd;
  }
  return out;
}
