/**
 * Generation with speech in the prompt: one KV-cache decoder built from the speech spec (core +
 * extension) for features padded to `maxFrames`, run by the core's `Generator` (sampling, stop
 * tokens) unchanged. Per call the generator is fed the utterance's features and the `audioIndex`
 * rows of the positions it computes: the prompt's placeholders and markers take the adapter's
 * frames, generated tokens keep their own embeddings.
 *
 * The decoder recomputes the encoder at each step (the extension's `encode` is in the graph); for the
 * mini model that is a few milliseconds per token.
 */
import { HerdError } from '@herd/core';
import { type FrozenWeights, Generator, type LlamaConfig, type SamplingOptions, buildDecoder } from '@herd/llama3';
import { type HostTensor, type SessionOptions, hostTensor } from '@herd/runtime';
import { KEEP_TOKEN, type SpeechModelConfig, audioTokens, speechSpec } from './extension.js';
import { audioIndexOf, featureFeeds, type SpeechPromptLayout } from '../train/speech-data.js';

export interface SpeechInput {
  /** Log-mel [frames, nMels]. */
  readonly features: Float32Array;
  readonly frames: number;
}

export class SpeechGenerator {
  private current: { feeds: Record<string, HostTensor>; codes: readonly number[] } | undefined;

  private constructor(
    readonly model: SpeechModelConfig,
    readonly maxFrames: number,
    private readonly gen: Generator,
  ) {}

  /**
   * `weights`: the core's (may be external data, with `options.modelDir`) and the speech groups'.
   * Audio up to `maxFrames` input frames (10 ms each) can be given.
   */
  static async create(core: LlamaConfig, m: SpeechModelConfig, weights: FrozenWeights, maxFrames: number, options: SessionOptions = {}): Promise<SpeechGenerator> {
    const decoder = buildDecoder(speechSpec(core, m, maxFrames), weights);
    let self: SpeechGenerator | undefined = undefined;
    const gen = await Generator.create(core, decoder, options, (start, count) => self!.feeds(start, count));
    self = new SpeechGenerator(m, maxFrames, gen);
    return self;
  }

  /** Adapter frames the prompt must hold for this audio. */
  audioTokens(audio: SpeechInput): number {
    return audioTokens(this.model.encoder, audio.frames);
  }

  private feeds(start: number, count: number): Record<string, HostTensor> {
    const c = this.current;
    if (!c) throw new HerdError('invalid_argument', 'SpeechGenerator: no utterance set');
    const row = Array.from({ length: count }, (_, i) => c.codes[start + i] ?? KEEP_TOKEN);
    return { ...c.feeds, audioIndex: hostTensor('i32', [1, count], audioIndexOf([row], audioTokens(this.model.encoder, this.maxFrames), count)) };
  }

  private set(layout: SpeechPromptLayout, audio: SpeechInput | undefined): void {
    if (audio && audio.frames > this.maxFrames) {
      throw new HerdError('invalid_argument', `speech: ${audio.frames} frames (${(audio.frames / 100).toFixed(2)} s) is longer than the ${this.maxFrames} frames (${this.maxFrames / 100} s) this model takes; cut the audio`);
    }
    const want = audio ? this.audioTokens(audio) : 0;
    const have = layout.codes.filter((c) => c >= 0).length;
    if (have !== want) throw new HerdError('invalid_argument', `speech prompt: ${have} audio positions for ${want} adapter frames`);
    const silent = { features: new Float32Array(this.model.encoder.nMels * 8), frames: 8 };
    this.current = { feeds: featureFeeds(this.model.encoder, [audio ?? silent], this.maxFrames), codes: layout.codes };
  }

  /** Greedy/sampled continuation of a prompt laid out by `speechPromptLayout` (or text only: `audio` undefined, codes all KEEP_TOKEN). */
  async complete(layout: SpeechPromptLayout, audio: SpeechInput | undefined, o: SamplingOptions): Promise<number[]> {
    this.set(layout, audio);
    return this.gen.complete(layout.ids, o);
  }

  async *generate(layout: SpeechPromptLayout, audio: SpeechInput | undefined, o: SamplingOptions): AsyncGenerator<number> {
    this.set(layout, audio);
    yield* this.gen.generate(layout.ids, o);
  }

  /** Logits at every position (tests). */
  async logits(layout: SpeechPromptLayout, audio: SpeechInput | undefined): Promise<Float32Array[]> {
    this.set(layout, audio);
    return this.gen.logits(layout.ids);
  }

  async release(): Promise<void> {
    await this.gen.release();
  }
}
