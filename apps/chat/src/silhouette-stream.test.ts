/**
 * A vision checkpoint with a silhouette stream (`MllamaConfig.silhouetteLayers`) in the chat and the page: the export's
 * encoder takes each image's silhouette too (`recipeSilhouettePixels`), the server's composed runner and the page's
 * engine feed it, and both answer as herd answers in process. The checkpoint is the built-in one with perturbed copies
 * of its image layers as silhouette layers (test-support/silhouette-vision.ts): its silhouette changes the logits, so a
 * runner that fed it wrong would not match.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { decodeImage } from '@herd/media';
import { MINI_VISION_DIR, VisionGenerator, imageQuestionIds, inkSilhouette, loadMiniVision, preprocessImage, silhouetteLayersOf, tileImage } from '@herd/vision';
import { HerdEngine, type Turn } from './engine.js';
import { writeSilhouetteVision } from './test-support/silhouette-vision.js';
import { type WebEngineLike, collect, loadWebEngine } from './test-support/web-page.js';

const HERD_CLI = fileURLToPath(new URL('../../cli/src/main.ts', import.meta.url));
const SCENE = fileURLToPath(new URL('../../../packages/vision/fixtures/heldout-scenes/img-00000019.png', import.meta.url));
const MAX = 12;

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describe('a vision checkpoint with a silhouette stream in the chat and the page', () => {
  const core = loadLanguageCore();
  const dir = mkdtempSync(join(tmpdir(), 'herd-silhouette-'));
  let server: HerdEngine;
  let web: WebEngineLike;
  beforeAll(async () => {
    await writeSilhouetteVision(dir);
    server = await HerdEngine.load({ device: 'cpu', visionDir: dir });
    ({ web } = await loadWebEngine(await server.exportModel()));
  }, 180_000);
  afterAll(async () => {
    await web?.release();
    await server?.release();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the server feeds the silhouette: the first answer token's logits are herd's in process, not those without the silhouette layers, and the answer is `herd generate --image`'s", async () => {
    const vision = loadMiniVision(dir, core);
    expect(silhouetteLayersOf(vision.config)).toHaveLength(2);
    const q = 'What shape is the big object?';
    const turns: Turn[] = [{ role: 'user', text: q, image: await server.prepareImage(readFileSync(SCENE), 'scene.png') }];
    const chat = await server.nextLogits(turns);
    const tok = await loadLlama3Tokenizer();
    const alone = async (d: string): Promise<Float32Array> => {
      const v = loadMiniVision(d, core);
      const gen = VisionGenerator.create(v.config, core.weights, v.weights);
      try {
        const prompt = imageQuestionIds(tok, core, v.config, q, 1);
        expect(server.plan(turns).ids).toEqual(prompt);
        return (await gen.logits(prompt, [await preprocessImage(SCENE, v.config.vision)])).at(-1)!;
      } finally {
        await gen.release();
      }
    };
    expect(maxDiff(chat, await alone(dir))).toBeLessThan(1e-4);
    expect(maxDiff(chat, await alone(MINI_VISION_DIR))).toBeGreaterThan(1e-2);

    let answer = '';
    for await (const p of server.generate(turns, { maxTokens: MAX, temperature: 0 })) answer += p.text;
    const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', HERD_CLI, 'generate', '--image', SCENE, '--vision', dir, '--prompt', q, '--max-tokens', String(MAX)], { env: { ...process.env, HERD_DEVICE: '' }, timeout: 120_000 });
    expect(answer.length).toBeGreaterThan(0);
    expect(answer).toBe(stdout.replace(/\n$/, ''));
  }, 240_000);

  it("the page feeds it too: its prepared image carries herd's silhouette, and it answers token for token as the server does", async () => {
    const scene = await decodeImage(SCENE);
    const mine = web.prepareImage(scene);
    const cfg = loadMiniVision(dir, core).config.vision;
    expect(mine.silhouettePixels).toEqual(inkSilhouette(tileImage(scene, cfg), cfg).pixels);
    for (const q of ['What shape is the big object?', 'What colour is the circle?']) {
      const ref = await collect(server.generate([{ role: 'user', text: q, image: await server.prepareImage(readFileSync(SCENE), 'scene.png') }], { maxTokens: MAX, temperature: 0 }));
      const page = await collect(web.generate([{ role: 'user', text: q, image: mine }], { maxTokens: MAX }));
      expect(ref.ids.length).toBeGreaterThan(1);
      expect(page.ids).toEqual(ref.ids);
      expect(page.text).toBe(ref.text);
    }
  }, 180_000);
});
