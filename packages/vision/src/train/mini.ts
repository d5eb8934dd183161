/**
 * The mini vision recipe (§7.3–7.4 in miniature): the mini image encoder and cross-attention adapter
 * trained against the frozen committed mini language core on the synthetic world's scene images.
 * Stage 1: caption pre-training (`<|begin_of_text|><|image|>caption<|end_of_text|>`, loss on the
 * caption). Stage 2: QA SFT in the chat format (loss on the assistant's reply only). The learning rate
 * is re-warmed for stage 2. Only the groups `vision.encoder` and `vision.adapter` train.
 *
 * It runs `buildAdapterTraining` (= llama3's `buildLmTraining` with the vision extension) on a
 * `TrainingRun` with in-memory batches rather than llama3's `trainAdapter`: the images are decoded
 * and tiled once and reused by both stages, and `trainAdapter` saves groups under their names, which
 * may not contain '.' (`vision.encoder`).
 *
 * Legend: B sequences (one image each), T tokens.
 */
import { HerdError, Rng } from '@herd/core';
import { iterateDataset, isUnreadable } from '@herd/data';
import * as G from '@herd/graph';
import { END_OF_TEXT_ID, IMAGE_TOKEN_ID, type LanguageCore, type Llama3Tokenizer, type LlamaConfig } from '@herd/llama3';
import { type HostTensor, TrainingRun, hostTensor } from '@herd/runtime';
import { type MllamaConfig } from '../config.js';
import { type TiledImage, preprocessImage } from '../data/tiling.js';
import { type VisionWeights } from '../model/graphs.js';
import { adapterParamSpecs, encoderParamSpecs } from '../model/params.js';
import { loadVisionPreset } from '../presets/index.js';
import { type AdapterSample, adapterBatch, buildAdapterTraining } from './adapter.js';

/** The mini herd's vision model: the mini encoder, cross-attention before core layers 1 and 3 of the 4. */
export function miniVisionConfig(text: LlamaConfig): MllamaConfig {
  return { text, vision: loadVisionPreset('mini'), crossAttentionLayers: [1, 4], imageTokenId: text.vocabSize, nLearnableTokens: 8 };
}

/** A scene image of the synthetic world with what it shows. */
export interface SceneExample {
  readonly key: string;
  readonly split: 'train' | 'heldout';
  readonly image: TiledImage;
  readonly caption: string;
  readonly qa: readonly { readonly question: string; readonly answer: string; readonly type: string }[];
}

/**
 * Clean English scene images of an images dataset (`@herd/datasets` layout), decoded and tiled.
 * Noisy samples are skipped (curation is a later stage); an unreadable sample is an error.
 */
export async function readSceneExamples(dir: string, m: MllamaConfig, o: { split?: 'train' | 'heldout'; limit?: number } = {}): Promise<SceneExample[]> {
  const out: SceneExample[] = [];
  for await (const s of iterateDataset(dir)) {
    if (isUnreadable(s)) throw new HerdError('io_error', `${dir}: unreadable sample ${JSON.stringify(s)}`);
    const meta = s.meta as Record<string, unknown>;
    if (meta['noise'] !== null || meta['language'] !== 'en') continue;
    if (o.split && meta['split'] !== o.split) continue;
    const bytes = s.files['png'] ?? s.files['jpg'];
    const txt = s.files['txt'];
    if (!bytes || !txt) continue;
    out.push({
      key: s.key,
      split: meta['split'] as 'train' | 'heldout',
      image: await preprocessImage(bytes, m.vision),
      caption: new TextDecoder().decode(txt),
      qa: (meta['qa'] ?? []) as SceneExample['qa'],
    });
    if (o.limit !== undefined && out.length >= o.limit) break;
  }
  return out;
}



/** Full Llama 3 ids → the core's compact ids; `<|image|>` → the adapter's learnable image id. */
export function toVisionIds(core: Pick<LanguageCore, 'vocab'>, m: MllamaConfig, full: readonly number[]): number[] {
  const compact = core.vocab ? Array.from(core.vocab.toCompact(full)) : [...full];
  return compact.map((t, i) => (full[i] === IMAGE_TOKEN_ID ? m.imageTokenId : t));
}

/** The chat prompt of a question about one image (the image first, as Llama 3.2 Vision is used). */
export function imageQuestionIds(tok: Llama3Tokenizer, core: Pick<LanguageCore, 'vocab'>, m: MllamaConfig, question: string, images = 1): number[] {
  const content = [...Array.from({ length: images }, () => ({ type: 'image' as const })), { type: 'text' as const, text: question }];
  return toVisionIds(core, m, tok.encodeChat([{ role: 'user', content }], { addGenerationPrompt: true }));
}

/** Stage-1 sequence: image, caption, end of text; loss on the caption and its end. */
export function captionSequence(tok: Llama3Tokenizer, core: Pick<LanguageCore, 'vocab'>, m: MllamaConfig, caption: string): { tokens: number[]; trainFrom: number } {
  const full = [...tok.encode('', { bos: true }), IMAGE_TOKEN_ID, ...tok.encodeOrdinary(caption), END_OF_TEXT_ID];
  return { tokens: toVisionIds(core, m, full), trainFrom: 2 };
}

/** Stage-2 sequence: the chat prompt with the image, the reply and `<|eot_id|>`; loss on the reply. */
export function qaSequence(tok: Llama3Tokenizer, core: Pick<LanguageCore, 'vocab'>, m: MllamaConfig, question: string, answer: string): { tokens: number[]; trainFrom: number } {
  const turns = [{ role: 'user' as const, content: [{ type: 'image' as const }, { type: 'text' as const, text: question }] }, { role: 'assistant' as const, content: answer }];
  const prompt = tok.encodeChat(turns.slice(0, 1), { addGenerationPrompt: true });
  const full = tok.encodeChat(turns, { addGenerationPrompt: false });
  return { tokens: toVisionIds(core, m, full), trainFrom: prompt.length };
}

/** Pads/cuts to T: targets are the next token from `trainFrom` on (−100 elsewhere and on padding). */
export function toAdapterSample(image: TiledImage, seq: { tokens: number[]; trainFrom: number }, seqLen: number): AdapterSample {
  const tokens = seq.tokens.slice(0, seqLen);
  const targets = new Array<number>(seqLen).fill(-100);
  for (let i = Math.max(0, seq.trainFrom - 1); i + 1 < tokens.length; i++) targets[i] = tokens[i + 1]!;
  while (tokens.length < seqLen) tokens.push(0);
  return { image, tokens, targets };
}

export interface MiniVisionOptions {
  readonly core: LanguageCore;
  readonly tokenizer: Llama3Tokenizer;
  /** Training scenes (train split). */
  readonly scenes: readonly SceneExample[];
  readonly captionSteps: number;
  readonly qaSteps: number;
  readonly batch?: number;
  readonly seqLen?: number;
  readonly lr?: number;
  readonly seed?: number;
  /** Starting values of the vision groups (default: fresh, gates 0). */
  readonly init?: VisionWeights;
  readonly onStep?: (stage: 'caption' | 'qa', step: number, loss: number) => void;
}

export interface MiniVisionResult {
  readonly config: MllamaConfig;
  /** Encoder + adapter values (f32). */
  readonly weights: Record<string, HostTensor>;
  readonly losses: { readonly caption: readonly number[]; readonly qa: readonly number[] };
  readonly seconds: number;
}

/** Linear warm-up then cosine decay to 10 % (re-warmed per stage). */
function lrAt(step: number, steps: number, peak: number): number {
  const warm = Math.max(1, Math.round(steps * 0.06));
  if (step < warm) return (peak * (step + 1)) / warm;
  const t = (step - warm) / Math.max(1, steps - warm);
  return peak * (0.1 + 0.45 * (1 + Math.cos(Math.PI * t)));
}

export async function trainMiniVision(o: MiniVisionOptions): Promise<MiniVisionResult> {
  const t0 = performance.now();
  const m = miniVisionConfig(o.core.config);
  const B = o.batch ?? 16;
  const T = o.seqLen ?? 48;
  const peak = o.lr ?? 2e-3;
  const rng = new Rng(o.seed ?? 1);
  const scenes = o.scenes.filter((s) => s.split === 'train');
  if (scenes.length === 0) throw new HerdError('invalid_argument', 'trainMiniVision: no train-split scenes given');
  const init = o.init ?? G.initParams([...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)], o.seed ?? 1, { layers: m.vision.nLayers });
  const graphs = buildAdapterTraining(m, o.core.weights, init, B, T, { weightDecay: 0.01 });
  const run = await TrainingRun.create(graphs, Object.fromEntries(Object.entries(init).map(([k, v]) => [k, hostTensor('f32', v.shape, Float32Array.from(v.data as Float32Array))])));
  const losses = { caption: [] as number[], qa: [] as number[] };
  const sample = (stage: 'caption' | 'qa'): AdapterSample => {
    const s = rng.pick(scenes);
    if (stage === 'caption') return toAdapterSample(s.image, captionSequence(o.tokenizer, o.core, m, s.caption), T);
    const q = rng.pick(s.qa);
    return toAdapterSample(s.image, qaSequence(o.tokenizer, o.core, m, q.question, q.answer), T);
  };
  try {
    for (const [stage, steps] of [['caption', o.captionSteps], ['qa', o.qaSteps]] as const) {
      for (let step = 0; step < steps; step++) {
        const batch = adapterBatch(m, Array.from({ length: B }, () => sample(stage)), T);
        const { loss } = await run.trainStep(batch, lrAt(step, steps, peak));
        losses[stage].push(loss);
        o.onStep?.(stage, step, loss);
      }
    }
    const weights = await run.readParams();
    return { config: m, weights, losses, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await run.release();
  }
}
