/**
 * The speech part of an export (llama3's `ExportModality`), split where generation can reuse work:
 * - `speech.encoder.onnx`: one utterance's log-mel features (padded to the checkpoint's `maxFrames`)
 *   → the Conformer encoder → the adapter → `speech.frames` [1, A, D], computed once per utterance;
 * - inside the decoder: the splice alone (`spliceSpeech`: adapter frames and the two learnt marker
 *   rows replace the placeholders' embeddings where `audioIndex` says), so text-only calls feed
 *   zeros and `audioIndex` all KEEP_TOKEN and get the core's logits.
 * In process (`SpeechGenerator`) the encoder sits inside the decoder graph; the math is the same.
 * With the checkpoint's CTC head and the core's embedding table, `speech.encoder` also outputs
 * `speech.ctc` [1, A, V + 1]: the CTC head's log posteriors of the adapter frames (blank last), as
 * `ctcPosteriors` computes them in process, for joint CTC decoding of a transcription (`CtcPrefixScorer`).
 *
 * Legend: F padded input frames (10 ms), S = F/stack encoder frames, A adapter frames, D core dim.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type EmittedModel, Graph, type Params } from '@herd/graph';
import { type ExportModality, type LmExtension } from '@herd/llama3';
import { WHISPER_LOG_MEL } from '../data/log-mel.js';
import { JOINT_CTC_BEAM, JOINT_CTC_WEIGHT } from '../eval/ctc-decode.js';
import { speechAdapter } from '../model/adapter.js';
import { conformerEncoder } from '../model/conformer.js';
import { AUDIO_END, AUDIO_START, CORE_EMBEDDING_PARAM, CTC_BLANK_PARAM, CTC_LOG_SCALE_PARAM, KEEP_TOKEN, MARKER_PARAM, SPEECH_ADAPTER_GROUP, type SpeechModelConfig, audioTokens, spliceSpeech, speechAdapterSpecs, speechCtcLogits, speechCtcSpecs, speechEncoderSpecs } from '../model/extension.js';

type Weights = Readonly<Record<string, { readonly shape: readonly number[]; readonly data: Float32Array }>>;
type Table = { readonly shape: readonly number[]; readonly data: unknown };

/** Whether these speech weights hold the CTC head (`speechCtcSpecs`). */
const hasCtcHead = (weights: Weights) => weights[CTC_BLANK_PARAM] !== undefined && weights[CTC_LOG_SCALE_PARAM] !== undefined;

function declare(g: Graph, m: SpeechModelConfig, weights: Weights, ctc: boolean): Params {
  return G.declareParams(g, [...speechEncoderSpecs(m), ...speechAdapterSpecs(m), ...(ctc ? speechCtcSpecs(m) : [])], (name, shape) => {
    const w = weights[name];
    if (!w) throw new HerdError('checkpoint_mismatch', `speech export: missing '${name}' (shape [${shape}])`);
    if (w.shape.join() !== shape.join()) throw new HerdError('checkpoint_mismatch', `speech export: '${name}' has shape [${w.shape}], the config needs [${shape}]`);
    return g.param(name, 'f32', [...shape], { trainable: false, value: w.data });
  });
}

/**
 * Features [1, F, nMels] + featureValid [1, S] → `speech.frames` [1, A, D] (encoder + adapter); with
 * `ctcTable` (the core's embedding table [V, D]) and the CTC head in `weights`, also `speech.ctc` [1, A, V + 1].
 */
export function buildSpeechEncoderGraph(m: SpeechModelConfig, weights: Weights, frames: number, ctcTable?: Table): EmittedModel {
  const g = new Graph();
  const ctc = ctcTable !== undefined && hasCtcHead(weights);
  const p = declare(g, m, weights, ctc);
  const features = g.input('features', 'f32', [1, frames, m.encoder.nMels]);
  const featureValid = g.input('featureValid', 'bool', [1, frames / m.encoder.stack]);
  const h = conformerEncoder(m.encoder, p, features, featureValid); // [1, S, E]
  const out = speechAdapter(m.adapter, p, h, featureValid).out;
  if (!ctc) return G.toOnnx(g, { outputs: { 'speech.frames': out }, name: 'speech_frames' });
  const table = g.param(CORE_EMBEDDING_PARAM, 'f32', [...ctcTable.shape], { trainable: false, value: Float32Array.from(ctcTable.data as ArrayLike<number>) });
  const logp = G.logSoftmax(speechCtcLogits(out, table, p(CTC_BLANK_PARAM), p(CTC_LOG_SCALE_PARAM)), -1);
  return G.toOnnx(g, { outputs: { 'speech.frames': out, 'speech.ctc': logp }, name: 'speech_frames' });
}

/**
 * The decoder's side: `speech.frames` [B, A, D] and `audioIndex` [B, T] spliced into the embeddings.
 * A is symbolic: a prompt with several utterances feeds their frames side by side (utterance u's
 * frame a is row u·adapterFrames + a).
 */
export function speechSpliceExtension(m: SpeechModelConfig): LmExtension {
  return {
    groups: [{ name: SPEECH_ADAPTER_GROUP, specs: speechAdapterSpecs(m).filter((s) => s.name === MARKER_PARAM) }],
    inputs: {
      'speech.frames': { dtype: 'f32', shape: ['B', 'A', m.adapter.coreDim] },
      audioIndex: { dtype: 'i32', shape: ['B', 'T'] },
    },
    embed: (h, { inputs, p }) => spliceSpeech(h, inputs['speech.frames']!, inputs['audioIndex']!, p(MARKER_PARAM)),
  };
}

/**
 * `frames`: the padded input frames of the checkpoint (`MiniSpeech.maxFrames`); `ctcTable`: the core's
 * embedding table, for the `speech.ctc` output (when the checkpoint has its CTC head).
 */
export function speechExportModality(m: SpeechModelConfig, weights: Weights, frames: number, ctcTable?: Table): ExportModality {
  const A = audioTokens(m.encoder, frames);
  const mel = WHISPER_LOG_MEL;
  const ctc = ctcTable !== undefined && hasCtcHead(weights);
  return {
    name: 'speech',
    extension: speechSpliceExtension(m),
    weights: { [MARKER_PARAM]: weights[MARKER_PARAM]! },
    graphs: { encoder: buildSpeechEncoderGraph(m, weights, frames, ctc ? ctcTable : undefined) },
    recipe: {
      maxFrames: frames,
      maxSeconds: frames / 100,
      adapterFrames: A,
      codes: { keep: KEEP_TOKEN, audioStart: AUDIO_START, audioEnd: AUDIO_END },
      preprocess: {
        logMel: mel,
        stack: m.encoder.stack,
        text: [
          `Decode to mono float at ${mel.sampleRate} Hz (full scale ±1). Log-mel as Whisper: periodic Hann window of nFft, hop samples, reflect-padded by nFft/2 at both ends, power spectrum, Slaney mel filters (nMels, fMin..fMax, Slaney-normalised), log10(max(mel, melFloor)), clamped below at (the utterance's maximum − dynamicRange), then (x + 4) / 4. Frames: ⌊samples / hop⌋ (frame t centred on sample t·hop), at most maxFrames (longer audio is refused).`,
          'features [1, maxFrames, nMels] float32: the frames, zeros after them; featureValid [1, maxFrames/stack] bool: true for the first ⌈frames/stack⌉.',
          `Run speech.encoder once per utterance: speech.frames [1, adapterFrames, D]. The utterance uses its first ⌈⌈frames/stack⌉/2⌉ rows.`,
        ],
      },
      decoderInputs: {
        frames: 'speech.frames',
        audioIndex: 'audioIndex',
        text: [
          'Prompt (as `herd generate --audio`): <|begin_of_text|><|start_header_id|>user<|end_header_id|>\\n\\n, the typed text and a space if any, one placeholder for <|audio_start|>, one per used adapter frame, one for <|audio_end|>, then " " + the instruction if any, <|eot_id|><|start_header_id|>assistant<|end_header_id|>\\n\\n. Placeholders are token id 0.',
          'audioIndex [1, T] int32 for the rows fed now: codes.audioStart / codes.audioEnd at the markers, u·adapterFrames + a at the placeholder of adapter frame a (0-based) of the prompt\'s utterance u (0-based, in prompt order), codes.keep everywhere else (generated tokens too).',
          'Feed speech.frames [1, utterances·adapterFrames, D] at every call: the utterances\' speech.encoder outputs side by side (one row of zeros with no audio: every row keep).',
        ],
      },
      idle: { 'speech.frames': 0, audioIndex: KEEP_TOKEN },
      ...(ctc
        ? {
            ctc: {
              output: 'speech.ctc',
              classes: ctcTable.shape[0]! + 1,
              weight: JOINT_CTC_WEIGHT,
              beam: JOINT_CTC_BEAM,
              text: 'speech.ctc [1, adapterFrames, V + 1]: the CTC head\'s log posteriors of each adapter frame over the decoder\'s V token ids and the blank (class V); the utterance uses its first rows, as speech.frames. Transcribing (no typed text, the ASR instruction), herd decodes jointly (hybrid CTC/attention): beam search of width `beam`; each hypothesis proposes the decoder\'s 8 best tokens and the stop ids, scored (1 − weight)·log softmax(decoder logits) + weight·(log ψ(h·c) − log ψ(h)), ψ the CTC prefix probability; a stop id scores log P_ctc(h) − log ψ(h).',
            },
          }
        : {}),
    },
  };
}
