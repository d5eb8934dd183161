/**
 * The device reaches every ONNX session a modality recipe creates (`herd vision|video|speech train --device`).
 *
 * Threading (any machine): each recipe runs end to end on tiny generated data with `device: 'cuda'` while a spy
 * on `Session.create` — the one place sessions are made — records the device each session was asked for and
 * then builds it on the CPU, so the check needs no GPU and no CUDA provider. A session made without the
 * recipe's device (the old default, the CPU) fails it by label. The cards must state the device.
 *
 * WebGPU (where it runs: a GPU, or Mesa's software Vulkan in CI; skipped with the reason elsewhere): a few training
 * steps of each recipe's trainer with `device: 'webgpu'` give the CPU's losses, and every session was made there.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { Rng, encodeF16 } from '@herd/core';
import { writeDataset } from '@herd/data';
import { generateWorld } from '@herd/datasets';
import { headDim, loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { type Device, Session, webgpuMissing } from '@herd/runtime';
import { ASR_INSTRUCTION, type SpeechItem, fineTuneSpeech, itemToSample, parseSpeechConfig, runMiniSpeechRecipe } from '@herd/speech';
import { MINI_VIDEO_IMAGE_DIR, type VideoExample, frameTokens, loadMiniVideo, runMiniVideoRecipe, trainMiniVideo, writeClipWorld } from '@herd/video';
import { loadMiniVision, miniVisionConfig, readSceneExamples, runMiniVisionRecipe, trainMiniVision } from '@herd/vision';

const root = mkdtempSync(join(tmpdir(), 'herd-recipe-device-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** Records `[label, device asked for]` of every session made from here on; each is built on `buildOn` (default: where asked). */
function sessionsAsked(buildOn?: Device): [string, string | undefined][] {
  const asked: [string, string | undefined][] = [];
  const create = Session.create.bind(Session);
  vi.spyOn(Session, 'create').mockImplementation((model, options = {}, label = 'session') => {
    asked.push([label, options.device]);
    return create(model, buildOn ? { ...options, device: buildOn } : options, label);
  });
  return asked;
}

/** Every recorded session asked for `device` (listed by label when not), and the ones the recipe must make were made. */
function expectAllOn(asked: readonly [string, string | undefined][], device: string, labels: readonly string[]): void {
  expect(asked.filter(([, d]) => d !== device), 'sessions made without the recipe\'s device').toEqual([]);
  for (const l of labels) expect(asked.map(([label]) => label), l).toContain(l);
}

const card = (dir: string) => readFileSync(join(dir, 'MODEL_CARD.md'), 'utf8');

describe('the recipes ask every session for their device', () => {
  it('vision: CLIP and dense stage 0, the adapter stages, checkpoint selection and both evals', async () => {
    const core = loadLanguageCore();
    // The recipe keeps the last 200 train-split scenes out of training (its seen-combinations eval).
    await generateWorld({ out: join(root, 'world'), size: 'tiny', only: ['images'], counts: { images: 270 }, noiseRate: 0, seed: 11 });
    const asked = sessionsAsked('cpu');
    const out = join(root, 'vision');
    await runMiniVisionRecipe({
      core, tokenizer: await loadLlama3Tokenizer(), dataDir: join(root, 'world', 'images'), outDir: out, command: 'herd vision train --seed 1',
      clipSteps: 1, denseSteps: 1, captionSteps: 1, qaSteps: 1, selectEvery: 1, selectPerType: 1, batch: 2, lr: 1e-3, seed: 1, evalPerType: 1,
      dataDescription: 'test scenes', device: 'cuda',
    });
    expectAllOn(asked, 'cuda', ['train_step', 'vision_image_kv', 'llama_decoder']);
    expect(card(out)).toMatch(/Training took \d+ s on device cuda, plus/);
  }, 300_000);

  it('video: frame features, the aggregator\'s tokens, the adapter stages and both evals', async () => {
    // The committed video checkpoint's own image model, the video commands' default (the vision checkpoint's place embeddings are not fed to frames).
    const vision = loadMiniVision(MINI_VIDEO_IMAGE_DIR, loadLanguageCore());
    const clips = join(root, 'clips');
    await writeClipWorld({ out: clips, count: 10, seed: 12, seconds: [1, 1], side: [64, 64], heldoutFraction: 0.5 });
    const asked = sessionsAsked('cpu');
    const out = join(root, 'video');
    await runMiniVideoRecipe({
      core: vision.core, tokenizer: await loadLlama3Tokenizer(), vision, clipsDir: clips, featuresDir: join(root, 'features'), workDir: join(root, 'video-work'), outDir: out,
      captionSteps: 2, qaSteps: 2, aggregatorSteps: 1, batch: 2, lr: 1e-3, seed: 1, evalPerType: 1, command: 'test', dataDescription: 'test clips', device: 'cuda',
    });
    expectAllOn(asked, 'cuda', ['video_frames', 'train_step', 'video_aggregator_head', 'video_tokens', 'llama_decoder']);
    expect(card(out)).toMatch(/Training took \d+ s on device cuda, eval/);
    // The card names the image model and core the run was given (repository paths), not a fixed one.
    expect(card(out)).toContain('frozen mini image\nmodel (`packages/video/weights/mini-image`: image encoder + image adapter) and the frozen mini language\ncore (`packages/llama3/weights/mini`)');
  }, 300_000);

  it('speech: the adapter stage, its held-out loss, and the eval\'s generators', async () => {
    const core = loadLanguageCore();
    await generateWorld({ out: join(root, 'speech-world'), size: 'tiny', only: ['speech'], counts: { speech: 24 }, noiseRate: 0, seed: 1 });
    const data = join(root, 'speech-world', 'speech');
    const asked = sessionsAsked('cpu');
    const out = join(root, 'speech');
    await runMiniSpeechRecipe({
      core, tokenizer: await loadLlama3Tokenizer(), source: data, workDir: join(root, 'speech-work'), outDir: out,
      maxFrames: 600, trainFrames: 600, seqLen: 144, steps: 2, batch: 2, lr: 1e-3, seed: 1, evalAsr: 1, evalQa: 1, evalAst: 0,
      dataDescription: 'test speech', retrainCommand: 'test', device: 'cuda',
    });
    expectAllOn(asked, 'cuda', ['train_step', 'speech_audio', 'llama_decoder']);
    expect(card(out)).toMatch(/Training took \d+ s on device cuda\./);
  }, 300_000);
});

const missing = webgpuMissing();
/**
 * Relative loss difference allowed between webgpu and cpu over three steps: both f32, but WebGPU's reductions sum in
 * another order (measured on lavapipe: at most 1.2e-5, the video step whose loss is 0.069; 2e-6 or less elsewhere).
 */
const WEBGPU_LOSS_REL_TOL = 1e-4;

/** The losses of `steps(device)` on the CPU and on WebGPU (every session of the latter asked for webgpu), compared step by step. */
async function expectSameLossesOnWebgpu(steps: (device: Device) => Promise<readonly number[]>): Promise<void> {
  const cpu = await steps('cpu');
  const asked = sessionsAsked();
  const gpu = await steps('webgpu');
  vi.restoreAllMocks();
  expectAllOn(asked, 'webgpu', ['train_step']);
  expect(gpu).toHaveLength(cpu.length);
  expect(cpu.every((l) => Number.isFinite(l) && l > 0)).toBe(true);
  gpu.forEach((l, i) => expect(Math.abs(l - cpu[i]!) / cpu[i]!, `step ${i + 1}: webgpu ${l}, cpu ${cpu[i]}`).toBeLessThan(WEBGPU_LOSS_REL_TOL));
}

describe.skipIf(missing !== undefined)(`the recipes' trainers on webgpu${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('vision: three QA steps of the encoder + adapter against the mini core', async () => {
    const core = loadLanguageCore();
    const tokenizer = await loadLlama3Tokenizer();
    await generateWorld({ out: join(root, 'gpu-world'), size: 'tiny', only: ['images'], counts: { images: 8 }, noiseRate: 0, seed: 3 });
    const scenes = await readSceneExamples(join(root, 'gpu-world', 'images'), miniVisionConfig(core.config));
    await expectSameLossesOnWebgpu(async (device) => (await trainMiniVision({ core, tokenizer, scenes, captionSteps: 0, qaSteps: 3, batch: 2, seqLen: 32, lr: 1e-3, device })).losses.qa);
  }, 300_000);

  it('video: three QA steps of the video cross-attention over a frozen aggregator (random frame features)', async () => {
    const v = loadMiniVideo();
    const tokenizer = await loadLlama3Tokenizer();
    const m = v.config;
    const rng = new Rng(4);
    const F = m.video.finetune.frames, S = frameTokens(m.image), D = m.image.text.dim, K = m.image.text.nKvHeads, dh = headDim(m.image.text);
    const examples: VideoExample[] = (['left', 'right', 'up', 'down'] as const).map((direction, i) => ({
      key: `clip-${i}`, split: 'train', caption: `A red circle moves ${direction}.`, static: false, frames: F,
      objects: [{ shape: 'circle', colour: 'red', size: 'big', start: 'centre', motion: { kind: 'move', direction, speed: 'fast' } }],
      clip: {
        features: encodeF16(Float32Array.from({ length: F * S * D }, () => rng.normal())), frameMask: new Uint8Array(S).fill(1), aspectRatioId: 1,
        kv: Object.fromEntries(m.image.crossAttentionLayers.flatMap((_, j) => [`xattn.k.${j}`, `xattn.v.${j}`]).map((n) => [n, Float32Array.from({ length: K * S * dh }, () => rng.normal())])),
      },
    }));
    await expectSameLossesOnWebgpu(async (device) => (await trainMiniVideo({
      core: v.core, tokenizer, image: m.image, vision: v.vision.weights, examples, workDir: join(root, `gpu-video-${device}`),
      captionSteps: 0, qaSteps: 3, batch: 2, lr: 1e-3, aggregatorFrom: v.weights, resampler: { motionQuery: true, motionTokens: true }, device, // the committed aggregator's settings
    })).losses.qa);
  }, 300_000);

  it('speech: three steps of a tiny encoder + adapter against the mini core', async () => {
    const core = loadLanguageCore();
    const tokenizer = await loadLlama3Tokenizer();
    const encoder = parseSpeechConfig({
      nMels: 80, stack: 4, dim: 32, nLayers: 1, nHeads: 2, ffnDim: 64, convKernel: 7, normEps: 1e-5, ropeTheta: 10000,
      bestRq: { codebooks: 1, codebookSize: 16, codeDim: 8, maskProb: 0.025, maskSpan: 8, noiseStd: 0.1 },
    });
    const model = { encoder, adapter: { encoderDim: 32, dim: 32, nHeads: 2, ffnDim: 64, coreDim: core.config.dim, normEps: 1e-5, ropeTheta: 10000 } };
    const rng = new Rng(5);
    const items: SpeechItem[] = ['A red circle.', 'Two blue squares.', 'The star is green.', 'Yes.'].map((transcript, i) => ({
      key: `u${i}`, task: 'asr', before: '', after: ASR_INSTRUCTION, features: Float32Array.from({ length: 32 * 80 }, () => rng.normal()), frames: 32,
      transcript, target: transcript, voice: 'x', language: 'en', split: 'train', heldoutVoice: false,
    }));
    const data = join(root, 'gpu-speech');
    await writeDataset(data, items.map(itemToSample), { samplesPerShard: 4 });
    await expectSameLossesOnWebgpu(async (device) => [...(await fineTuneSpeech({ core, tokenizer, model, dataDir: data, frames: 32, seqLen: 48, batch: 2, steps: 3, lr: 1e-3, warmup: 1, seed: 2, device })).losses.values()]);
  }, 300_000);
});
