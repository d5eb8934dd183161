/**
 * `--mini` (core + mini vision + mini speech + mini video) has two image models: the committed vision
 * checkpoint (packages/vision/weights/mini) answers images, and the video model answers clips with the
 * image checkpoint it was trained on (its config's image.dir, packages/video/weights/mini-image: the
 * frozen encoder + image cross-attention) plus its video layers. Each question is answered as that
 * model alone answers it: the same first answer token's logits, bit for bit (the other set of image
 * layers gets no slot and adds exact zeros; measured 0 on both questions), and the same streamed answer
 * as `herd generate --image` / `--video`. The two image checkpoints differ and give the image question
 * other logits (max |Δ| 5.4 at commit), so the test tells which one answered.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { MINI_SPEECH_DIR } from '@herd/speech';
import { MINI_VIDEO_DIR, VideoGenerator, imageCheckpointSha, loadMiniVideo, readClipFrames, videoImageDir } from '@herd/video';
import { MINI_VISION_DIR, VisionGenerator, imageQuestionIds, loadMiniVision, preprocessImage } from '@herd/vision';
import { checkpointEngineOptions } from './checkpoints.js';
import { HerdEngine } from './engine.js';
import { ChatServer } from './server.js';
import { postChat } from './sse-client.js';

const HERD_CLI = fileURLToPath(new URL('../../cli/src/main.ts', import.meta.url));
const SCENE = fileURLToPath(new URL('../../../packages/vision/fixtures/heldout-scenes/img-00000019.png', import.meta.url));
const CLIP = fileURLToPath(new URL('../fixtures/heldout-clips/vid-00000012.mp4', import.meta.url));
const MAX = 12;

async function herdCli(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', HERD_CLI, ...args], { env: { ...process.env, HERD_DEVICE: '' }, timeout: 120_000 });
  return stdout.replace(/\n$/, '');
}

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describe('--mini: images answered by the vision checkpoint, clips by the video model on its own image checkpoint', () => {
  const core = loadLanguageCore();
  let engine: HerdEngine;
  let server: ChatServer;
  let url: string;
  beforeAll(async () => {
    engine = await HerdEngine.load({ device: 'cpu', visionDir: MINI_VISION_DIR, speechDir: MINI_SPEECH_DIR, videoDir: MINI_VIDEO_DIR });
    server = new ChatServer({ engine, log: () => {} });
    ({ url } = await server.listen(0, '127.0.0.1'));
  }, 180_000);
  afterAll(async () => {
    await server?.close();
    await engine?.release();
  });

  /** The chat's answer to `q` about one image or clip equals `herd generate --image|--video`'s about the same file. */
  async function expectChatAnswersAsCli(kind: 'image' | 'video', q: string, file: string): Promise<void> {
    const media = { name: kind === 'image' ? 'scene.png' : 'clip.mp4', data: readFileSync(file).toString('base64') };
    const reply = await postChat(url, { conversation: kind === 'image' ? 'image' : 'clip', message: q, [kind]: media, maxTokens: MAX });
    expect(reply.status, JSON.stringify(reply.json)).toBe(200);
    expect(reply.text).toBe(await herdCli(['generate', `--${kind}`, file, '--prompt', q, '--max-tokens', String(MAX)]));
  }

  it('the status names both image models (different checkpoints); a vision --checkpoint keeps the video part', () => {
    expect(imageCheckpointSha(videoImageDir())).not.toBe(imageCheckpointSha(MINI_VISION_DIR));
    const s = engine.status();
    expect(s.vision).toEqual({ dir: MINI_VISION_DIR, crossAttentionLayers: loadMiniVision(MINI_VISION_DIR, core).config.crossAttentionLayers, tileSize: expect.any(Number), maxTiles: expect.any(Number) });
    expect(s.video).toMatchObject({ dir: MINI_VIDEO_DIR, imageDir: videoImageDir(), imageMatches: true });
    const base = { device: 'cpu' as const, visionDir: MINI_VISION_DIR, videoDir: MINI_VIDEO_DIR };
    expect(checkpointEngineOptions(videoImageDir(), base).options).toEqual({ ...base, visionDir: videoImageDir() });
  });

  it("an image question: the committed vision checkpoint's logits and `herd generate --image`'s answer, not the video's image checkpoint's", async () => {
    const q = 'What colour is the big shape?';
    await expectChatAnswersAsCli('image', q, SCENE);

    const tok = await loadLlama3Tokenizer();
    const turns = [{ role: 'user' as const, text: q, image: await engine.prepareImage(readFileSync(SCENE), 'scene.png') }];
    const chat = await engine.nextLogits(turns);
    const alone = async (dir: string): Promise<Float32Array> => {
      const vision = loadMiniVision(dir, core);
      const prompt = imageQuestionIds(tok, core, vision.config, q, 1);
      expect(engine.plan(turns).ids).toEqual(prompt);
      const gen = VisionGenerator.create(vision.config, core.weights, vision.weights);
      try {
        return (await gen.logits(prompt, [await preprocessImage(SCENE, vision.config.vision)])).at(-1)!;
      } finally {
        await gen.release();
      }
    };
    expect(maxDiff(chat, await alone(MINI_VISION_DIR))).toBe(0);
    expect(maxDiff(chat, await alone(videoImageDir()))).toBeGreaterThan(1e-3);
  }, 240_000);

  it("a clip question: the video model's logits on its own image checkpoint and `herd generate --video`'s answer", async () => {
    const q = 'Which way does the blue star move?';
    await expectChatAnswersAsCli('video', q, CLIP);

    const tok = await loadLlama3Tokenizer();
    const v = loadMiniVideo(MINI_VIDEO_DIR, undefined, core);
    expect(v.vision.dir).toBe(videoImageDir());
    const turns = [{ role: 'user' as const, text: q, clip: await engine.prepareClip(readFileSync(CLIP), 'clip.mp4') }];
    const prompt = imageQuestionIds(tok, core, v.config.image, q);
    expect(engine.plan(turns).ids).toEqual(prompt);
    const gen = VideoGenerator.create(v.config, v.config.video.finetune, core.weights, v.vision.weights, v.weights);
    try {
      const ctx = await gen.contextOfFrames(await readClipFrames(CLIP, v.config.image, v.config.video.finetune.frames));
      expect(maxDiff(await engine.nextLogits(turns), (await gen.logits(prompt, ctx)).at(-1)!)).toBe(0);
    } finally {
      await gen.release();
    }
  }, 240_000);

  it('the video part stands alone: --video without --vision answers the clip with the same logits, and refuses an image naming --vision', async () => {
    const alone = await HerdEngine.load({ device: 'cpu', videoDir: MINI_VIDEO_DIR });
    try {
      expect(alone.status().vision).toBeNull();
      expect(alone.status().video).toMatchObject({ imageDir: videoImageDir() });
      const turns = [{ role: 'user' as const, text: 'Which way does the blue star move?', clip: await alone.prepareClip(readFileSync(CLIP), 'clip.mp4') }];
      expect(maxDiff(await alone.nextLogits(turns), await engine.nextLogits(turns))).toBe(0);
      await expect(alone.prepareImage(readFileSync(SCENE), 'scene.png')).rejects.toThrow(/scene\.png: vision: not loaded .*--vision DIR/);
    } finally {
      await alone.release();
    }
  }, 120_000);
});
