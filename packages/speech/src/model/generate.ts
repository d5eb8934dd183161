/**
 * Generation with speech in the prompt: the audio graph (encoder + adapter, `speechAudioGraph`) runs
 * once per prompt and gives the audio embeddings [1, A, D]; the KV-cache decoder (the core with
 * `speechDecodeExtension`) takes them as an input at every call, so the encoder is not re-run per
 * generated token. The core's `Generator` (sampling, stop tokens) runs unchanged; per call it is fed
 * the audio embeddings and the `audioIndex` rows of the positions it computes: the prompt's
 * placeholders and markers take the adapter's frames, generated tokens keep their own embeddings.
 */
import { HerdError } from '@herd/core';
import { type BeamOptions, type BeamResult, type FrozenWeights, Generator, type LlamaConfig, type SamplingOptions, buildDecoder } from '@herd/llama3';
import { type HostTensor, Session, type SessionOptions, hostTensor } from '@herd/runtime';
import { KEEP_TOKEN, type SpeechModelConfig, audioTokens, speechAudioGraph, speechDecodeExtension } from './extension.js';
import { audioIndexOf, featureFeeds, type SpeechPromptLayout } from '../train/speech-data.js';

export interface SpeechInput {
  /** Log-mel [frames, nMels]. */
  readonly features: Float32Array;
  readonly frames: number;
}

export class SpeechGenerator {
  private current: { audio: HostTensor; codes: readonly number[] } | undefined;
  private runs = 0;

  private constructor(
    readonly model: SpeechModelConfig,
    readonly maxFrames: number,
    private readonly gen: Generator,
    private readonly audioSession: Session,
  ) {}

  /**
   * `weights`: the core's (may be external data, with `options.modelDir`) and the speech groups'.
   * Audio up to `maxFrames` input frames (10 ms each) can be given.
   */
  static async create(core: LlamaConfig, m: SpeechModelConfig, weights: FrozenWeights, maxFrames: number, options: SessionOptions = {}): Promise<SpeechGenerator> {
    const A = audioTokens(m.encoder, maxFrames);
    const audioSession = await Session.create(speechAudioGraph(m, weights as Parameters<typeof speechAudioGraph>[1], maxFrames), options, 'speech_audio');
    try {
      const decoder = buildDecoder({ config: core, extension: speechDecodeExtension(m, A) }, weights);
      let self: SpeechGenerator | undefined = undefined;
      const gen = await Generator.create(core, decoder, options, (start, count) => self!.feeds(start, count));
      self = new SpeechGenerator(m, maxFrames, gen, audioSession);
      return self;
    } catch (e) {
      await audioSession.release();
      throw e;
    }
  }

  /** How many times the audio graph (encoder + adapter) has run: once per prompt with audio. */
  get encoderRuns(): number {
    return this.runs;
  }

  /** Adapter frames the prompt must hold for this audio. */
  audioTokens(audio: SpeechInput): number {
    return audioTokens(this.model.encoder, audio.frames);
  }

  private feeds(start: number, count: number): Record<string, HostTensor> {
    const c = this.current;
    if (!c) throw new HerdError('invalid_argument', 'SpeechGenerator: no utterance set');
    const row = Array.from({ length: count }, (_, i) => c.codes[start + i] ?? KEEP_TOKEN);
    return { audio: c.audio, audioIndex: hostTensor('i32', [1, count], audioIndexOf([row], audioTokens(this.model.encoder, this.maxFrames), count)) };
  }

  /** The audio embeddings [1, A, D] of one utterance (features padded to `maxFrames`). */
  async encode(audio: SpeechInput): Promise<HostTensor> {
    this.checkLength(audio);
    this.runs++;
    const out = await this.audioSession.run(featureFeeds(this.model.encoder, [audio], this.maxFrames));
    return out['audio']!;
  }

  private checkLength(audio: SpeechInput): void {
    if (audio.frames > this.maxFrames) {
      throw new HerdError('invalid_argument', `speech: ${audio.frames} frames (${(audio.frames / 100).toFixed(2)} s) is longer than the ${this.maxFrames} frames (${this.maxFrames / 100} s) this model takes; cut the audio`);
    }
  }

  private async set(layout: SpeechPromptLayout, audio: SpeechInput | undefined): Promise<void> {
    if (audio) this.checkLength(audio);
    const want = audio ? this.audioTokens(audio) : 0;
    const have = layout.codes.filter((c) => c >= 0).length;
    if (have !== want) throw new HerdError('invalid_argument', `speech prompt: ${have} audio positions for ${want} adapter frames`);
    const A = audioTokens(this.model.encoder, this.maxFrames);
    // Without audio no position reads the embeddings: zeros, and the encoder does not run.
    const embeddings = audio ? await this.encode(audio) : hostTensor('f32', [1, A, this.model.adapter.coreDim]);
    this.current = { audio: embeddings, codes: layout.codes };
  }

  /** Greedy/sampled continuation of a prompt laid out by `speechPromptLayout` (or text only: `audio` undefined, codes all KEEP_TOKEN). */
  async complete(layout: SpeechPromptLayout, audio: SpeechInput | undefined, o: SamplingOptions): Promise<number[]> {
    await this.set(layout, audio);
    return this.gen.complete(layout.ids, o);
  }

  /** Beam search over continuations of the prompt (`Generator.beam`; width 1 = `complete` at temperature 0). */
  async beam(layout: SpeechPromptLayout, audio: SpeechInput | undefined, o: BeamOptions): Promise<BeamResult> {
    await this.set(layout, audio);
    return this.gen.beam(layout.ids, o);
  }

  async *generate(layout: SpeechPromptLayout, audio: SpeechInput | undefined, o: SamplingOptions): AsyncGenerator<number> {
    await this.set(layout, audio);
    yield* this.gen.generate(layout.ids, o);
  }

  /** Logits at every position (tests). */
  async logits(layout: SpeechPromptLayout, audio: SpeechInput | undefined): Promise<Float32Array[]> {
    await this.set(layout, audio);
    return this.gen.logits(layout.ids);
  }

  async release(): Promise<void> {
    await this.gen.release();
    await this.audioSession.release();
  }
}
