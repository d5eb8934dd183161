/**
 * What the page's in-browser engine takes from herd, bundled for the browser by `web-bundle.ts`
 * (esbuild, at server start): the Llama 3 tokenizer (byte-level BPE, chat format, pruned
 * vocabulary), the prompt layout the server uses (`prompt-plan.ts`: which part answers, the speech
 * layout), the image tiling (canvas choice, Pillow-exact resize, normalisation), herd's WAV reader,
 * band-limited resampler and Whisper log-mel, the clip frame rule and the f16 round trip — herd's own
 * code, not ports. Node tests import this file directly.
 */
import { decodeF16, encodeF16 } from '@herd/core';
import { IMAGE_TOKEN_ID, Llama3Tokenizer, PrunedVocab, type ChatMessage, beamSearch } from '@herd/llama3';
import { mp4VideoFrameCount, readWav, resample, sniffFormat } from '@herd/media';
import { JOINT_CTC_BEAM, JOINT_CTC_WEIGHT, type JointCtcOptions, LogMel, adapterFrames, ctcRows, jointTranscribe as herdJointTranscribe } from '@herd/speech';
import { tileImage as herdTileImage, recipePlaceInputs, recipeSilhouettePixels } from '@herd/vision';
import { type PlanOptions, type PlanTurn, type PromptPlan, planPrompt } from '../prompt-plan.js';

export { IMAGE_TOKEN_ID };
export { decoderRows } from '../prompt-plan.js';
export { mp4VideoFrameCount, readWav, resample, sniffFormat };
export { JOINT_CTC_BEAM, JOINT_CTC_WEIGHT };

/**
 * A transcription decoded jointly with the CTC head, as the server and `herd generate --audio` do it
 * (`jointTranscribe`: herd's beam search and `CtcPrefixScorer`), over the page's own decoder: `first`
 * the state and logits after the prompt, `advance` one more token. `ctc`: the utterance's
 * `speech.ctc` output (dims [1, A, V + 1]), of which its first `frames` rows count. Returns the
 * tokens (ending in the stop id when the transcript ended); `o.signal` aborted stops the search between
 * steps, rejecting with its reason.
 */
export async function jointTranscribe<S>(
  first: { state: S; logits: Float32Array },
  advance: (state: S, token: number) => Promise<{ state: S; logits: Float32Array }>,
  ctc: { dims: readonly number[]; data: Float32Array },
  frames: number,
  o: JointCtcOptions & { maxNewTokens: number; stopTokens: readonly number[]; signal?: AbortSignal },
): Promise<number[]> {
  return (await herdJointTranscribe((b) => beamSearch(first, advance, b), ctcRows({ shape: ctc.dims, data: ctc.data }, frames), o)).tokens;
}

/** Features rounded to float16 and back (herd caches video frame features in f16; the recipe says to do the same). */
export function roundF16(x: Float32Array): Float32Array {
  return decodeF16(encodeF16(x));
}

/** Mono float samples at 16 kHz → log-mel features [frames, nMels] (herd's `LogMel`, Whisper's recipe), at most `maxFrames`. */
export function logMel(samples: Float32Array, maxFrames: number, name = 'audio'): { features: Float32Array; frames: number } {
  const f = new LogMel().compute(samples, name);
  return { features: f.data, frames: Math.min(f.frames, maxFrames) };
}

/** What a browser's own decoder (Web Audio) gives for a file: planar channels at a sample rate. */
export interface DecodedChannels {
  readonly sampleRate: number;
  readonly channels: readonly Float32Array[];
}

/**
 * Audio bytes → mono float at `rate` Hz, as the server's `decodeAudio` does: sniffed by its bytes;
 * WAV by herd's reader; any other container by `decodeOther` (the page passes Web Audio's
 * decodeAudioData at the codec's own rate, where the server uses ffmpeg); channels averaged; herd's
 * band-limited resampler. Longer than `maxSeconds` is refused.
 */
export async function decodeAudioBytes(bytes: Uint8Array, name: string, rate: number, maxSeconds: number, decodeOther: (bytes: Uint8Array, format: string) => Promise<DecodedChannels>): Promise<Float32Array> {
  const format = sniffFormat(bytes);
  if (['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff', 'bmp', 'svg', 'heic'].includes(format)) throw new Error(`${name}: this is a ${format} image, not audio`);
  let mono: Float32Array;
  let from: number;
  if (format === 'wav') {
    const w = readWav(bytes, name);
    mono = w.samples;
    from = w.sampleRate;
  } else {
    const d = await decodeOther(bytes, format);
    const n = d.channels[0]?.length ?? 0;
    mono = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (const c of d.channels) acc += c[i]!;
      mono[i] = acc / d.channels.length;
    }
    from = d.sampleRate;
  }
  if (mono.length === 0) throw new Error(`${name}: no audio samples (empty audio)`);
  const seconds = mono.length / from;
  if (seconds > maxSeconds) throw new Error(`${name}: ${seconds.toFixed(2)} s of audio is over the ${maxSeconds} s limit (cut it, or raise maxSeconds)`);
  for (let i = 0; i < mono.length; i++) if (!Number.isFinite(mono[i]!)) throw new Error(`${name}: sample ${i} is ${mono[i]}; the file holds non-finite audio`);
  return resample(mono, from, rate);
}

/** Adapter frames (audio tokens in the prompt) an utterance of `frames` log-mel frames takes: the speech recipe's `stack`, then the adapter's stride. */
export function audioTokensOf(frames: number, stack: number): number {
  return adapterFrames(Math.ceil(frames / stack));
}

/** Which frames of a clip of `total` frames are sampled (`@herd/media` `sampleFrames`' rule): the centres of `count` equal segments. */
export function clipFrameIndices(total: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.min(total - 1, Math.floor(((i + 0.5) * total) / count)));
}

/** An export's tokenizer.json (format herd.llama3-tokenizer). */
interface TokenizerJson {
  readonly format: string;
  readonly bpe: readonly string[];
  readonly pruned?: { readonly ids: readonly number[]; readonly unknownId: number };
}

/** The tokenizer of an export: herd's `Llama3Tokenizer` and `PrunedVocab` built from its tokenizer.json. */
export class WebTokenizer {
  private readonly tok: Llama3Tokenizer;
  private readonly vocab: PrunedVocab | undefined;

  constructor(json: TokenizerJson) {
    if (json.format !== 'herd.llama3-tokenizer') throw new Error(`tokenizer.json: format ${JSON.stringify(json.format)}, expected herd.llama3-tokenizer`);
    this.tok = Llama3Tokenizer.fromByteLevelVocab(json.bpe);
    const p = json.pruned;
    this.vocab = p ? PrunedVocab.fromJSON({ format: 'herd.pruned-vocab', version: 1, tokenizer: 'llama3', fullIdLimit: this.tok.numIds, unknownId: p.unknownId, ids: p.ids }) : undefined;
  }

  encodeOrdinary(text: string): number[] {
    return this.tok.encodeOrdinary(text);
  }

  /** The Llama 3 chat format (full ids; `<|image|>` for image parts). */
  encodeChat(messages: readonly ChatMessage[], addGenerationPrompt = true): number[] {
    return this.tok.encodeChat(messages, { addGenerationPrompt });
  }

  toModel(id: number): number {
    return this.vocab ? this.vocab.toCompact([id])[0]! : id;
  }

  toFull(id: number): number {
    return this.vocab ? this.vocab.toFull([id])[0]! : id;
  }

  /** The prompt for these turns, as the chat server lays it out (`prompt-plan.ts`). */
  plan(turns: readonly PlanTurn[], o: PlanOptions): PromptPlan {
    return planPrompt(this.tok, this.vocab, turns, o);
  }

  /** Streaming text of model ids: never half a character. */
  streamDecoder(): { push(modelId: number): string; flush(): string } {
    const s = this.tok.streamDecoder();
    return { push: (id) => s.push([this.toFull(id)]), flush: () => s.flush() };
  }
}

/** A manifest's vision preprocessing recipe. */
interface VisionPreprocess {
  readonly tileSize: number;
  readonly supportedAspectRatios: readonly (readonly [number, number])[];
  readonly imageMean: readonly [number, number, number];
  readonly imageStd: readonly [number, number, number];
  /** Only for a checkpoint with place embeddings. */
  readonly placeBins?: number;
  readonly patchSize?: number;
  /** Only for a checkpoint with a silhouette stream. */
  readonly silhouette?: boolean;
}

/**
 * Tiles an RGB image as the export's vision recipe says (herd's `tileImage`); `tileMask` is the real-tile mask;
 * `places` the encoder's placeRow / placeCol when the recipe has place embeddings (`recipePlaceInputs`, as the server feeds them);
 * `silhouettePixels` the image's silhouette when it has a silhouette stream (`recipeSilhouettePixels`, likewise).
 */
export function tileImage(img: { data: Uint8Array; width: number; height: number }, pre: VisionPreprocess, maxTiles: number) {
  const t = herdTileImage(img, { tileSize: pre.tileSize, maxTiles, supportedAspectRatios: pre.supportedAspectRatios, imageMean: pre.imageMean, imageStd: pre.imageStd });
  const places = recipePlaceInputs(t, { maxTiles, preprocess: pre });
  const silhouettePixels = recipeSilhouettePixels(t, { preprocess: pre });
  return { ...t, tileMask: t.aspectRatioMask, ...(places ? { places } : {}), ...(silhouettePixels ? { silhouettePixels } : {}) };
}

/** RGBA (ImageData, not premultiplied) → RGB, alpha flattened onto white as the server's decoder does (the server's is sharp's, in @herd/media). */
export function rgbaToRgb(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number): { data: Uint8Array; width: number; height: number } {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height * 4; i += 4, j += 3) {
    const a = rgba[i + 3]!;
    for (let ch = 0; ch < 3; ch++) data[j + ch] = a === 255 ? rgba[i + ch]! : Math.round((rgba[i + ch]! * a + 255 * (255 - a)) / 255);
  }
  return { data, width, height };
}
