/**
 * The server runs the same composed model the page runs: the export `herd export` writes
 * (`buildExport`: the frozen core's decoder with every modality's extension attached — image
 * cross-attention, video cross-attention, speech splice — plus each modality's encoder graphs), here
 * in onnxruntime-node through `@herd/runtime`. One prompt holds every medium of the conversation
 * (`prompt-plan.ts`) and one decoder answers it, following each recipe in the manifest:
 * - images → `vision.encoder` once each; their keys/values concatenated along S in prompt order, fed
 *   to the vision part's image layers (`xattn.*`);
 * - each clip → `video.frames` (features, and the middle frame's keys/values for the video model's own
 *   image layers, `video.image.xattn.*`, concatenated over the clips as images are), features rounded
 *   to f16 and back, → `video.aggregator` → `video.tokens`;
 * - the utterance → `speech.encoder` (features padded to maxFrames) → `speech.frames`;
 * - parts a prompt does not use get the recipe's idle values.
 * Per call the rows of the masks and `audioIndex` come from `decoderRows` (shared with the page).
 *
 * Legend: K kv heads, Dh head dim, S image tokens (slots · tokensPerImage), V video tokens, A adapter
 * frames, D core width, F clip frames, N tile slots, T tile size.
 */
import { HerdError, decodeF16, encodeF16 } from '@herd/core';
import { type EmittedModel } from '@herd/graph';
import { type BuiltExport, type ExportGraph, Generator, type LlamaConfig, type SamplingOptions } from '@herd/llama3';
import { type HostTensor, Session, type SessionOptions, hostTensor } from '@herd/runtime';
import { type JointCtcOptions, type SpeechInput, ctcRows, jointTranscribe } from '@herd/speech';
import { type TiledClip } from '@herd/video';
import { type TiledImage, recipePlaceInputs, recipeSilhouettePixels } from '@herd/vision';
import { type ImageLayerRows, type PromptPlan, type RowLayout, decoderRows } from './prompt-plan.js';

// The recipe fields this runner reads (the manifest's, written by each modality's export).

/** One set of image cross-attention layers (`imageLayersRecipe`): the vision recipe itself, the video recipe's `image`. */
interface ImageLayersRecipe {
  readonly imageTokenId: number;
  readonly adapterLayers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly maxTiles: number;
  readonly tokensPerTile: number;
  readonly tokensPerImage: number;
  /**
   * placeBins / patchSize: only for a checkpoint with place embeddings (the encoder then takes placeRow / placeCol);
   * silhouette: only for one with a silhouette stream (it then takes silhouettePixels).
   */
  readonly preprocess: { readonly tileSize: number; readonly imageMean: readonly [number, number, number]; readonly imageStd: readonly [number, number, number]; readonly placeBins?: number; readonly patchSize?: number; readonly silhouette?: boolean };
  /** Decoder input names; keys/values with `{adapterLayer}`. */
  readonly decoderInputs: { readonly keys: string; readonly values: string; readonly mask: string; readonly learnableIds: string };
}
type VisionRecipe = ImageLayersRecipe;
interface SpeechRecipe {
  readonly maxFrames: number;
  readonly adapterFrames: number;
  /** Present when the export has the CTC head's output (`speech.ctc`). */
  readonly ctc?: { readonly output: string; readonly classes: number };
  readonly preprocess: { readonly stack: number; readonly logMel: { readonly nMels: number } };
}
interface VideoRecipe {
  readonly frames: number;
  readonly tokensPerFrame: number;
  readonly videoTokens: number;
  /** 'canvas': the aggregator also takes the clip's canvas, `video.aspectRatioId` [1] (video config frameLayout); absent, it does not. */
  readonly frameLayout?: 'canvas';
  /** The video model's own image layers (its frames are tiled and its middle frame fed as this says). */
  readonly image: ImageLayersRecipe;
}

/** The media of one prompt, prepared (decoded, tiled, log-mel). */
export interface PromptMedia {
  /** One per image slot of the plan, in order; a clip slot's entry is unused (the clip gives it). */
  readonly images: readonly (TiledImage | undefined)[];
  /** One per clip of the plan (`clipTurns`), in order. */
  readonly clips: readonly TiledClip[];
  /** One per utterance of the plan (`audioTurns`), in order. */
  readonly audios: readonly SpeechInput[];
}

/** `placeRow` / `placeCol` of one image for a recipe with place embeddings (`recipePlaceInputs`), else nothing. */
function placeFeeds(im: TiledImage, v: VisionRecipe): Record<string, HostTensor> {
  const p = recipePlaceInputs(im, v);
  return p ? { placeRow: hostTensor('i32', p.dims, p.placeRow), placeCol: hostTensor('i32', p.dims, p.placeCol) } : {};
}

/** `silhouettePixels` of one image for a recipe with a silhouette stream (`recipeSilhouettePixels`), else nothing. */
function silhouetteFeeds(im: TiledImage, v: VisionRecipe): Record<string, HostTensor> {
  const s = recipeSilhouettePixels(im, v);
  const T = v.preprocess.tileSize;
  return s ? { silhouettePixels: hostTensor('f32', [1, v.maxTiles, 3, T, T], s) } : {};
}

/** Tensors [1, n_i, D] side by side along dim 1 → [1, Σn_i, D]. */
function concatRows(parts: readonly HostTensor[]): HostTensor {
  if (parts.length === 1) return parts[0]!;
  const D = parts[0]!.shape[2]!;
  const n = parts.reduce((a, t) => a + t.shape[1]!, 0);
  const data = new Float32Array(n * D);
  let at = 0;
  for (const t of parts) {
    data.set(t.data as Float32Array, at);
    at += (t.data as Float32Array).length;
  }
  return hostTensor('f32', [1, n, D], data);
}

function emitted(built: BuiltExport, entry: ExportGraph): EmittedModel {
  const bytes = built.files.get(entry.file);
  if (!bytes) throw new HerdError('invalid_argument', `composed model: the export has no file ${entry.file}`);
  return { bytes, inputs: entry.inputs, outputs: entry.outputs, externalFiles: [] };
}

export class ComposedModel {
  private readonly sessions = new Map<string, Promise<Session>>();

  private constructor(
    private readonly built: BuiltExport,
    private readonly decoder: Generator,
    private readonly options: SessionOptions,
  ) {}

  /** The decoder session opens now; each encoder graph on its first use. */
  static async create(built: BuiltExport, cfg: LlamaConfig, options: SessionOptions = {}): Promise<ComposedModel> {
    const video = built.manifest.modalities['video']?.recipe as VideoRecipe | undefined;
    if (video && video.image === undefined) throw new HerdError('invalid_argument', 'composed model: the export\'s video part does not carry its own image layers (made before round 28): re-export it');
    const vision = built.manifest.modalities['vision']?.recipe as VisionRecipe | undefined;
    // One <|image|> id in the prompt: both sets' learnable rows are indexed by it.
    if (video && vision && video.image.imageTokenId !== vision.imageTokenId) throw new HerdError('checkpoint_mismatch', `composed model: the vision part's <|image|> id is ${vision.imageTokenId}, the video part's image model's ${video.image.imageTokenId}; one prompt needs one`);
    return new ComposedModel(built, await Generator.create(cfg, emitted(built, built.manifest.decoder), options), options);
  }

  private recipe<R>(modality: string): R | undefined {
    return this.built.manifest.modalities[modality]?.recipe as R | undefined;
  }

  get vision(): VisionRecipe | undefined {
    return this.recipe<VisionRecipe>('vision');
  }

  get video(): VideoRecipe | undefined {
    return this.recipe<VideoRecipe>('video');
  }

  get speech(): SpeechRecipe | undefined {
    return this.recipe<SpeechRecipe>('speech');
  }

  private session(modality: string, role: string): Promise<Session> {
    const key = `${modality}.${role}`;
    const open = this.sessions.get(key);
    if (open) return open;
    const entry = this.built.manifest.modalities[modality]?.graphs[role];
    if (!entry) throw new HerdError('invalid_argument', `composed model: no ${modality} ${role} graph in the export (${modality}: not loaded)`);
    const s = Session.create(emitted(this.built, entry), this.options, key);
    this.sessions.set(key, s);
    s.catch(() => this.sessions.delete(key));
    return s;
  }

  /** `vision.encoder` on one image: every adapter layer's keys/values [1, K, tokensPerImage, Dh]. */
  private async imageKv(im: TiledImage): Promise<Record<string, HostTensor>> {
    const v = this.vision!;
    const T = v.preprocess.tileSize;
    return (await this.session('vision', 'encoder')).run({
      pixels: hostTensor('f32', [1, v.maxTiles, 3, T, T], im.pixels),
      aspectRatioIds: hostTensor('i32', [1], [im.aspectRatioId]),
      tileMask: hostTensor('bool', [1, v.maxTiles], im.aspectRatioMask),
      ...placeFeeds(im, v),
      ...silhouetteFeeds(im, v),
    });
  }

  /** `video.frames` then `video.aggregator` on a clip: its video tokens, the middle frame's keys/values (for the video model's own image layers) and real tiles. */
  private async clipContext(clip: TiledClip): Promise<{ tokens: HostTensor; kv: Record<string, HostTensor>; nTiles: number }> {
    const r = this.video!;
    const v = r.image;
    const T = v.preprocess.tileSize;
    const N = v.maxTiles;
    const F = r.frames;
    if (clip.frames.length !== F) throw new HerdError('invalid_argument', `a clip needs ${F} sampled frames, got ${clip.frames.length}`);
    const one = N * 3 * T * T;
    const pixels = new Float32Array(F * one);
    const mask = new Uint8Array(F * N);
    clip.frames.forEach((f, i) => {
      pixels.set(f.pixels, i * one);
      mask.set(f.aspectRatioMask, i * N);
    });
    const out = await (await this.session('video', 'frames')).run({
      pixels: hostTensor('f32', [F, N, 3, T, T], pixels),
      aspectRatioIds: hostTensor('i32', [F], clip.frames.map((f) => f.aspectRatioId)),
      tileMask: hostTensor('bool', [F, N], mask),
    });
    const features = out['features']!;
    const S = r.tokensPerFrame;
    const D = features.shape[2]!;
    const nTiles = clip.frames[0]!.nTiles;
    // The recipe: features through f16 and back (herd caches them in f16), as training saw them.
    const rounded = decodeF16(encodeF16(features.data as Float32Array));
    const agg = await (await this.session('video', 'aggregator')).run({
      'video.frames': hostTensor('f32', [1, F, S, D], rounded),
      'video.frameMask': hostTensor('bool', [1, S], new Uint8Array(S).fill(1, 0, nTiles * v.tokensPerTile)),
      ...(r.frameLayout === 'canvas' ? { 'video.aspectRatioId': hostTensor('i32', [1], [clip.frames[0]!.aspectRatioId]) } : {}),
    });
    const kv = Object.fromEntries(Object.entries(out).filter(([n]) => n !== 'features'));
    return { tokens: agg['video.tokens']!, kv, nTiles };
  }

  /** `speech.encoder` on one utterance: features zero-padded to maxFrames → `speech.frames` [1, A, D] (and `speech.ctc` [1, A, V + 1] when exported). */
  private async speechFrames(audio: SpeechInput): Promise<Record<string, HostTensor>> {
    const r = this.speech!;
    const nMels = r.preprocess.logMel.nMels;
    const features = new Float32Array(r.maxFrames * nMels);
    features.set(audio.features.subarray(0, Math.min(audio.frames, r.maxFrames) * nMels));
    const valid = new Uint8Array(r.maxFrames / r.preprocess.stack).fill(1, 0, Math.ceil(audio.frames / r.preprocess.stack));
    const out = await (await this.session('speech', 'encoder')).run({
      features: hostTensor('f32', [1, r.maxFrames, nMels], features),
      featureValid: hostTensor('bool', [1, valid.length], valid),
    });
    return out;
  }

  /** Whether the export can decode a transcription jointly with the CTC head (it has `speech.ctc`). */
  get jointCtc(): boolean {
    return this.speech?.ctc !== undefined;
  }

  /** A decoder input filled with one value (a recipe's idle feed), its B and T dims resolved (others: `sizes`, else 1). */
  private constant(name: string, value: number | boolean, T: number, sizes: Readonly<Record<string, number>> = {}): HostTensor {
    const spec = this.built.manifest.decoder.inputs.find((i) => i.name === name);
    if (!spec) throw new HerdError('invalid_argument', `composed model: the decoder has no input '${name}'`);
    const dims = spec.shape.map((d) => (d === 'B' ? 1 : d === 'T' ? T : typeof d === 'string' ? (sizes[d] ?? 1) : d));
    if (!dims.every((d): d is number => typeof d === 'number')) throw new HerdError('invalid_argument', `composed model: input '${name}' has an unresolved dim in [${spec.shape}]`);
    const t = hostTensor(spec.dtype as 'f32' | 'i32' | 'bool', dims);
    (t.data as Float32Array | Int32Array | Uint8Array).fill(Number(value));
    return t;
  }

  /** One set's keys/values of its slots (each [1, K, s1, Dh], named as its decoder inputs) concatenated along S → [1, K, S, Dh]; no slot: S = 1 zeros (every row masked). */
  private slotKeysValues(r: ImageLayersRecipe, perSlot: readonly Record<string, HostTensor>[]): Record<string, HostTensor> {
    const K = r.kvHeads;
    const Dh = r.headDim;
    const s1 = r.tokensPerImage;
    const S = perSlot.length > 0 ? s1 * perSlot.length : 1;
    const out: Record<string, HostTensor> = {};
    for (let j = 0; j < r.adapterLayers; j++) {
      for (const pattern of [r.decoderInputs.keys, r.decoderInputs.values]) {
        const name = pattern.replace('{adapterLayer}', String(j));
        const data = new Float32Array(K * S * Dh);
        perSlot.forEach((o, i) => {
          const src = o[name]?.data as Float32Array | undefined;
          if (!src) throw new HerdError('invalid_argument', `composed model: an image graph gave no '${name}'`);
          for (let k = 0; k < K; k++) data.set(src.subarray(k * s1 * Dh, (k + 1) * s1 * Dh), (k * S + i * s1) * Dh);
        });
        out[name] = hostTensor('f32', [1, K, S, Dh], data);
      }
    }
    return out;
  }

  /** The decoder's tokens and per-call feeds for a prompt: every encoder runs here, once per prompt. */
  private async inputs(plan: PromptPlan, media: PromptMedia): Promise<{ tokens: number[]; feeds: (start: number, count: number) => Record<string, HostTensor>; ctc: (HostTensor | undefined)[] }> {
    const v = this.vision;
    const video = this.video;
    if (plan.slots.some((s) => s.kind === 'image') && !v) throw new HerdError('invalid_argument', 'an image in the prompt, but vision: not loaded');
    if (plan.clipTurns.length > 0 && (!video || media.clips.length !== plan.clipTurns.length)) throw new HerdError('invalid_argument', `${plan.clipTurns.length} clip(s) in the prompt, but ${video ? `${media.clips.length} given` : 'video: not loaded'}`);
    if (plan.audioTurns.length > 0 && (!this.speech || media.audios.length !== plan.audioTurns.length)) throw new HerdError('invalid_argument', `${plan.audioTurns.length} utterance(s) in the prompt, but ${this.speech ? `${media.audios.length} given` : 'speech: not loaded'}`);
    const clips = [];
    for (const c of media.clips) clips.push(await this.clipContext(c));
    // Image slots in prompt order: each image's keys/values go to the vision layers, each clip's middle frame's to the video model's own.
    const images: Record<string, HostTensor>[] = [];
    const nTiles: number[] = [];
    for (const [j, s] of plan.slots.entries()) {
      if (s.kind === 'clip') {
        nTiles.push(clips[s.clip!]!.nTiles);
      } else {
        const im = media.images[j];
        if (!im) throw new HerdError('invalid_argument', `image slot ${j} (turn ${s.turn}): no image given`);
        images.push(await this.imageKv(im));
        nTiles.push(im.nTiles);
      }
    }
    const fixed: Record<string, HostTensor> = {
      ...(v ? this.slotKeysValues(v, images) : {}),
      ...(video ? this.slotKeysValues(video.image, clips.map((c) => c.kv)) : {}),
    };
    const ctc: (HostTensor | undefined)[] = [];
    if (this.speech) {
      const frames = [];
      for (const a of media.audios) {
        const out = await this.speechFrames(a);
        frames.push(out['speech.frames']!);
        ctc.push(this.speech.ctc ? out[this.speech.ctc.output] : undefined);
      }
      fixed['speech.frames'] = frames.length > 0 ? concatRows(frames) : this.constant('speech.frames', 0, 1);
    }
    const cfg = this.built.manifest.core.config;
    const layout: RowLayout = {
      vocab: cfg.vocabSize,
      imageTokenId: v?.imageTokenId ?? video?.image.imageTokenId ?? -1,
      ...(v ? { image: { maxTiles: v.maxTiles, tokensPerTile: v.tokensPerTile } } : {}),
      ...(video ? { clip: { maxTiles: video.image.maxTiles, tokensPerTile: video.image.tokensPerTile, videoTokens: video.videoTokens } } : {}),
    };
    const videoTokens = video ? (clips.length > 0 ? concatRows(clips.map((c) => c.tokens)) : this.constant('video.tokens', 0, 1, { V: video.videoTokens })) : undefined;
    const feeds = (start: number, count: number): Record<string, HostTensor> => {
      const rows = decoderRows(plan, nTiles, layout, start, count);
      const f: Record<string, HostTensor> = { ...fixed };
      const set = (r: ImageLayersRecipe, x: ImageLayerRows): void => {
        f[r.decoderInputs.mask] = hostTensor('bool', [1, 1, count, x.imageTokens], x.xattnMask);
        f[r.decoderInputs.learnableIds] = hostTensor('i32', [1, count], x.learnableIds);
      };
      if (v) set(v, rows.image!);
      if (video) {
        set(video.image, rows.clip!);
        f['video.tokens'] = videoTokens!;
        f['video.mask'] = hostTensor('bool', [1, 1, count, videoTokens!.shape[1]!], rows.clip!.videoMask);
      }
      if (this.speech) f['audioIndex'] = hostTensor('i32', [1, count], rows.audioIndex);
      return f;
    };
    // The adapters' learnable ids (≥ vocab) are fed as 0; each set's `learnableIds` carries them.
    return { tokens: plan.ids.map((t) => (t >= cfg.vocabSize ? 0 : t)), feeds, ctc };
  }

  /**
   * Streams the answer's ids to a prompt laid out by `planPrompt`; encoders run first (once per
   * prompt), then one decoder call per token. Leaving the loop stops generation. A transcription
   * (`plan.transcribe`) with `joint` weight > 0 on an export with `speech.ctc` is decoded jointly with
   * the CTC head (`jointTranscribe`: beam search, as `herd generate --audio`), then streamed; `signal`
   * stops that search between its steps (token by token, leaving the loop is enough).
   */
  async *generate(plan: PromptPlan, media: PromptMedia, sampling: SamplingOptions, joint?: JointCtcOptions, signal?: AbortSignal): AsyncGenerator<number> {
    const { tokens, feeds, ctc } = await this.inputs(plan, media);
    const t = plan.transcribe;
    const logp = t && ctc[t.utterance];
    if (t && logp && joint && joint.weight > 0) {
      const posteriors = ctcRows(logp, t.audioTokens);
      yield* (await jointTranscribe((o) => this.decoder.beam(tokens, o, feeds), posteriors, { ...joint, maxNewTokens: sampling.maxNewTokens, stopTokens: sampling.stopTokens ?? [], ...(signal ? { signal } : {}) })).tokens;
      return;
    }
    yield* this.decoder.generate(tokens, sampling, feeds);
  }

  /** The first answer token's logits for a prompt (what every medium in it changes; for probes and tests). */
  async nextLogits(plan: PromptPlan, media: PromptMedia): Promise<Float32Array> {
    const { tokens, feeds } = await this.inputs(plan, media);
    return this.decoder.nextLogits(tokens, feeds);
  }

  async release(): Promise<void> {
    await this.decoder.release();
    for (const s of this.sessions.values()) await (await s.catch(() => undefined))?.release();
  }
}
