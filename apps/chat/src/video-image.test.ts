/**
 * Two different image checkpoints in one composition: the vision folder asked for and the video
 * checkpoint's own (config image.dir). The composition has one set of image layers, so the video's own
 * image checkpoint takes the vision folder's place (composedImageDir), said in the status; a clip is then
 * answered as `herd generate --video` answers it with the video's own image model. The same clip read
 * through the other image checkpoint gives other logits, so the two models are told apart.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '@herd/core';
import { loadLlama3Tokenizer } from '@herd/llama3';
import { MINI_VIDEO_DIR, VideoGenerator, loadMiniVideo, readClipFrames, videoImageDir } from '@herd/video';
import { MINI_VISION_FILES, toVisionIds } from '@herd/vision';
import { checkpointEngineOptions } from './checkpoints.js';
import { HerdEngine } from './engine.js';
import { ChatServer } from './server.js';
import { postChat } from './sse-client.js';

const HERD_CLI = fileURLToPath(new URL('../../cli/src/main.ts', import.meta.url));
const CLIP = fileURLToPath(new URL('../fixtures/heldout-clips/vid-00000012.mp4', import.meta.url));
const MAX = 12;
const QUESTION = 'Which way does the blue star move?';

/** A copy of the video's image checkpoint with the projector's weights negated (sign bit of every element): other frame features. */
function writeOtherImageCheckpoint(dir: string): void {
  cpSync(videoImageDir(), dir, { recursive: true });
  const path = join(dir, MINI_VISION_FILES.weights);
  const info = SafetensorsFile.open(path).info('multi_modal_projector.weight');
  const bytes = readFileSync(path);
  const width = info.dtype === 'F16' ? 2 : 4;
  for (let i = info.byteOffset + width - 1; i < info.byteOffset + info.byteLength; i += width) bytes[i] = bytes[i]! ^ 0x80;
  writeFileSync(path, bytes);
}

describe('vision + video with two different image checkpoints', () => {
  let tmp: string;
  let other: string;
  let engine: HerdEngine;
  let server: ChatServer;
  let url: string;
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'herd-chat-video-image-'));
    other = join(tmp, 'other-vision');
    writeOtherImageCheckpoint(other);
    engine = await HerdEngine.load({ device: 'cpu', visionDir: other, videoDir: MINI_VIDEO_DIR });
    server = new ChatServer({ engine, log: () => {} });
    ({ url } = await server.listen(0, '127.0.0.1'));
  }, 180_000);
  afterAll(async () => {
    await server?.close();
    await engine?.release();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("the video's own image checkpoint takes the vision folder's place, said in the status; a vision --checkpoint of another image model leaves the video out", () => {
    const s = engine.status();
    expect(s.vision).toMatchObject({ dir: videoImageDir(), replaces: other });
    expect(s.video).toMatchObject({ dir: MINI_VIDEO_DIR, imageMatches: true });
    const base = { device: 'cpu' as const, visionDir: videoImageDir(), videoDir: MINI_VIDEO_DIR };
    expect(checkpointEngineOptions(other, base).options).toEqual({ device: 'cpu', visionDir: other });
    expect(checkpointEngineOptions(videoImageDir(), base).options).toEqual(base);
  });

  it("a clip is answered as `herd generate --video` answers it with the video's own image model; through the other image model the logits differ", async () => {
    const reply = await postChat(url, { conversation: 'clip', message: QUESTION, video: { name: 'clip.mp4', data: readFileSync(CLIP).toString('base64') }, maxTokens: MAX });
    expect(reply.status, JSON.stringify(reply.json)).toBe(200);
    const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', HERD_CLI, 'generate', '--video', CLIP, '--prompt', QUESTION, '--max-tokens', String(MAX)], { env: { ...process.env, HERD_DEVICE: '' }, timeout: 120_000 });
    expect(reply.text).toBe(stdout.replace(/\n$/, ''));

    // The same prompt through the other image checkpoint (given explicitly) is another model: its last logits differ
    // (the greedy words may coincide — the object-motion tokens come from frame differences —, the numbers do not).
    const tok = await loadLlama3Tokenizer();
    const lastLogits = async (imageDir: string): Promise<Float32Array> => {
      const v = loadMiniVideo(MINI_VIDEO_DIR, imageDir);
      const gen = VideoGenerator.create(v.config, v.config.video.finetune, v.core.weights, v.vision.weights, v.weights);
      try {
        const ids = toVisionIds(v.core, v.config.image, tok.encodeChat([{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: QUESTION }] }], { addGenerationPrompt: true }));
        const clip = await readClipFrames(CLIP, v.config.image, v.config.video.finetune.frames);
        return (await gen.logits(ids, await gen.contextOfFrames(clip))).at(-1)!;
      } finally {
        await gen.release();
      }
    };
    const [own, through] = [await lastLogits(videoImageDir()), await lastLogits(other)];
    const maxDiff = own.reduce((m, x, i) => Math.max(m, Math.abs(x - through[i]!)), 0);
    expect(maxDiff).toBeGreaterThan(1e-3);
  }, 240_000);
});
