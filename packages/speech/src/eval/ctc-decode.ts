/**
 * Decoding with the speech CTC head (the encoder + adapter's own transcript, no language model) and
 * joint CTC / language-model decoding of a transcript (hybrid CTC/attention decoding, Watanabe et al.
 * 2017; greedy, or beam search through `Generator.beam`): at each step the core's candidate tokens are rescored by how well the CTC head's
 * frames support the transcript so far plus that token (the CTC prefix score), so the core cannot
 * drift into a sentence the audio does not hold.
 *
 * Legend: A adapter frames of the utterance, V the core's (compact) vocabulary, class V = blank.
 */
import { HerdError } from '@herd/core';
import { ctcGreedy } from '@herd/graph';
import { type BeamOptions, type BeamResult, type LanguageCore, type Llama3Tokenizer, type NextTokenScorer, logSumExp } from '@herd/llama3';
import { CORE_EMBEDDING_PARAM, CTC_BASE_SCALE } from '../model/extension.js';
import { type SpeechGenerator, type SpeechInput } from '../model/generate.js';

/**
 * The joint decoding a transcription gets by default (`herd generate --audio`, the chat, `speech eval
 * --joint-ctc`): CTC weight and beam width, chosen on a validation set that is not the eval (the
 * held-out-voice utterances of the seed-3 training generation; the mini checkpoint's MODEL_CARD.md).
 */
export const JOINT_CTC_WEIGHT = 0.6;
export const JOINT_CTC_BEAM = 8;

export interface JointCtcOptions {
  /** CTC weight in [0, 1] (0: the core decodes alone). */
  readonly weight: number;
  /** Beam width (1: greedy). */
  readonly beam: number;
}

/**
 * A transcription decoded jointly with the CTC head: `search` is the decoder's beam search from the
 * prompt (`Generator.beam`, `SpeechGenerator.beam`, or the page's own over onnxruntime-web), given the
 * scorer, width and stops here. Tokens end in the stop token when the transcript ended. `signal` stops
 * the search between steps (`BeamOptions.signal`).
 */
export function jointTranscribe(search: (o: BeamOptions) => Promise<BeamResult>, posteriors: CtcPosteriors, o: JointCtcOptions & { readonly maxNewTokens: number; readonly stopTokens: readonly number[]; readonly signal?: AbortSignal }): Promise<BeamResult> {
  const scorer = new CtcPrefixScorer(posteriors, { weight: o.weight, stopTokens: o.stopTokens });
  return search({ beamWidth: o.beam, maxNewTokens: o.maxNewTokens, stopTokens: o.stopTokens, scorer, ...(o.signal ? { signal: o.signal } : {}) });
}

/** The first `frames` rows of exported CTC log posteriors `speech.ctc` ([1, A, classes], row-major) as one utterance's. */
export function ctcRows(t: { readonly shape: readonly number[]; readonly data: unknown }, frames: number): CtcPosteriors {
  const [, A, C] = t.shape as [number, number, number];
  if (!(frames >= 1 && frames <= A)) throw new HerdError('invalid_argument', `CTC posteriors: ${frames} frames asked of ${A}`);
  return { logp: Float32Array.from((t.data as Float32Array).subarray(0, frames * C)), frames, classes: C };
}

/** The trained CTC head (group `speechCtc`): the blank row [D] and the log scale. */
export interface SpeechCtcHead {
  readonly blank: Float32Array;
  readonly logScale: number;
}

/** Per-frame log posteriors of one utterance over the core's rows and the blank: [A, V + 1] (blank last). */
export interface CtcPosteriors {
  readonly logp: Float32Array;
  readonly frames: number;
  /** V + 1. */
  readonly classes: number;
}

/**
 * The CTC head's log-softmax over the adapter's real frames, exactly as training scores them
 * (`speechCtcLogits`: s·(2 a·e_v − ‖e_v‖²) with s = CTC_BASE_SCALE · exp(logScale)).
 */
export async function ctcPosteriors(speech: SpeechGenerator, core: LanguageCore, head: SpeechCtcHead, audio: SpeechInput): Promise<CtcPosteriors> {
  const table = core.weights[CORE_EMBEDDING_PARAM];
  if (!table) throw new HerdError('checkpoint_mismatch', `CTC decoding: the core at ${core.dir} has no '${CORE_EMBEDDING_PARAM}'`);
  const [V, D] = table.shape as [number, number];
  const encoded = (await speech.encode(audio)).data as Float32Array; // [1, A_max, D]
  const A = speech.audioTokens(audio);
  const rows = new Float32Array((V + 1) * D);
  rows.set(Float32Array.from(table.data as ArrayLike<number>));
  rows.set(head.blank, V * D);
  const sq = new Float32Array(V + 1);
  for (let v = 0; v <= V; v++) for (let d = 0; d < D; d++) sq[v]! += rows[v * D + d]! ** 2;
  const scale = CTC_BASE_SCALE * Math.exp(head.logScale);
  const logp = new Float32Array(A * (V + 1));
  for (let a = 0; a < A; a++) {
    const row = logp.subarray(a * (V + 1), (a + 1) * (V + 1));
    for (let v = 0; v <= V; v++) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += encoded[a * D + d]! * rows[v * D + d]!;
      row[v] = scale * (2 * dot - sq[v]!);
    }
    const lz = logSumExp(row);
    for (let v = 0; v <= V; v++) row[v] = row[v]! - lz;
  }
  return { logp, frames: A, classes: V + 1 };
}

/** CTC greedy transcript: each frame's best class, repeats merged, blanks dropped, the compact ids decoded. */
export function ctcGreedyText(p: CtcPosteriors, core: LanguageCore, tok: Llama3Tokenizer): string {
  const ids = ctcGreedy(p.logp, p.frames, p.classes, p.classes - 1);
  return tok.decode(core.vocab ? Array.from(core.vocab.toFull(ids)) : ids).trim();
}

const NEG = -Infinity;
function logAdd(a: number, b: number): number {
  if (a === NEG) return b;
  if (b === NEG) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/** The CTC forward variables of one prefix h: log P(h ends at frame t in a label / in a blank), and its prefix score. */
interface PrefixState {
  readonly tokens: readonly number[];
  readonly rN: Float64Array;
  readonly rB: Float64Array;
  /** log Σ over alignments of h followed by anything (the prefix probability). */
  readonly psi: number;
}

/**
 * Joint CTC / language-model scoring of a transcript as `Generator` rescoring (`SamplingOptions.scorer`):
 * each step's score of a candidate c is (1 − λ)·log p_core(c | h) + λ·(log ψ(h·c) − log ψ(h)), ψ being
 * the CTC prefix probability; a stop token scores the CTC probability that h is the whole transcript.
 * Only the core's `topK` best tokens (and the stop tokens) are candidates; the rest score −∞.
 */
export class CtcPrefixScorer implements NextTokenScorer {
  /** Prefix states by their tokens (comma-joined), so a beam's hypotheses share their common prefixes' work. */
  private readonly states = new Map<string, PrefixState>();

  constructor(
    private readonly p: CtcPosteriors,
    private readonly o: { readonly weight: number; readonly stopTokens: readonly number[]; readonly topK?: number },
  ) {
    if (!(o.weight >= 0 && o.weight <= 1)) throw new HerdError('invalid_argument', `joint CTC decoding: weight must be in [0, 1], got ${o.weight}`);
    if (p.frames < 1) throw new HerdError('invalid_argument', 'joint CTC decoding: the utterance has no adapter frame');
    this.states.set('', this.empty());
  }

  private empty(): PrefixState {
    const { logp, frames: A, classes: C } = this.p;
    const rN = new Float64Array(A).fill(NEG);
    const rB = new Float64Array(A);
    let acc = 0;
    for (let t = 0; t < A; t++) rB[t] = acc += logp[t * C + C - 1]!;
    return { tokens: [], rN, rB, psi: 0 };
  }

  /** h·c from h's variables (the prefix-score recursion). */
  private extend(h: PrefixState, c: number): PrefixState {
    const { logp, frames: A, classes: C } = this.p;
    if (c < 0 || c >= C - 1) throw new HerdError('invalid_argument', `joint CTC decoding: token ${c} is not one of the ${C - 1} CTC classes`);
    const blank = C - 1;
    const last = h.tokens.length ? h.tokens[h.tokens.length - 1] : undefined;
    const rN = new Float64Array(A).fill(NEG);
    const rB = new Float64Array(A).fill(NEG);
    rN[0] = h.tokens.length === 0 ? logp[c]! : NEG;
    let psi = rN[0]!;
    for (let t = 1; t < A; t++) {
      const phi = logAdd(h.rB[t - 1]!, last === c ? NEG : h.rN[t - 1]!);
      rN[t] = logAdd(rN[t - 1]!, phi) + logp[t * C + c]!;
      rB[t] = logAdd(rB[t - 1]!, rN[t - 1]!) + logp[t * C + blank]!;
      psi = logAdd(psi, phi + logp[t * C + c]!);
    }
    return { tokens: [...h.tokens, c], rN, rB, psi };
  }

  /** The state of `generated`: from the states already computed (any hypothesis of a beam), extended from its longest known prefix. */
  private stateOf(generated: readonly number[]): PrefixState {
    let n = generated.length;
    while (n > 0 && !this.states.has(generated.slice(0, n).join(','))) n--;
    let h = this.states.get(generated.slice(0, n).join(','))!;
    for (; n < generated.length; n++) h = this.extendKept(h, generated[n]!);
    return h;
  }

  private extendKept(h: PrefixState, c: number): PrefixState {
    const key = [...h.tokens, c].join(',');
    let s = this.states.get(key);
    if (!s) this.states.set(key, (s = this.extend(h, c)));
    return s;
  }

  score(generated: readonly number[], logits: Float32Array): Float32Array {
    const h = this.stateOf(generated);
    const λ = this.o.weight;
    const lz = logSumExp(logits);
    const order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!);
    const candidates = new Set([...order.slice(0, this.o.topK ?? 8), ...this.o.stopTokens]);
    const A = this.p.frames;
    const whole = logAdd(h.rN[A - 1]!, h.rB[A - 1]!);
    const out = new Float32Array(logits.length).fill(-Infinity);
    for (const c of candidates) {
      if (c >= logits.length) continue;
      const lm = logits[c]! - lz;
      const ctc = this.o.stopTokens.includes(c) ? whole - h.psi : c < this.p.classes - 1 ? this.extendKept(h, c).psi - h.psi : NEG;
      out[c] = λ === 0 ? lm : (1 - λ) * lm + λ * ctc;
    }
    // No candidate the audio allows (cannot happen with a blank that every frame may take): the core decides.
    return out.some((v) => v > -Infinity) ? out : logits;
  }
}
