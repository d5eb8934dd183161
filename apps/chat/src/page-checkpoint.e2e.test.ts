/**
 * Switching models on the page (Debian's chromium via playwright-core; skipped, saying why, without
 * /usr/bin/chromium): a server with the built-in mini vision model and a second vision checkpoint
 * (the mini one perturbed, written for the test) shows a "model" menu; picking one starts a new
 * conversation, the "loaded:" line names that model's vision folder, and the answers to a held-out
 * scene image equal the API's answers with that checkpoint — in server mode and in the page's WASM
 * mode (which then loads /model/<checkpoint>/). Screenshot: apps/chat/out/screenshots/chat-checkpoint.png.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINI_VISION_DIR } from '@herd/vision';
import { checkpointEngineOptions } from './checkpoints.js';
import { HerdEngine } from './engine.js';
import { ChatServer } from './server.js';
import { postChat } from './sse-client.js';
import { writePerturbedVision } from './test-support/perturbed-vision.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../out/screenshots/', import.meta.url));
const SCENE = fileURLToPath(new URL('../../../packages/vision/fixtures/heldout-scenes/img-00000019.png', import.meta.url));
const QUESTION = 'What colour is the shape?';

describe.skipIf(!existsSync(CHROMIUM))(`chat page, switching models (skipped without ${CHROMIUM}: apt-get install -y --no-install-recommends chromium)`, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'herd-chat-ckpt-page-'));
  const tuned = join(tmp, 'tuned-vision');
  let mini: HerdEngine;
  let other: HerdEngine;
  let server: ChatServer;
  let url: string;
  let browser: Browser;
  beforeAll(async () => {
    mkdirSync(tuned);
    await writePerturbedVision(tuned);
    mini = await HerdEngine.load({ device: 'cpu', visionDir: MINI_VISION_DIR });
    other = await HerdEngine.load(checkpointEngineOptions(tuned, { device: 'cpu', visionDir: MINI_VISION_DIR }).options);
    server = new ChatServer({ engine: mini, checkpoints: [{ id: 'mini', label: 'built-in mini herd', engine: mini }, { id: 'tuned', label: `${tuned} (vision)`, engine: other }], log: () => {}, maxTokens: 12 });
    ({ url } = await server.listen(0, '127.0.0.1'));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    mkdirSync(SHOTS, { recursive: true });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await mini?.release();
    await other?.release();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** The API's answer in a fresh conversation. */
  let asked = 0;
  const apiAnswer = async (checkpoint: string): Promise<string> =>
    (await postChat(url, { checkpoint, conversation: `api-${checkpoint}-${asked++}`, message: QUESTION, image: { name: 'scene.png', data: readFileSync(SCENE).toString('base64') } })).text;

  async function askAboutScene(page: Page): Promise<string> {
    await page.setInputFiles('#file', SCENE);
    await expect.poll(() => page.getAttribute('#attachment', 'data-kind')).toBe('image');
    await page.fill('#text', QUESTION);
    await page.click('#send');
    await page.waitForSelector('#stats:has-text("tokens")', { timeout: 120_000 });
    expect(await page.isVisible('.msg.error')).toBe(false);
    return (await page.textContent('.msg.assistant')) ?? '';
  }

  it('the model menu switches between the built-in model and the checkpoint folder; each answer is that model\'s', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    const sent: unknown[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/chat') sent.push((JSON.parse(r.postData() ?? '{}') as { checkpoint?: string }).checkpoint);
    });
    await page.goto(url);
    await expect.poll(() => page.isVisible('#checkpoint-label')).toBe(true);
    expect(await page.$$eval('#checkpoint option', (os) => os.map((o) => [o.getAttribute('value'), o.textContent]))).toEqual([['mini', 'built-in mini herd'], ['tuned', `${tuned} (vision)`]]);
    expect(await page.textContent('#loaded')).toContain(MINI_VISION_DIR);

    await page.selectOption('#checkpoint', 'tuned');
    await expect.poll(() => page.textContent('#loaded')).toContain(tuned);
    const shownTuned = await askAboutScene(page);
    expect(shownTuned).toBe(await apiAnswer('tuned'));
    await page.screenshot({ path: `${SHOTS}chat-checkpoint.png` });

    await page.selectOption('#checkpoint', 'mini');
    await expect.poll(() => page.textContent('#loaded')).toContain(MINI_VISION_DIR);
    expect(await page.$$('.msg')).toHaveLength(0); // a new conversation
    const shownMini = await askAboutScene(page);
    expect(shownMini).toBe(await apiAnswer('mini'));
    expect(shownMini).not.toBe(shownTuned);
    expect(sent).toEqual(['tuned', 'mini']);
    await page.close();
  }, 180_000);

  it('in the page\'s WASM mode the chosen checkpoint\'s export is loaded and answers as the server does with it', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    const models: string[] = [];
    page.on('request', (r) => {
      const p = new URL(r.url()).pathname;
      if (p.startsWith('/model/')) models.push(p);
    });
    await page.goto(url);
    await expect.poll(() => page.isVisible('#checkpoint-label')).toBe(true);
    await page.selectOption('#checkpoint', 'tuned');
    await page.selectOption('#mode', 'wasm');
    await page.waitForSelector('#browser-status:has-text("loaded in")', { timeout: 90_000 });
    expect(models).toContain('/model/tuned/manifest.json');
    expect(models.every((p) => p.startsWith('/model/tuned/'))).toBe(true);
    expect(await askAboutScene(page)).toBe(await apiAnswer('tuned'));
    await page.close();
  }, 180_000);
});
