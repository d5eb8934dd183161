/**
 * The device reaches every ONNX session a modality recipe creates (`herd vision|video|speech train --device`).
 *
 * Threading (any machine): each recipe runs end to end on tiny generated data with `device: 'cuda'` while a spy
 * on `Session.create` — the one place sessions are made — records the device each session was asked for and
 * then builds it on the CPU, so the check needs no GPU and no CUDA provider. A session made without the
 * recipe's device (the old default, the CPU) fails it by label. The cards must state the device.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { generateWorld } from '@herd/datasets';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { Session } from '@herd/runtime';
import { runMiniSpeechRecipe } from '@herd/speech';
import { MINI_VIDEO_DIR, runMiniVideoRecipe, videoImageDir, writeClipWorld } from '@herd/video';
import { MINI_VISION_DIR, loadMiniVision, runMiniVisionRecipe } from '@herd/vision';

const root = mkdtempSync(join(tmpdir(), 'herd-recipe-device-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** Records `[label, device asked for]` of every session made from here on; each is built on the CPU. */
function sessionsAsked(): [string, string | undefined][] {
  const asked: [string, string | undefined][] = [];
  const create = Session.create.bind(Session);
  vi.spyOn(Session, 'create').mockImplementation((model, options = {}, label = 'session') => {
    asked.push([label, options.device]);
    return create(model, { ...options, device: 'cpu' }, label);
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
    const asked = sessionsAsked();
    const out = join(root, 'vision');
    await runMiniVisionRecipe({
      core, tokenizer: await loadLlama3Tokenizer(), dataDir: join(root, 'world', 'images'), outDir: out,
      clipSteps: 1, denseSteps: 1, captionSteps: 1, qaSteps: 1, selectEvery: 1, selectPerType: 1, batch: 2, lr: 1e-3, seed: 1, evalPerType: 1,
      dataDescription: 'test scenes', device: 'cuda',
    });
    expectAllOn(asked, 'cuda', ['train_step', 'vision_image_kv', 'llama_decoder']);
    expect(card(out)).toMatch(/Training took \d+ s on device cuda, plus/);
  }, 300_000);

  it('video: frame features, the aggregator\'s tokens, the adapter stages and both evals', async () => {
    // The committed video checkpoint's own image model (the default image checkpoint's place embeddings are not fed to frames).
    const vision = loadMiniVision(videoImageDir(MINI_VIDEO_DIR, MINI_VISION_DIR), loadLanguageCore());
    const clips = join(root, 'clips');
    await writeClipWorld({ out: clips, count: 10, seed: 12, seconds: [1, 1], side: [64, 64], heldoutFraction: 0.5 });
    const asked = sessionsAsked();
    const out = join(root, 'video');
    await runMiniVideoRecipe({
      core: vision.core, tokenizer: await loadLlama3Tokenizer(), vision, clipsDir: clips, featuresDir: join(root, 'features'), workDir: join(root, 'video-work'), outDir: out,
      captionSteps: 2, qaSteps: 2, aggregatorSteps: 1, batch: 2, lr: 1e-3, seed: 1, evalPerType: 1, command: 'test', dataDescription: 'test clips', device: 'cuda',
    });
    expectAllOn(asked, 'cuda', ['video_frames', 'train_step', 'video_aggregator_head', 'video_tokens', 'llama_decoder']);
    expect(card(out)).toMatch(/Training took \d+ s on device cuda, eval/);
  }, 300_000);

  it('speech: the adapter stage, its held-out loss, and the eval\'s generators', async () => {
    const core = loadLanguageCore();
    await generateWorld({ out: join(root, 'speech-world'), size: 'tiny', only: ['speech'], counts: { speech: 24 }, noiseRate: 0, seed: 1 });
    const data = join(root, 'speech-world', 'speech');
    const asked = sessionsAsked();
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
