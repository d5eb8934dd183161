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
export function speechExtension(m: SpeechModelConfig, frames: number): LmExtension {
  if (!Number.isInteger(frames) || frames <= 0 || frames % FRAME_MULTIPLE !== 0) {
    throw new HerdError('invalid_argument', `speech extension: padded frames must be a positive multiple of ${FRAME_MULTIPLE}, got ${frames}`);
  }
  const S = frames / m.encoder.stack;
  return {
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
      return { audio: speechAdapter(m.adapter, p, h, inputs['featureValid']!).out }; // [B, A, D]
    },
    embed: (h, { inputs, encoded, p }) => spliceSpeech(h, encoded['audio']!, inputs['audioIndex']!, p(MARKER_PARAM)),
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

/** The core plus the speech extension. */
export function speechSpec(core: LlamaConfig, m: SpeechModelConfig, frames: number): LmGraphSpec {
  return { config: core, extension: speechExtension(m, frames) };
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
