/**
 * What the chat server runs: a language core (the built-in mini core or a folder) and, when given, a
 * vision checkpoint (HF Mllama layout: frozen core + image encoder + cross-attention adapter), a
 * speech checkpoint (Conformer encoder + embedding adapter, `@herd/speech`) and a video checkpoint
 * (aggregator + video cross-attention, `@herd/video`, on the image model it was trained on). A conversation becomes the
 * Llama 3 chat template; tokens stream out one at a time; the caller stops early by leaving the loop.
 *
 * Every answer comes from ONE composed model: the export `herd export` writes and the page runs
 * (`exportModel`: the core's decoder with every loaded modality's extension attached, plus the
 * encoder graphs), run here by `ComposedModel`. Images and clips are read by different image layers:
 * images by the vision checkpoint's, clips by the video model's own image checkpoint's (its frozen
 * encoder + image cross-attention, under `video.image.`), so each is answered exactly as that model
 * alone answers it (`herd generate --image` / `--video`). A turn may carry an image, an utterance and a clip
 * together; the prompt holds every medium of the kept turns at once (`prompt-plan.ts`, shared with
 * the page): a spoken question about a picture, a picture asked about two turns later, a clip and an
 * image in one turn.
 */
import { HerdError } from '@herd/core';
import {
  type BuiltExport,
  type ExportModality,
  EOT_ID,
  END_OF_TEXT_ID,
  type LanguageCore,
  type Llama3Tokenizer,
  MINI_CORE_DIR,
  buildExport,
  checkVocabularyFits,
  loadLanguageCore,
  loadLlama3Tokenizer,
} from '@herd/llama3';
import { decodeAudio, decodeImage } from '@herd/media';
import { type Device } from '@herd/runtime';
import { CORE_EMBEDDING_PARAM, JOINT_CTC_BEAM, JOINT_CTC_WEIGHT, type JointCtcOptions, LogMel, type MiniSpeech, type SpeechInput, audioTokens, loadMiniSpeech, speechExportModality } from '@herd/speech';
import { type MiniVideo, type TiledClip, imageCheckpointSha, loadMiniVideo, readClipFrames, videoExportModality, videoImageDir } from '@herd/video';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LoadedMllama, MINI_VISION_DIR, MINI_VISION_FILES, type TiledImage, loadHfMllama, loadMiniVision, tileImage, visionExportModality } from '@herd/vision';
import { ComposedModel, type PromptMedia } from './composed.js';
import { type PromptPlan, planPrompt } from './prompt-plan.js';

/** One turn of a conversation as the engine sees it. */
export interface Turn {
  readonly role: 'user' | 'assistant';
  readonly text: string;
  /** A user turn's image, already decoded and tiled (only when vision is loaded). A turn may carry an image, audio and a clip together. */
  readonly image?: TiledImage;
  /** A user turn's audio as log-mel features (only when speech is loaded). */
  readonly audio?: SpeechInput;
  /** A user turn's clip, its frames sampled and tiled (only when video is loaded). */
  readonly clip?: TiledClip;
}

/** Whether a turn carries any medium (an image, audio, a clip, or several). */
export function hasMedia(t: Turn): boolean {
  return t.image !== undefined || t.audio !== undefined || t.clip !== undefined;
}

export interface GenerateOptions {
  readonly maxTokens: number;
  readonly temperature?: number;
  readonly seed?: number;
  /**
   * Joint CTC decoding of a transcription (the last turn an utterance alone; `PromptPlan.transcribe`):
   * default the validated `JOINT_CTC_WEIGHT` / `JOINT_CTC_BEAM`, as `herd generate --audio`; weight 0 = the decoder alone.
   */
  readonly jointCtc?: JointCtcOptions;
  /** Stops a joint CTC transcription between its beam steps (it yields only at the end; a token stream stops when its loop is left). */
  readonly signal?: AbortSignal;
}

/** A generated token: its id (the model's) and the text it completes (may be '' mid-character). */
export interface Piece {
  readonly id: number;
  readonly text: string;
}

export interface EngineStatus {
  readonly core: { readonly dir: string; readonly builtIn: boolean; readonly layers: number; readonly dim: number; readonly vocab: number; readonly contextTokens: number };
  /** The vision checkpoint: the image encoder + cross-attention layers that answer images. */
  readonly vision: { readonly dir: string; readonly crossAttentionLayers: readonly number[]; readonly tileSize: number; readonly maxTiles: number } | null;
  /** The speech encoder + adapter: Conformer layers, adapter width, the longest utterance in seconds. */
  readonly speech: { readonly dir: string; readonly encoderLayers: number; readonly encoderDim: number; readonly adapterDim: number; readonly maxSeconds: number } | null;
  /**
   * The video aggregator + cross-attention and the image checkpoint its clips' frames go through
   * (`imageDir`, its own: encoder + the image cross-attention layers at `imageCrossAttentionLayers`);
   * frames sampled per clip; whether that is the image checkpoint it was trained on.
   */
  readonly video: { readonly dir: string; readonly imageDir: string; readonly imageCrossAttentionLayers: readonly number[]; readonly frames: number; readonly resamplerLayers: number; readonly imageMatches: boolean } | null;
  readonly device: Device;
}

/** What the server needs from a model; tests wrap the real one to hold or count tokens. */
export interface ChatEngine {
  status(): EngineStatus;
  /** Tokens a prompt of these turns takes (to trim history to the context). */
  promptTokens(turns: readonly Turn[]): number;
  readonly contextTokens: number;
  /** Decodes + tiles an image; throws HerdError when vision is not loaded or the bytes are not a decodable image. */
  prepareImage(bytes: Uint8Array, name: string): Promise<TiledImage>;
  /** Decodes audio (WAV, FLAC, MP3, OGG, WebM/Opus, M4A) to 16 kHz log-mel; throws HerdError when speech is not loaded, the bytes are not audio or it is too long. */
  prepareAudio?(bytes: Uint8Array, name: string): Promise<SpeechInput>;
  /** Samples and tiles a clip's frames, from its bytes or a file (a streamed upload); throws HerdError when video is not loaded or it is not a decodable video. */
  prepareClip?(source: Uint8Array | { readonly path: string }, name: string): Promise<TiledClip>;
  generate(turns: readonly Turn[], o: GenerateOptions): AsyncGenerator<Piece>;
  /**
   * What an utterance says: it alone, transcribed as `generate` transcribes a turn with no typed text
   * (the ASR instruction; joint CTC beam decoding by default). For `transcribeFirst` (the cascade).
   */
  transcribe?(audio: SpeechInput, o: GenerateOptions): Promise<string>;
  /** The loaded model as an ONNX export (what `herd export` writes), for the page's in-browser mode; absent: no browser mode. */
  exportModel?(): Promise<BuiltExport>;
}

export interface LoadEngineOptions {
  /** A Hugging Face-layout Llama folder; default the built-in mini core. */
  readonly modelDir?: string;
  /** An HF Mllama folder (core + encoder + adapter); absent: text only. */
  readonly visionDir?: string;
  /** herd's speech checkpoint (encoder + adapter on this core, e.g. packages/speech/weights/mini); absent: no audio. */
  readonly speechDir?: string;
  /**
   * herd's video checkpoint (aggregator + video cross-attention, e.g. packages/video/weights/mini). It
   * brings the image checkpoint it was trained on (config `image.dir`; for one that records none,
   * `visionDir` or the committed mini vision), beside `visionDir`'s, which answers images.
   */
  readonly videoDir?: string;
  readonly device: Device;
  /** Largest decoded image in pixels (before tiling). */
  readonly maxImagePixels?: number;
}

export class HerdEngine implements ChatEngine {
  private constructor(
    private readonly core: LanguageCore,
    private readonly tok: Llama3Tokenizer,
    private readonly vision: { readonly dir: string; readonly loaded: LoadedMllama } | undefined,
    private readonly speech: MiniSpeech | undefined,
    private readonly video: MiniVideo | undefined,
    private readonly device: Device,
    private readonly maxImagePixels: number,
  ) {}

  /** The one model every answer comes from (built from `exportModel`, on load). */
  private composed!: ComposedModel;

  static async load(o: LoadEngineOptions): Promise<HerdEngine> {
    const dir = o.modelDir ?? MINI_CORE_DIR;
    const core = loadLanguageCore(dir);
    const tok = await loadLlama3Tokenizer();
    checkVocabularyFits(core.dir, tok.numIds, core.config.vocabSize, core.vocab);
    let vision: HerdEngine['vision'];
    const visionDir = o.visionDir;
    const herdVision = visionDir !== undefined && existsSync(join(visionDir, MINI_VISION_FILES.weights));
    if (visionDir !== undefined) {
      // herd's own checkpoints (encoder + adapter only, e.g. the built-in mini vision) run on the given
      // core; a Hugging Face Mllama folder brings its own frozen core.
      const loaded: LoadedMllama = herdVision
        ? (({ config, weights }) => ({ config, core: core.weights, vision: weights }))(loadMiniVision(visionDir, core))
        : loadHfMllama(visionDir);
      if (loaded.config.text.vocabSize !== core.config.vocabSize) {
        throw new HerdError(
          'checkpoint_mismatch',
          `${visionDir}: the vision checkpoint's core has ${loaded.config.text.vocabSize} text ids but the language core at ${dir} has ${core.config.vocabSize}; give --model the core the adapter was trained on`,
        );
      }
      vision = { dir: visionDir, loaded };
    }
    const speech = o.speechDir !== undefined ? loadMiniSpeech(o.speechDir, core) : undefined;
    let video: MiniVideo | undefined;
    if (o.videoDir !== undefined) {
      if (visionDir !== undefined && !herdVision) {
        throw new HerdError('invalid_argument', `video checkpoint ${o.videoDir}: it runs on herd's core, and the Hugging Face Mllama folder ${visionDir} brings its own; they cannot share one decoder — leave out --video, or give herd's vision checkpoint (e.g. --vision packages/vision/weights/mini)`);
      }
      // On its own image checkpoint (config image.dir; the vision folder, else the committed one, for a checkpoint that records none).
      video = loadMiniVideo(o.videoDir, videoImageDir(o.videoDir, visionDir ?? MINI_VISION_DIR), core);
      // One <|image|> id in the composed prompt: both image layer sets' learnable rows are indexed by it.
      if (vision && video.config.image.imageTokenId !== vision.loaded.config.imageTokenId) {
        throw new HerdError('checkpoint_mismatch', `video checkpoint ${o.videoDir}: its image model's <|image|> id is ${video.config.image.imageTokenId}, the vision checkpoint ${visionDir}'s is ${vision.loaded.config.imageTokenId}; one prompt has one <|image|> id`);
      }
    }
    const engine = new HerdEngine(core, tok, vision, speech, video, o.device, o.maxImagePixels ?? 40_000_000);
    engine.composed = await ComposedModel.create(await engine.exportModel(), engine.decoderConfig, { device: o.device });
    return engine;
  }

  /** With vision loaded, the vision checkpoint's own (frozen) core answers; --model gives the vocabulary and tokenizer mapping. */
  private get decoderConfig() {
    return this.vision?.loaded.config.text ?? this.core.config;
  }

  /** With vision loaded, the vision checkpoint's own (frozen) core answers; --model gives the vocabulary and tokenizer mapping. */
  get contextTokens(): number {
    return this.vision?.loaded.config.text.maxSeqLen ?? this.core.config.maxSeqLen;
  }

  status(): EngineStatus {
    const c = this.core.config;
    const v = this.vision;
    return {
      core: { dir: this.core.dir === MINI_CORE_DIR ? 'mini (built-in)' : this.core.dir, builtIn: this.core.dir === MINI_CORE_DIR, layers: c.nLayers, dim: c.dim, vocab: c.vocabSize, contextTokens: c.maxSeqLen },
      vision: v ? { dir: v.dir, crossAttentionLayers: v.loaded.config.crossAttentionLayers, tileSize: v.loaded.config.vision.tileSize, maxTiles: v.loaded.config.vision.maxTiles } : null,
      speech: this.speech ? (({ dir, model, maxFrames }) => ({ dir, encoderLayers: model.encoder.nLayers, encoderDim: model.encoder.dim, adapterDim: model.adapter.dim, maxSeconds: maxFrames / 100 }))(this.speech) : null,
      video: this.video ? (({ dir, config, vision, imageMatches }) => ({ dir, imageDir: vision.dir, imageCrossAttentionLayers: config.image.crossAttentionLayers, frames: config.video.finetune.frames, resamplerLayers: config.video.resampler.layers, imageMatches }))(this.video) : null,
      device: this.device,
    };
  }

  async prepareImage(bytes: Uint8Array, name: string): Promise<TiledImage> {
    // Decoding sniffs the bytes (magic numbers), never the name or a content type.
    const rgb = await decodeImage(bytes, { name, maxPixels: this.maxImagePixels, timeoutSeconds: 10 });
    if (!this.vision) throw new HerdError('invalid_argument', `${name}: vision: not loaded — this server answers text only (start it with --vision DIR to talk about images)`);
    return tileImage(rgb, this.vision.loaded.config.vision);
  }

  async prepareAudio(bytes: Uint8Array, name: string): Promise<SpeechInput> {
    if (!this.speech) throw new HerdError('invalid_argument', `${name}: speech: not loaded — start the server with --speech DIR to talk with audio`);
    const maxFrames = this.speech.maxFrames;
    // decodeAudio sniffs the bytes; containers other than WAV go through ffmpeg. Longer than the model takes: refused.
    const audio = await decodeAudio(bytes, { sampleRate: 16000, maxSeconds: maxFrames / 100, name, timeoutMs: 30_000 });
    const f = new LogMel().compute(audio.samples, name);
    return { features: f.data, frames: Math.min(f.frames, maxFrames) };
  }

  async prepareClip(source: Uint8Array | { readonly path: string }, name: string): Promise<TiledClip> {
    if (!this.video) throw new HerdError('invalid_argument', `${name}: video: not loaded — start the server with --video DIR to talk about clips`);
    const read = (path: string) => readClipFrames(path, this.video!.config.image, this.video!.config.video.finetune.frames, { name, timeoutMs: 30_000 });
    if (!(source instanceof Uint8Array)) return read(source.path);
    // ffmpeg reads a file: bytes go to a private temporary folder, removed at once.
    const dir = await mkdtemp(join(tmpdir(), 'herd-chat-clip-'));
    try {
      const path = join(dir, 'clip');
      await writeFile(path, source);
      return await read(path);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** The prompt for these turns (`prompt-plan.ts`, shared with the page's in-browser engine). */
  plan(turns: readonly Turn[]): PromptPlan {
    const enc = this.speech?.model.encoder;
    return planPrompt(
      this.tok,
      this.core.vocab,
      turns.map((t) => ({ role: t.role, text: t.text, image: t.image !== undefined, clip: t.clip !== undefined, audioTokens: t.audio && enc ? audioTokens(enc, t.audio.frames) : undefined })),
      { imageId: this.vision?.loaded.config.imageTokenId ?? this.video?.config.image.imageTokenId, adapterFrames: this.speech ? audioTokens(this.speech.model.encoder, this.speech.maxFrames) : undefined },
    );
  }

  promptTokens(turns: readonly Turn[]): number {
    return this.plan(turns).ids.length;
  }

  /** The media of a plan's slots, clips and utterances, taken from the turns. */
  private media(turns: readonly Turn[], plan: PromptPlan): PromptMedia {
    return {
      images: plan.slots.map((s) => (s.kind === 'image' ? turns[s.turn]!.image : undefined)),
      clips: plan.clipTurns.map((i) => turns[i]!.clip!),
      audios: plan.audioTurns.map((i) => turns[i]!.audio!),
    };
  }

  /** The first answer token's logits for these turns (model ids; what each medium of the prompt changes — probes and tests). */
  async nextLogits(turns: readonly Turn[]): Promise<Float32Array> {
    const plan = this.plan(turns);
    return this.composed.nextLogits(plan, this.media(turns, plan));
  }

  async *generate(turns: readonly Turn[], o: GenerateOptions): AsyncGenerator<Piece> {
    const plan = this.plan(turns);
    const vocab = this.core.vocab;
    const toFull = (id: number): number => (vocab ? vocab.toFull([id])[0]! : id);
    const stops = [EOT_ID, END_OF_TEXT_ID].map((id) => (vocab ? vocab.toCompact([id])[0]! : id));
    const sampling = { maxNewTokens: o.maxTokens, temperature: o.temperature ?? 0, seed: o.seed ?? 0, stopTokens: stops };
    const media = this.media(turns, plan);
    const stream = this.tok.streamDecoder();
    const joint = o.jointCtc ?? { weight: JOINT_CTC_WEIGHT, beam: JOINT_CTC_BEAM };
    for await (const id of this.composed.generate(plan, media, sampling, joint, o.signal)) {
      if (stops.includes(id)) break;
      yield { id, text: stream.push([toFull(id)]) };
    }
    const rest = stream.flush();
    if (rest !== '') yield { id: -1, text: rest };
  }

  async transcribe(audio: SpeechInput, o: GenerateOptions): Promise<string> {
    let text = '';
    for await (const p of this.generate([{ role: 'user', text: '', audio }], { ...o, temperature: 0 })) {
      o.signal?.throwIfAborted(); // not a cut-short transcript passed off as what was heard
      text += p.text;
    }
    o.signal?.throwIfAborted();
    return text.trim();
  }

  private built: Promise<BuiltExport> | undefined;

  /** Built once, at load (the server answers with it, the page loads it): the same composition `herd export` writes (core + every loaded modality; the video part, with its own image layers, first). */
  exportModel(): Promise<BuiltExport> {
    if (this.built) return this.built;
    const v = this.vision;
    const modalities: ExportModality[] = [];
    if (this.video) {
      const { config, vision, weights } = this.video;
      modalities.push(videoExportModality(config, config.video.finetune, vision.weights, weights, { weightsSha256: imageCheckpointSha(vision.dir) }));
    }
    if (v) modalities.push(visionExportModality(v.loaded.config, v.loaded.vision, existsSync(join(v.dir, MINI_VISION_FILES.weights)) ? { weightsSha256: imageCheckpointSha(v.dir) } : undefined));
    if (this.speech) modalities.push(speechExportModality(this.speech.model, this.speech.weights, this.speech.maxFrames, this.speech.core.weights[CORE_EMBEDDING_PARAM]));
    this.built ??= buildExport(v ? { ...this.core, config: v.loaded.config.text, weights: v.loaded.core } : this.core, modalities, 'herd-chat');
    return this.built;
  }

  async release(): Promise<void> {
    await this.composed?.release();
  }
}
