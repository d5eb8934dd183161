/**
 * What the chat server runs: a language core (the built-in mini core or a folder) and, when given, a
 * vision checkpoint (HF Mllama layout: frozen core + image encoder + cross-attention adapter). A
 * conversation becomes the Llama 3 chat template; an image part becomes `<|image|>`. Tokens stream
 * out one at a time; the caller stops early by leaving the loop (the decoder session is released).
 */
import { HerdError } from '@herd/core';
import {
  type BuiltExport,
  type ChatMessage,
  EOT_ID,
  END_OF_TEXT_ID,
  Generator,
  IMAGE_TOKEN_ID,
  type LanguageCore,
  type Llama3Tokenizer,
  MINI_CORE_DIR,
  type PrunedVocab,
  buildDecoder,
  buildExport,
  checkVocabularyFits,
  loadLanguageCore,
  loadLlama3Tokenizer,
} from '@herd/llama3';
import { decodeImage } from '@herd/media';
import { type Device } from '@herd/runtime';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type LoadedMllama, MINI_VISION_FILES, type TiledImage, VisionGenerator, loadHfMllama, loadMiniVision, tileImage, visionExportModality } from '@herd/vision';

/** One turn of a conversation as the engine sees it. */
export interface Turn {
  readonly role: 'user' | 'assistant';
  readonly text: string;
  /** A user turn's image, already decoded and tiled (only when vision is loaded). */
  readonly image?: TiledImage;
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
  generate(turns: readonly Turn[], o: GenerateOptions): AsyncGenerator<Piece>;
  /** The loaded model as an ONNX export (what `herd export` writes), for the page's in-browser mode; absent: no browser mode. */
  exportModel?(): Promise<BuiltExport>;
}

export interface LoadEngineOptions {
  /** A Hugging Face-layout Llama folder; default the built-in mini core. */
  readonly modelDir?: string;
  /** An HF Mllama folder (core + encoder + adapter); absent: text only. */
  readonly visionDir?: string;
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
    // With vision loaded every answer (text-only too) comes from the composed model; otherwise the core alone.
    const textGen = vision ? undefined : await Generator.create(core.config, buildDecoder(core.config, core.weights), { device: o.device });
    return new HerdEngine(core, tok, textGen, vision, o.device, o.maxImagePixels ?? 40_000_000);
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
      device: this.device,
    };
  }

  async prepareImage(bytes: Uint8Array, name: string): Promise<TiledImage> {
    // Decoding sniffs the bytes (magic numbers), never the name or a content type.
    const rgb = await decodeImage(bytes, { name, maxPixels: this.maxImagePixels, timeoutSeconds: 10 });
    if (!this.vision) throw new HerdError('invalid_argument', `${name}: vision: not loaded — this server answers text only (start it with --vision DIR to talk about images)`);
    return tileImage(rgb, this.vision.loaded.config.vision);
  }

  /** The conversation as model ids: text through the (pruned) vocabulary, `<|image|>` as the vision model's image id. */
  private promptIds(turns: readonly Turn[]): number[] {
    const messages: ChatMessage[] = turns.map((t) => ({ role: t.role, content: t.image ? [{ type: 'image' }, { type: 'text', text: t.text }] : t.text }));
    const full = this.tok.encodeChat(messages, { addGenerationPrompt: true });
    const vocab: PrunedVocab | undefined = this.core.vocab;
    const imageId = this.vision?.loaded.config.imageTokenId;
    const out: number[] = [];
    for (const id of full) {
      if (id === IMAGE_TOKEN_ID) {
        if (imageId === undefined) throw new HerdError('invalid_argument', 'an image in the conversation, but vision: not loaded');
        out.push(imageId);
      } else out.push(vocab ? vocab.toCompact([id])[0]! : id);
    }
    return out;
  }

  promptTokens(turns: readonly Turn[]): number {
    return this.promptIds(turns).length;
  }

  async *generate(turns: readonly Turn[], o: GenerateOptions): AsyncGenerator<Piece> {
    const prompt = this.promptIds(turns);
    const vocab = this.core.vocab;
    const toFull = (id: number): number => (vocab ? vocab.toFull([id])[0]! : id);
    const stops = [EOT_ID, END_OF_TEXT_ID].map((id) => (vocab ? vocab.toCompact([id])[0]! : id));
    const sampling = { maxNewTokens: o.maxTokens, temperature: o.temperature ?? 0, seed: o.seed ?? 0, stopTokens: stops };
    const images = turns.flatMap((t) => (t.image ? [t.image] : []));
    const ids = this.vision ? this.vision.gen.generate(prompt, images, sampling) : this.textGen!.generate(prompt, sampling);
    const stream = this.tok.streamDecoder();
    for await (const id of ids) {
      if (stops.includes(id)) break;
      yield { id, text: stream.push([toFull(id)]) };
    }
    const rest = stream.flush();
    if (rest !== '') yield { id: -1, text: rest };
  }

  private built: Promise<BuiltExport> | undefined;

  /** Built once, on first request: the same composition `herd export` writes (core + vision when loaded). */
  exportModel(): Promise<BuiltExport> {
    const v = this.vision;
    this.built ??= buildExport(
      v ? { ...this.core, config: v.loaded.config.text, weights: v.loaded.core } : this.core,
      v ? [visionExportModality(v.loaded.config, v.loaded.vision)] : [],
      'herd-chat',
    );
    return this.built;
  }

  async release(): Promise<void> {
    await this.textGen?.release();
    await this.vision?.gen.release();
  }
}
