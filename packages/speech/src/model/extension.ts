/**
 * The speech path as an `LmExtension` of the frozen core (Llama 3 paper §7.1 Speech; NeMo's SALM
 * does the same): the Conformer encodes the log-mel frames once, the adapter maps them to the core's
 * embedding width, and `embed` splices them into the token embeddings between two marker embeddings
 * (`<|audio_start|>` / `<|audio_end|>`, learnt rows of the adapter group: the core's table is not
 * touched). The core then runs on the spliced sequence unchanged, so a prompt without audio gives
 * exactly the core's logits.
 *
 * Inputs (one graph per padded length F): `features` [B, F, 80] f32 log-mel, `featureValid`
 * [B, F/4] bool (real encoder frames), `audioIndex` [B, T] i32 — per position, the row b·A + a of
 * the audio frame placed there, `AUDIO_START` / `AUDIO_END` for the markers, or `KEEP_TOKEN` to keep
 * the token's embedding.
 *
 * Legend: B batch, F input frames (10 ms), S = F/4 encoder frames, A = ⌈S/2⌉ adapter frames,
 * T tokens, D core dim.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type EmittedModel, Graph, type ParamSpec, type Tensor } from '@herd/graph';
import { type SpeechWeights } from '../train/best-rq.js';
import { type LlamaConfig, type LmExtension, type LmGraphSpec } from '@herd/llama3';
import { type SpeechConfig } from '../config.js';
import { type SpeechAdapterConfig, adapterFrames, adapterParamSpecs, speechAdapter, spliceEmbeddings } from './adapter.js';
import { conformerEncoder } from './conformer.js';
import { conformerParamSpecs } from './params.js';

/** Parameter groups (no '.' in group names: they name the saved files). */
export const SPEECH_ENCODER_GROUP = 'speechEncoder';
export const SPEECH_ADAPTER_GROUP = 'speechAdapter';

/** `audioIndex` codes besides frame rows. */
export const KEEP_TOKEN = -1;
export const AUDIO_START = -2;
export const AUDIO_END = -3;

export const MARKER_PARAM = 'adapter.audio_markers';

/**
 * The alignment head (training only, its own group): the adapter's frames are classified against
 * the frozen core's embedding rows plus one learnt blank row, for a CTC loss against the
 * transcript's tokens (see `speechCtcLogits`).
 */
export const SPEECH_CTC_GROUP = 'speechCtc';
export const CTC_BLANK_PARAM = 'ctc.blank';
export const CTC_LOG_SCALE_PARAM = 'ctc.log_scale';
export const CORE_EMBEDDING_PARAM = 'model.embed_tokens.weight';

/** The CTC alignment objective: transcripts of at most `maxLabels` tokens (longer ones are left out of it). */
export interface SpeechCtcOptions {
  readonly maxLabels: number;
}

/** The whole speech model on top of a core: encoder config, adapter config. */
export interface SpeechModelConfig {
  readonly encoder: SpeechConfig;
  readonly adapter: SpeechAdapterConfig;
}

/** The mini herd's adapter: encoder width → 256 (one layer, 4 heads, FFN 512) → the core's width. */
export function miniAdapterConfig(encoder: SpeechConfig, core: LlamaConfig): SpeechAdapterConfig {
  return { encoderDim: encoder.dim, dim: 256, nHeads: 4, ffnDim: 512, coreDim: core.dim, normEps: 1e-5, ropeTheta: 10000 };
}

export function speechEncoderSpecs(m: SpeechModelConfig): ParamSpec[] {
  return conformerParamSpecs(m.encoder);
}

export function speechAdapterSpecs(m: SpeechModelConfig): ParamSpec[] {
  return [...adapterParamSpecs(m.adapter), { name: MARKER_PARAM, shape: [2, m.adapter.coreDim], init: 'normal' }];
}

export function speechCtcSpecs(m: SpeechModelConfig): ParamSpec[] {
  return [
    { name: CTC_BLANK_PARAM, shape: [m.adapter.coreDim], init: 'normal' },
    { name: CTC_LOG_SCALE_PARAM, shape: [1], init: 'zeros' },
  ];
}

/**
 * The CTC scores' scale at the start, s = CTC_BASE_SCALE · exp(logScale) with logScale learnt from 0.
 * The mini core's embedding rows have norms ≈ 0.8 and squared distances ≈ 1: with s ≈ 1 a frame
 * equal to a row would still give that row only a few percent of 614 classes (a loss floor near 3
 * nats per frame, measured: training stalled there), while at 16 the nearest row wins clearly.
 */
export const CTC_BASE_SCALE = 16;

/**
 * Class scores of the adapter's frames `audio` [B, A, D] for CTC: the V rows of the core's frozen
 * embedding table E [V, D] are the classes, and the learnt row `blank` [D] is class V. A frame's
 * score for class v is s·(2 a·e_v − ‖e_v‖²) = s·(‖a‖² − ‖a − e_v‖²): the softmax over them is a
 * nearest-row classifier (‖a‖² is the same for every class), so training pulls each frame that
 * speaks a word towards the core's own embedding of that token — what the core reads when it
 * reads the word — rather than only along its direction. s = CTC_BASE_SCALE · exp(logScale).
 * Returns logits [B, A, V + 1].
 */
export function speechCtcLogits(audio: Tensor, table: Tensor, blank: Tensor, logScale: Tensor): Tensor {
  const rows = G.concat([table, G.unsqueeze(blank, 0)], 0); // [V+1, D]
  const dots = G.matmul(audio, G.transpose(rows, [1, 0])); // [B, A, V+1]
  const sq = G.sum(G.mul(rows, rows), -1); // [V+1]
  return G.mul(G.sub(G.mul(dots, 2), sq), G.mul(G.exp(logScale), CTC_BASE_SCALE));
}

/** Input frames F must be a multiple of 8: 4 per encoder frame, 2 encoder frames per adapter frame. */
export const FRAME_MULTIPLE = 8;

/** Adapter frames of an utterance with `frames` real input frames. */
export function audioTokens(encoder: SpeechConfig, frames: number): number {
  return adapterFrames(Math.ceil(frames / encoder.stack));
}

/**
 * The speech extension for graphs whose features are padded to `frames` input frames. Training and
 * the decoder use the same function; only `frames` (and the batch) differ.
 */
export function speechExtension(m: SpeechModelConfig, frames: number, o: { ctc?: SpeechCtcOptions } = {}): LmExtension {
  if (!Number.isInteger(frames) || frames <= 0 || frames % FRAME_MULTIPLE !== 0) {
    throw new HerdError('invalid_argument', `speech extension: padded frames must be a positive multiple of ${FRAME_MULTIPLE}, got ${frames}`);
  }
  if (o.ctc && (!Number.isInteger(o.ctc.maxLabels) || o.ctc.maxLabels < 1)) throw new HerdError('invalid_argument', `speech extension: ctc.maxLabels must be a positive integer, got ${o.ctc.maxLabels}`);
  const S = frames / m.encoder.stack;
  const base: LmExtension = {
    groups: [
      { name: SPEECH_ENCODER_GROUP, specs: speechEncoderSpecs(m) },
      { name: SPEECH_ADAPTER_GROUP, specs: speechAdapterSpecs(m) },
    ],
    inputs: {
      features: { dtype: 'f32', shape: ['B', frames, m.encoder.nMels] },
      featureValid: { dtype: 'bool', shape: ['B', S] },
      audioIndex: { dtype: 'i32', shape: ['B', 'T'] },
    },
    encode: ({ inputs, p }) => {
      const h = conformerEncoder(m.encoder, p, inputs['features']!, inputs['featureValid']!); // [B, S, E]
      const a = speechAdapter(m.adapter, p, h, inputs['featureValid']!);
      return { audio: a.out, audioValid: a.valid }; // [B, A, D], [B, A]
    },
    embed: (h, { inputs, encoded, p }) => spliceSpeech(h, encoded['audio']!, inputs['audioIndex']!, p(MARKER_PARAM)),
  };
  if (!o.ctc) return base;
  // Training with the alignment objective: CTC of the adapter's frames against the transcript's
  // compact token ids `ctcLabels` [B, L] (`ctcLabelLengths` [B]; 0 leaves an item out).
  return {
    ...base,
    groups: [...base.groups, { name: SPEECH_CTC_GROUP, specs: speechCtcSpecs(m) }],
    inputs: { ...base.inputs, ctcLabels: { dtype: 'i32', shape: ['B', o.ctc.maxLabels] }, ctcLabelLengths: { dtype: 'i32', shape: ['B'] } },
    auxiliaryLoss: ({ inputs, encoded, p }) => {
      const table = p(CORE_EMBEDDING_PARAM);
      const logits = speechCtcLogits(encoded['audio']!, table, p(CTC_BLANK_PARAM), p(CTC_LOG_SCALE_PARAM)); // [B, A, V+1]
      const frames = G.cast(G.sum(G.cast(encoded['audioValid']!, 'f32'), -1), 'i32'); // [B]
      const r = G.ctcLoss(G.logSoftmax(logits, -1), inputs['ctcLabels']!, inputs['ctcLabelLengths']!, frames, { blank: table.shape[0] as number });
      return { loss: r.loss, metrics: { ctcLoss: r.loss, ctcItems: r.count } };
    },
  };
}

/**
 * The extension of the generation decoder: the audio embeddings [B, A, D] come in as the input
 * `audio` (computed once per prompt by `speechAudioGraph`) instead of being re-encoded inside the
 * decoder at every token; the splice is the same `spliceSpeech`. Only the marker rows are weights here.
 */
export function speechDecodeExtension(m: SpeechModelConfig, audioFrames: number): LmExtension {
  if (!Number.isInteger(audioFrames) || audioFrames <= 0) throw new HerdError('invalid_argument', `speech decoder: audio frames must be a positive integer, got ${audioFrames}`);
  return {
    groups: [{ name: SPEECH_ADAPTER_GROUP, specs: speechAdapterSpecs(m).filter((s) => s.name === MARKER_PARAM) }],
    inputs: {
      audio: { dtype: 'f32', shape: ['B', audioFrames, m.adapter.coreDim] },
      audioIndex: { dtype: 'i32', shape: ['B', 'T'] },
    },
    embed: (h, { inputs, p }) => spliceSpeech(h, inputs['audio']!, inputs['audioIndex']!, p(MARKER_PARAM)),
  };
}

/**
 * The audio graph: features [B, F, 80] f32 and featureValid [B, F/4] bool → `audio` [B, A, D], the
 * adapter's frames in the core's embedding space (the extension's `encode`, as its own graph so a
 * decoder runs it once per prompt).
 */
export function speechAudioGraph(m: SpeechModelConfig, weights: SpeechWeights, frames: number, batch = 1): EmittedModel {
  const ext = speechExtension(m, frames);
  const g = new Graph();
  const specs = [...speechEncoderSpecs(m), ...speechAdapterSpecs(m)].filter((s) => s.name !== MARKER_PARAM);
  const p = G.declareParams(g, specs, (name, shape) => {
    const w = weights[name];
    if (!w) throw new HerdError('checkpoint_mismatch', `speech weights: missing '${name}' (shape [${shape}])`);
    if (w.shape.join() !== shape.join()) throw new HerdError('checkpoint_mismatch', `speech weights: '${name}' has shape [${w.shape}], the config needs [${shape}]`);
    return g.param(name, 'f32', shape as number[], { trainable: false, value: w.data });
  });
  const S = frames / m.encoder.stack;
  const inputs = { features: g.input('features', 'f32', [batch, frames, m.encoder.nMels]), featureValid: g.input('featureValid', 'bool', [batch, S]) };
  const { audio } = ext.encode!({ inputs, p });
  return G.toOnnx(g, { outputs: { audio: audio! }, name: 'speech_audio' });
}

/** The core plus the speech extension (with the CTC alignment objective when `ctc` is given). */
export function speechSpec(core: LlamaConfig, m: SpeechModelConfig, frames: number, o: { ctc?: SpeechCtcOptions } = {}): LmGraphSpec {
  return { config: core, extension: speechExtension(m, frames, o) };
}

/**
 * Token embeddings [B, T, D] with the audio frames [B, A, D] and the two markers [2, D] spliced in
 * where `audioIndex` [B, T] says (see the file header); every other position keeps its token.
 */
export function spliceSpeech(tokenEmbeddings: Tensor, audio: Tensor, audioIndex: Tensor, markers: Tensor): Tensor {
  let h = spliceEmbeddings(tokenEmbeddings, audio, audioIndex);
  const dtype = tokenEmbeddings.dtype;
  const g = tokenEmbeddings.graph;
  for (const [code, row] of [[AUDIO_START, 0], [AUDIO_END, 1]] as const) {
    const at = G.unsqueeze(G.equal(audioIndex, code), -1); // [B, T, 1]
    const marker = G.gather(markers, g.constant(Int32Array.of(row), 'i32', [])); // [D]
    h = G.where(at, G.cast(marker, dtype), h);
  }
  return h;
}
