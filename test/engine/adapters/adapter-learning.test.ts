/**
 * "Tell two inputs apart" through `trainAdapter` itself, per modality, at tiny size on a frozen
 * random core (stored as f16): two different inputs with the same prompt must be answered with two
 * different tokens after training (argmax over the whole vocabulary), starting from the recipes'
 * fresh values (vision gates at 0.5, video gates at 0 with centred frame norms, speech adapter
 * fresh). The control trains the same way with the modality's input blanked (the same blank input
 * for both answers): its answer loss stays near ln 2 and it cannot give two answers — so the check
 * is one only a model that uses its input passes.
 *
 * Video: the two clips hold the same frames in opposite order (motion one way or the other) and the
 * frozen image layers see the same middle-frame image, so only the aggregator's temporal signal
 * can separate them.
 */
import { describe, expect, it } from 'vitest';
import { Rng, decodeF16 } from '@herd/core';
import * as G from '@herd/graph';
import { type Batch, type FrozenWeights, type LmGraphSpec, trainAdapter } from '@herd/llama3';
import { type HostTensor } from '@herd/runtime';
import { centreFrameNorms, frameTokens, videoParamSpecs } from '@herd/video';
import { adapterParamSpecs, encoderParamSpecs, tileImage } from '@herd/vision';
import { speechAdapterSpecs, speechEncoderSpecs } from '@herd/speech';
import {
  RECIPE_OPTIMIZER, SPEECH_SPEC, SPEECH_TRAIN, TINY_IMAGE, TINY_SPEECH, TINY_TEXT, TINY_VIDEO, VIDEO_CLIP, VIDEO_SPEC, VIDEO_TRAIN, VISION_SPEC, VISION_TRAIN,
  clipBatch, clipFeatures, frozenImageValues, randomImageKv, speechAnswerRow, speechBatch, visionBatch,
} from './models.js';
import { GATE, answerAt, frozenTinyCore, hostValues, lmLogits } from './tiny.js';

const ANSWERS = [30, 31] as const;
const STEPS = 60;
const LR = 1e-2;

interface Task {
  readonly spec: LmGraphSpec;
  readonly train: readonly string[];
  readonly fresh: Record<string, HostTensor>;
  readonly frozen?: Record<string, HostTensor>;
  /** Batch of the given inputs (0/1, or −1 for the blank input) with answers ANSWERS[k]; `noise` seeds per-sample noise (none when undefined). */
  readonly batch: (which: readonly number[], answers: readonly number[], noise?: Rng) => Batch;
  /** The row whose next-token prediction is the answer, for input k. */
  readonly answerRow: number;
}

/** Trains with batches [0, 1, 0, 1] (or all blank); returns the mean answer loss of the last 5 steps and the two answers. */
async function learn(task: Task, blind: boolean): Promise<{ tail: number; answers: number[] }> {
  const core = await frozenTinyCore();
  const inputs = (ks: number[]) => ks.map((k) => (blind ? -1 : k));
  const source = { batchSize: 4, batch: (i: number) => task.batch(inputs([0, 1, 0, 1]), [0, 1, 0, 1].map((k) => ANSWERS[k]!), new Rng(1000 + i)) };
  const weights: FrozenWeights = { ...core.weights, ...(task.frozen ?? {}), ...task.fresh };
  const r = await trainAdapter({
    spec: task.spec, train: task.train, weights, seed: 1, batch: 4, seqLen: 12, steps: STEPS,
    schedule: { kind: 'cosine', peak: LR, warmup: 3, total: STEPS, floor: 0.1 * LR }, optimizer: RECIPE_OPTIMIZER, data: { source }, label: 'tell-apart',
  });
  const losses = [...r.losses.values()];
  const tail = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
  const logits = await lmLogits(task.spec, { ...weights, ...r.trained }, task.batch(inputs([0, 1]), [ANSWERS[0], ANSWERS[1]]));
  return { tail, answers: [0, 1].map((b) => answerAt(logits, b, task.answerRow)) };
}

async function expectTellsApart(task: Task): Promise<void> {
  const seeing = await learn(task, false);
  const blind = await learn(task, true);
  console.log(`seeing: answer loss ${seeing.tail.toFixed(3)}, answers ${seeing.answers}; blind: ${blind.tail.toFixed(3)}, answers ${blind.answers}`);
  expect(seeing.answers).toEqual([...ANSWERS]);
  expect(seeing.tail).toBeLessThan(0.5);
  // The blind control cannot beat the best input-independent guess on balanced batches (ln 2 ≈ 0.693) and gives one answer for both.
  expect(blind.tail).toBeGreaterThan(Math.LN2 - 1e-3);
  expect(blind.answers[0]).toBe(blind.answers[1]);
}

// Sequences: [bos, 2, <input>, 3, 4, answer, eos, pad…], loss on the answer only.
const T = 12;

describe('adapters learn to tell two inputs apart through trainAdapter (tiny, frozen f16 core)', () => {
  it('vision: a red and a blue image → two answers', async () => {
    const colours = [[220, 40, 40], [40, 60, 220]] as const;
    const image = (k: number, rng?: Rng) => {
      const data = new Uint8Array(16 * 16 * 3);
      for (let i = 0; i < data.length; i++) data[i] = k < 0 ? 128 : Math.max(0, Math.min(255, colours[k]![i % 3]! + (rng ? Math.round((rng.next() - 0.5) * 60) : 0)));
      return tileImage({ data, width: 16, height: 16 }, TINY_IMAGE.vision);
    };
    const img = TINY_IMAGE.imageTokenId;
    const fresh = hostValues(G.initParams([...encoderParamSpecs(TINY_IMAGE.vision), ...adapterParamSpecs(TINY_IMAGE)], 3, { layers: TINY_IMAGE.vision.nLayers }));
    for (const [k, v] of Object.entries(fresh)) if (/cross_attn_(attn|mlp)_gate$/.test(k)) (v.data as Float32Array).fill(0.5);
    await expectTellsApart({
      spec: VISION_SPEC, train: VISION_TRAIN, fresh, answerRow: 4,
      batch: (which, answers, rng) => visionBatch(which.map((k, b) => ({
        image: image(k, rng),
        tokens: [1, 2, img, 3, 4, answers[b]!, 2, 0, 0, 0, 0, 0],
        targets: [-100, -100, -100, -100, answers[b]!, -100, -100, -100, -100, -100, -100, -100],
      })), T),
    });
  });

  it('speech: two log-mel patterns → two answers', async () => {
    // Input k: a band of mel bins (0–19 or 40–59) raised; blank: flat.
    const features = (k: number, rng?: Rng) => Float32Array.from({ length: 24 * 80 }, (_, j) => (k >= 0 && Math.floor((j % 80) / 20) === 2 * k ? 1 : -0.5) + (rng ? 0.2 * rng.normal() : 0));
    await expectTellsApart({
      spec: SPEECH_SPEC, train: SPEECH_TRAIN, fresh: hostValues(G.initParams([...speechEncoderSpecs(TINY_SPEECH), ...speechAdapterSpecs(TINY_SPEECH)], 3, { layers: 2 })), answerRow: speechAnswerRow(24),
      batch: (which, answers, rng) => speechBatch(which.map((k) => ({ frames: 24, features: features(k, rng) })), answers.map((a) => [a]), T),
    });
  });

  it('video: the same frames moving one way or the other → two answers', async () => {
    const rng = new Rng(9);
    const S = frameTokens(TINY_IMAGE);
    const D = TINY_TEXT.dim;
    const F = VIDEO_CLIP.frames;
    const frame = () => Float32Array.from({ length: S * D }, () => rng.normal());
    const frames = Array.from({ length: F }, frame);
    const clip = (order: readonly number[]) => {
      const out = new Float32Array(F * S * D);
      order.forEach((f, i) => out.set(frames[f]!, i * S * D));
      return out;
    };
    const kv = randomImageKv(rng);
    const clips = new Map([
      ['0', clipFeatures(clip([0, 1, 2, 3]), 2, kv)],
      ['1', clipFeatures(clip([3, 2, 1, 0]), 2, kv)],
      ['-1', clipFeatures(new Float32Array(F * S * D), 2, kv)],
    ]);
    const fresh = G.initParams(videoParamSpecs(TINY_VIDEO), 3, { layers: TINY_TEXT.nLayers });
    const centred = hostValues(centreFrameNorms(TINY_VIDEO.video.resampler, D, fresh, [...clips.values()].slice(0, 2).map((c) => ({ features: decodeF16(c.features), frameMask: c.frameMask }))));
    for (const [k, v] of Object.entries(centred)) if (GATE.test(k)) expect(Array.from(v.data as Float32Array)).toEqual([0]);
    const img = TINY_IMAGE.imageTokenId;
    await expectTellsApart({
      spec: VIDEO_SPEC, train: VIDEO_TRAIN, fresh: centred, frozen: frozenImageValues(7), answerRow: 4,
      batch: (which, answers) => clipBatch(clips, which.map((k, b) => ({
        clip: String(k),
        tokens: [1, 2, img, 3, 4, answers[b]!, 2, 0, 0, 0, 0, 0],
        targets: [-100, -100, -100, -100, answers[b]!, -100, -100, -100, -100, -100, -100, -100],
      })), T),
    });
  });
});
