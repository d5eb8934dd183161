/**
 * Connectionist temporal classification (Graves et al. 2006, "Connectionist Temporal Classification:
 * Labelling Unsegmented Sequence Data with Recurrent Neural Networks", §4.1): the loss is
 * −log Σ_π Π_t p_t(π_t) over every alignment π of the T frames to the label sequence — the labels in
 * order, each held for one frame or more, blanks allowed between and around them and required
 * between two equal labels.
 *
 * The forward (α) recursion of §4.1 runs in log space over the extended sequence
 * l' = (blank, l₁, blank, l₂, …, blank) of S = 2L+1 states:
 *   α_t(s) = logsumexp(α_{t−1}(s), α_{t−1}(s−1), α_{t−1}(s−2) if l'_s ≠ blank and l'_s ≠ l'_{s−2}) + log p_t(l'_s)
 * It is unrolled over the T frames as ordinary graph ops (the α vector and its copies shifted by
 * one and two states, one log-sum-exp), so autodiff gives the gradient (the β recursion) and no
 * special kernel is needed. T, L and B must be static: this suits tens of frames (a speech
 * adapter's 80 ms frames), not thousands.
 *
 * Legend: B batch, T frames, C classes (the blank among them), L labels (padded), S = 2L+1 states.
 */
import { HerdError } from '@herd/core';
import { type Tensor } from '../ir/tensor.js';
import * as o from '../ops.js';

/** log 0 for the recursion: finite, so that log-sum-exp over unreachable states stays finite (and its gradient 0). */
const LOG_ZERO = -1e30;

export interface CtcResult {
  /** Mean over the counted items of −log p(labels | frames) / label length (PyTorch's 'mean' reduction). */
  readonly loss: Tensor;
  /** −log p(labels | frames) per item [B] (0 for items not counted). */
  readonly perItem: Tensor;
  /** Items counted: label length > 0 and an alignment exists (T long enough), as a float scalar. */
  readonly count: Tensor;
}

/**
 * CTC loss of `logProbs` [B, T, C] (log-probabilities normalised over C) against `labels` [B, L] i32
 * (class indices, none of them `blank`; padding past an item's length may be any class index).
 * `labelLengths` [B] i32 counts each item's labels (0 = no labels: the item is left out, a way to
 * mask items in a batch); `inputLengths` [B] i32 counts its real frames (frames past it are
 * ignored). An item with no alignment (fewer frames than labels plus required blanks) is left out
 * instead of giving an infinite loss (PyTorch's zero_infinity).
 */
export function ctcLoss(logProbs: Tensor, labels: Tensor, labelLengths: Tensor, inputLengths: Tensor, o_: { blank: number }): CtcResult {
  const [B, T, C] = logProbs.shape;
  const L = labels.shape[1];
  if (logProbs.rank !== 3 || typeof B !== 'number' || typeof T !== 'number' || typeof C !== 'number') {
    throw new HerdError('shape_mismatch', `ctcLoss: logProbs must be a static [B, T, C], got ${logProbs.describe()}`);
  }
  if (labels.rank !== 2 || labels.shape[0] !== B || typeof L !== 'number' || L < 1) throw new HerdError('shape_mismatch', `ctcLoss: labels must be [${B}, L] with static L ≥ 1, got ${labels.describe()}`);
  for (const [name, t] of [['labelLengths', labelLengths], ['inputLengths', inputLengths]] as const) {
    if (t.rank !== 1 || t.shape[0] !== B || t.dtype !== 'i32') throw new HerdError('shape_mismatch', `ctcLoss: ${name} must be i32 [${B}], got ${t.describe()}`);
  }
  if (labels.dtype !== 'i32') throw new HerdError('dtype_mismatch', `ctcLoss: labels must be i32, got ${labels.describe()}`);
  if (!Number.isInteger(o_.blank) || o_.blank < 0 || o_.blank >= C) throw new HerdError('invalid_argument', `ctcLoss: blank must be a class index in [0, ${C}), got ${o_.blank}`);
  const g = logProbs.graph;
  const S = 2 * L + 1;
  const dt = logProbs.dtype;
  const full = (v: number, dtype: 'i32' | typeof dt, shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return g.constant(dtype === 'i32' ? new Int32Array(n).fill(v) : dtype === 'f64' ? new Float64Array(n).fill(v) : new Float32Array(n).fill(v), dtype, shape);
  };

  // Extended labels l' [B, S]: blank, l₁, blank, l₂, …, l_L, blank.
  const pairs = o.concat([full(o_.blank, 'i32', [B, L, 1]), o.unsqueeze(labels, -1)], -1); // [B, L, 2]
  const ext = o.concat([o.reshape(pairs, [B, 2 * L]), full(o_.blank, 'i32', [B, 1])], 1); // [B, S]
  // The skip s−2 → s is allowed onto a label that differs from the label two states back.
  const twoBack = o.concat([full(-1, 'i32', [B, 2]), o.slice(ext, 1, 0, S - 2)], 1); // [B, S]
  const skip = o.logicalAnd(o.logicalNot(o.equal(ext, o_.blank)), o.logicalNot(o.equal(ext, twoBack))); // [B, S]

  // Emissions log p_t(l'_s) [B, T, S].
  const emit = o.gatherElements(logProbs, o.expand(o.unsqueeze(ext, 1), [B, T, S]), 2);
  const at = (t: number) => o.squeeze(o.slice(emit, 1, t, t + 1), 1); // [B, S]

  // α₀: only the first blank and the first label can start an alignment.
  const starts = g.constant(Uint8Array.from({ length: S }, (_, s) => (s < 2 ? 1 : 0)), 'bool', [S]);
  let alpha = o.where(starts, at(0), LOG_ZERO); // [B, S]
  const neg1 = full(LOG_ZERO, dt, [B, 1]);
  const neg2 = full(LOG_ZERO, dt, [B, 2]);
  for (let t = 1; t < T; t++) {
    const stay = alpha;
    const step = o.concat([neg1, o.slice(alpha, 1, 0, S - 1)], 1); // α_{t−1}(s−1)
    const jump = o.where(skip, o.concat([neg2, o.slice(alpha, 1, 0, S - 2)], 1), LOG_ZERO); // α_{t−1}(s−2)
    const next = o.add(o.logSumExp(o.concat([o.unsqueeze(stay, -1), o.unsqueeze(step, -1), o.unsqueeze(jump, -1)], -1), -1), at(t)); // [B, S]
    // Frames past an item's length leave its α as it was.
    alpha = o.where(o.unsqueeze(o.greater(inputLengths, t), -1), next, alpha);
  }

  // log p(l | x) = logsumexp(α_{T−1}(2L_b), α_{T−1}(2L_b − 1)): ending on the last blank or the last label.
  const lastBlank = o.mul(labelLengths, 2); // [B]
  const ends = o.concat([o.unsqueeze(lastBlank, -1), o.unsqueeze(o.maximum(o.sub(lastBlank, 1), 0), -1)], 1); // [B, 2]
  const endAlpha = o.gatherElements(alpha, ends, 1); // [B, 2]
  const hasLabel = o.greater(labelLengths, 0); // [B]
  const useSecond = o.concat([o.unsqueeze(hasLabel, -1), o.unsqueeze(hasLabel, -1)], 1); // [B, 2]; column 0 is always used
  const firstCol = g.constant(Uint8Array.of(1, 0), 'bool', [2]);
  const logLik = o.logSumExp(o.where(o.logicalOr(useSecond, firstCol), endAlpha, LOG_ZERO), -1); // [B]
  const counted = o.logicalAnd(hasLabel, o.greater(logLik, LOG_ZERO / 2)); // [B]
  const perItem = o.where(counted, o.neg(logLik), 0); // [B]
  const mask = o.cast(counted, dt);
  const count = o.sum(mask);
  const perLabel = o.div(perItem, o.cast(o.maximum(labelLengths, 1), dt));
  const loss = o.div(o.sum(o.mul(perLabel, mask)), o.maximum(count, 1));
  return { loss, perItem, count };
}

/**
 * Greedy (best-path) CTC decoding on the host: the argmax class per frame, repeats merged, blanks
 * dropped (Graves et al. 2006 §3.2). `scores` [T, C] row-major (log-probabilities or logits).
 */
export function ctcGreedy(scores: ArrayLike<number>, frames: number, classes: number, blank: number): number[] {
  const out: number[] = [];
  let prev = -1;
  for (let t = 0; t < frames; t++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (scores[t * classes + c]! > scores[t * classes + best]!) best = c;
    if (best !== prev && best !== blank) out.push(best);
    prev = best;
  }
  return out;
}
