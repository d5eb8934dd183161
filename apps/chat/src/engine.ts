/**
 * What the chat server runs: a language core (the built-in mini core or a folder) and, when given, a
 * vision checkpoint (HF Mllama layout: frozen core + image encoder + cross-attention adapter), a
 * speech checkpoint (Conformer encoder + embedding adapter, `@herd/speech`) and a video checkpoint
 * (aggregator + video cross-attention on the image model, `@herd/video`). A conversation becomes the
 * Llama 3 chat template; an image part becomes `<|image|>`. Tokens stream out one at a time; the
 * caller stops early by leaving the loop (the decoder session is released).
 *
 * Which model answers is decided by the media of the conversation (`prompt-plan.ts`, shared with the
 * page's in-browser engine; the packages give one generator per modality, not one composed decoder):
 * - audio on the current user turn → the speech generator: earlier turns as text, the utterance laid
 *   out as `herd generate --audio` lays it out (`speechPromptLayout`: typed text before the audio; no
 *   text → the ASR instruction after it);
 * - else, the latest media in the window is a clip → the video generator with that clip as the one
 *   `<|image|>` (as `herd generate --video`); other turns as text;
 * - else the vision model (images on the kept turns) or the core alone.
 */
import { HerdError } from '@herd/core';
import {
  type BuiltExport,
  type ExportModality,
  EOT_ID,
  END_OF_TEXT_ID,
  Generator,
  type LanguageCore,
  type Llama3Tokenizer,
  MINI_CORE_DIR,
  type SamplingOptions,
  buildDecoder,
  buildExport,
  checkVocabularyFits,
  loadLanguageCore,
  loadLlama3Tokenizer,
} from '@herd/llama3';
import { decodeAudio, decodeImage } from '@herd/media';
import { type Device } from '@herd/runtime';
import { LogMel, type MiniSpeech, type SpeechGenerator, type SpeechInput, loadMiniSpeech, miniSpeechGenerator, speechExportModality } from '@herd/speech';
import { type MiniVideo, type TiledClip, VideoGenerator, loadMiniVideo, readClipFrames, videoExportModality } from '@herd/video';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PromptPlan, planPrompt } from './prompt-plan.js';
import { type LoadedMllama, MINI_VISION_FILES, type TiledImage, VisionGenerator, loadHfMllama, loadMiniVision, tileImage, visionExportModality } from '@herd/vision';

/** One turn of a conversation as the engine sees it. */
export interface Turn {
  readonly role: 'user' | 'assistant';
  readonly text: string;
  /** A user turn's image, already decoded and tiled (only when vision is loaded). */
  readonly image?: TiledImage;
  /** A user turn's audio as log-mel features (only when speech is loaded). */
  readonly audio?: SpeechInput;
  /** A user turn's clip, its frames sampled and tiled (only when video is loaded). */
  readonly clip?: TiledClip;
}

/** The media a turn carries, if any (at most one per turn). */
export function mediaOf(t: Turn): 'image' | 'audio' | 'clip' | undefined {
  return t.image ? 'image' : t.audio ? 'audio' : t.clip ? 'clip' : undefined;
}

export interface GenerateOptions {
  readonly maxTokens: number;
  readonly temperature?: number;
  readonly seed?: number;
}

/** A generated token: its id (the model's) and the text it completes (may be '' mid-character). */
export interface Piece {
  readonly id: number;
  readonly text: string;
}

export interface EngineStatus {
  readonly core: { readonly dir: string; readonly builtIn: boolean; readonly layers: number; readonly dim: number; readonly vocab: number; readonly contextTokens: number };
  readonly vision: { readonly dir: string; readonly crossAttentionLayers: readonly number[]; readonly tileSize: number; readonly maxTiles: number } | null;
  /** The speech encoder + adapter: Conformer layers, adapter width, the longest utterance in seconds. */
  readonly speech: { readonly dir: string; readonly encoderLayers: number; readonly encoderDim: number; readonly adapterDim: number; readonly maxSeconds: number } | null;
  /** The video aggregator + cross-attention: frames sampled per clip; whether it was trained on the loaded image checkpoint. */
  readonly video: { readonly dir: string; readonly frames: number; readonly resamplerLayers: number; readonly imageMatches: boolean } | null;
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
  /** herd's video checkpoint (aggregator + video cross-attention, e.g. packages/video/weights/mini); needs `visionDir` (herd's own image checkpoint it sits on). */
  readonly videoDir?: string;
  readonly device: Device;
  /** Largest decoded image in pixels (before tiling). */
  readonly maxImagePixels?: number;
}

export class HerdEngine implements ChatEngine {
  private constructor(
    private readonly core: LanguageCore,
    private readonly tok: Llama3Tokenizer,
    private readonly textGen: Generator | undefined,
    private readonly vision: { readonly dir: string; readonly loaded: LoadedMllama; readonly gen: VisionGenerator } | undefined,
    private readonly speech: { readonly loaded: MiniSpeech; readonly gen: SpeechGenerator } | undefined,
    private readonly video: { readonly loaded: MiniVideo; readonly gen: VideoGenerator } | undefined,
    private readonly device: Device,
    private readonly maxImagePixels: number,
  ) {}

  static async load(o: LoadEngineOptions): Promise<HerdEngine> {
    const dir = o.modelDir ?? MINI_CORE_DIR;
    const core = loadLanguageCore(dir);
    const tok = await loadLlama3Tokenizer();
    checkVocabularyFits(core.dir, tok.numIds, core.config.vocabSize, core.vocab);
    let vision: HerdEngine['vision'];
    if (o.visionDir !== undefined) {
      // herd's own checkpoints (encoder + adapter only, e.g. the built-in mini vision) run on the given
      // core; a Hugging Face Mllama folder brings its own frozen core.
      const loaded: LoadedMllama = existsSync(join(o.visionDir, MINI_VISION_FILES.weights))
        ? (({ config, weights }) => ({ config, core: core.weights, vision: weights }))(loadMiniVision(o.visionDir, core))
        : loadHfMllama(o.visionDir);
      if (loaded.config.text.vocabSize !== core.config.vocabSize) {
        throw new HerdError(
          'checkpoint_mismatch',
          `${o.visionDir}: the vision checkpoint's core has ${loaded.config.text.vocabSize} text ids but the language core at ${dir} has ${core.config.vocabSize}; give --model the core the adapter was trained on`,
        );
      }
      vision = { dir: o.visionDir, loaded, gen: VisionGenerator.create(loaded.config, loaded.core, loaded.vision, { device: o.device }) };
    }
    let speech: HerdEngine['speech'];
    if (o.speechDir !== undefined) {
      const loaded = loadMiniSpeech(o.speechDir, core);
      speech = { loaded, gen: await miniSpeechGenerator(loaded, { device: o.device }) };
    }
    let video: HerdEngine['video'];
    if (o.videoDir !== undefined) {
      if (o.visionDir === undefined || !existsSync(join(o.visionDir, MINI_VISION_FILES.weights))) {
        throw new HerdError('invalid_argument', `video checkpoint ${o.videoDir}: it sits on herd's own image checkpoint; give that as the vision folder (e.g. --vision packages/vision/weights/mini)${o.visionDir !== undefined ? `, not ${o.visionDir}` : ''}`);
      }
      const loaded = loadMiniVideo(o.videoDir, o.visionDir, core);
      video = { loaded, gen: VideoGenerator.create(loaded.config, loaded.config.video.finetune, core.weights, loaded.vision.weights, loaded.weights, { device: o.device }) };
    }
    // With vision loaded every answer (text-only too) comes from the composed model; otherwise the core alone.
    const textGen = vision ? undefined : await Generator.create(core.config, buildDecoder(core.config, core.weights), { device: o.device });
    return new HerdEngine(core, tok, textGen, vision, speech, video, o.device, o.maxImagePixels ?? 40_000_000);
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
      speech: this.speech ? (({ dir, model, maxFrames }) => ({ dir, encoderLayers: model.encoder.nLayers, encoderDim: model.encoder.dim, adapterDim: model.adapter.dim, maxSeconds: maxFrames / 100 }))(this.speech.loaded) : null,
      video: this.video ? (({ dir, config, imageMatches }) => ({ dir, frames: config.video.finetune.frames, resamplerLayers: config.video.resampler.layers, imageMatches }))(this.video.loaded) : null,
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
    const maxFrames = this.speech.loaded.maxFrames;
    // decodeAudio sniffs the bytes; containers other than WAV go through ffmpeg. Longer than the model takes: refused.
    const audio = await decodeAudio(bytes, { sampleRate: 16000, maxSeconds: maxFrames / 100, name, timeoutMs: 30_000 });
    const f = new LogMel().compute(audio.samples, name);
    return { features: f.data, frames: Math.min(f.frames, maxFrames) };
  }

  async prepareClip(source: Uint8Array | { readonly path: string }, name: string): Promise<TiledClip> {
    if (!this.video) throw new HerdError('invalid_argument', `${name}: video: not loaded — start the server with --video DIR (and --vision DIR) to talk about clips`);
    const read = (path: string) => readClipFrames(path, this.video!.loaded.config.image, this.video!.loaded.config.video.finetune.frames, { name, timeoutMs: 30_000 });
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
  private plan(turns: readonly Turn[]): PromptPlan {
    const last = turns[turns.length - 1];
    return planPrompt(this.tok, this.core.vocab, turns.map((t) => ({ role: t.role, text: t.text, media: mediaOf(t) })), {
      visionLoaded: this.vision !== undefined,
      imageId: this.vision?.loaded.config.imageTokenId,
      videoImageId: this.video?.loaded.config.image.imageTokenId,
      audioTokens: last?.audio && this.speech ? this.speech.gen.audioTokens(last.audio) : undefined,
    });
  }

  promptTokens(turns: readonly Turn[]): number {
    return this.plan(turns).ids.length;
  }

  async *generate(turns: readonly Turn[], o: GenerateOptions): AsyncGenerator<Piece> {
    const plan = this.plan(turns);
    const vocab = this.core.vocab;
    const toFull = (id: number): number => (vocab ? vocab.toFull([id])[0]! : id);
    const stops = [EOT_ID, END_OF_TEXT_ID].map((id) => (vocab ? vocab.toCompact([id])[0]! : id));
    const sampling = { maxNewTokens: o.maxTokens, temperature: o.temperature ?? 0, seed: o.seed ?? 0, stopTokens: stops };
    const ids = this.answerIds(turns, plan, sampling);
    const stream = this.tok.streamDecoder();
    for await (const id of ids) {
      if (stops.includes(id)) break;
      yield { id, text: stream.push([toFull(id)]) };
    }
    const rest = stream.flush();
    if (rest !== '') yield { id: -1, text: rest };
  }

  private answerIds(turns: readonly Turn[], plan: PromptPlan, sampling: SamplingOptions): AsyncGenerator<number> {
    const prompt = plan.ids;
    switch (plan.kind) {
      case 'speech':
        return this.speech!.gen.generate({ ids: prompt, codes: plan.codes! }, turns[turns.length - 1]!.audio, sampling);
      case 'video':
        return this.videoAnswer(turns.findLast((t) => t.clip !== undefined)!.clip!, prompt, sampling);
      case 'vision':
        return this.vision!.gen.generate(prompt, turns.flatMap((t) => (t.image ? [t.image] : [])), sampling);
      case 'text':
        return this.textGen!.generate(prompt, sampling);
    }
  }

  /**
   * `VideoGenerator` has no streaming call (only `complete`): the clip's answer is computed whole,
   * then handed out token by token, so its first token arrives with its last.
   */
  private async *videoAnswer(clip: TiledClip, prompt: number[], sampling: SamplingOptions): AsyncGenerator<number> {
    const v = this.video!.gen;
    yield* await v.complete(prompt, await v.contextOfFrames(clip), sampling);
  }

  private built: Promise<BuiltExport> | undefined;

  /** Built once, on first request: the same composition `herd export` writes (core + every loaded modality; video before vision, see videoExportModality). */
  exportModel(): Promise<BuiltExport> {
    const v = this.vision;
    const modalities: ExportModality[] = [];
    if (this.video) {
      const { config, vision, weights } = this.video.loaded;
      modalities.push(videoExportModality(config, config.video.finetune, vision.weights, weights));
    }
    if (v) modalities.push(visionExportModality(v.loaded.config, v.loaded.vision));
    if (this.speech) modalities.push(speechExportModality(this.speech.loaded.model, this.speech.loaded.weights, this.speech.loaded.maxFrames));
    this.built ??= buildExport(v ? { ...this.core, config: v.loaded.config.text, weights: v.loaded.core } : this.core, modalities, 'herd-chat');
    return this.built;
  }

  async release(): Promise<void> {
    await this.textGen?.release();
    await this.vision?.gen.release();
    await this.speech?.gen.release();
    await this.video?.gen.release();
  }
}
