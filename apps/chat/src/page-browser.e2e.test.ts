/**
 * The in-browser mode in a real browser: Debian's chromium (playwright-core, nothing downloaded) loads
 * the server's ONNX export into onnxruntime-web (WASM) and answers in the page — no /api/chat request
 * is made — and its answers, to a text question and then to a held-out scene image, equal the
 * server's answers to the same conversation. Skipped, saying why, where /usr/bin/chromium is absent.
 * Screenshot: apps/chat/out/screenshots/chat-browser-wasm.png.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINI_VISION_DIR } from '@herd/vision';
import { HerdEngine } from './engine.js';
import { ChatServer } from './server.js';
import { postChat } from './sse-client.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../out/screenshots/', import.meta.url));
const SCENE = fileURLToPath(new URL('../../../packages/vision/fixtures/heldout-scenes/img-00000019.png', import.meta.url));

describe.skipIf(!existsSync(CHROMIUM))(`chat page, in-browser mode (skipped without ${CHROMIUM}: apt-get install -y --no-install-recommends chromium)`, () => {
  let engine: HerdEngine;
  let server: ChatServer;
  let url: string;
  let browser: Browser;
  beforeAll(async () => {
    engine = await HerdEngine.load({ device: 'cpu', visionDir: MINI_VISION_DIR });
    server = new ChatServer({ engine, log: () => {}, maxTokens: 32 });
    ({ url } = await server.listen(0, '127.0.0.1'));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    mkdirSync(SHOTS, { recursive: true });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await engine?.release();
  });

  /** Asks a text question then a held-out scene image in the page's `backend` mode; returns the answers shown. */
  async function inBrowser(b: Browser, backend: 'wasm' | 'webgpu', question: string, imageQuestion: string): Promise<string[]> {
    const page = await b.newPage({ viewport: { width: 1000, height: 700 } });
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    const failed: string[] = [];
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${new URL(r.url()).pathname}`);
    });
    const chatCalls: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/chat') chatCalls.push(r.method());
    });
    await page.goto(`${url}?mode=${backend}`);
    expect(await page.inputValue('#mode')).toBe(backend);
    await page.waitForSelector('#browser-status:has-text("loaded in")', { timeout: 90_000 });
    expect(await page.textContent('#browser-status')).toContain(`in this browser (${backend}): `);
    expect(await page.textContent('#browser-status')).toMatch(/[\d.]+ MB of ONNX \(decoder \+ vision encoder\)/);

    await page.fill('#text', question);
    await page.press('#text', 'Enter');
    await page.waitForSelector(`#stats:has-text("in this browser (${backend})")`, { timeout: 60_000 });

    // An image question in the same conversation.
    await page.setInputFiles('#file', SCENE);
    await expect.poll(() => page.isVisible('#attachment')).toBe(true);
    await page.fill('#text', imageQuestion);
    await page.$eval('#stats', (el) => {
      el.textContent = '';
    });
    await page.click('#send');
    await page.waitForSelector(`#stats:has-text("in this browser (${backend})")`, { timeout: 60_000 });
    const answers = await page.$$eval('.msg.assistant', (els) => els.map((e) => e.textContent ?? ''));
    await page.screenshot({ path: `${SHOTS}chat-browser-${backend}.png` });
    expect(chatCalls).toEqual([]);
    expect(failed).toEqual([]);
    expect(consoleErrors).toEqual([]);
    await page.close();
    return answers;
  }

  /** The server's answers to the same conversation. */
  async function onServer(conversation: string, question: string, imageQuestion: string): Promise<string[]> {
    const a1 = await postChat(url, { conversation, message: question, maxTokens: 32 });
    const a2 = await postChat(url, { conversation, message: imageQuestion, maxTokens: 32, image: { name: 'scene.png', data: readFileSync(SCENE).toString('base64') } });
    expect(a1.text.length).toBeGreaterThan(0);
    expect(a2.text.length).toBeGreaterThan(0);
    return [a1.text, a2.text];
  }

  it('answers in the page with onnxruntime-web (WASM) exactly as the server does, text and image, without calling the chat API', async () => {
    const q = ['Where is the red ball?', 'What colour is the shape?'] as const;
    expect(await inBrowser(browser, 'wasm', ...q)).toEqual(await onServer('server-wasm', ...q));
  }, 240_000);

  // WebGPU on chromium's software adapter (SwiftShader): the same export on the WebGPU execution provider.
  it('answers the same in WebGPU mode (chromium with the SwiftShader WebGPU adapter)', async () => {
    const gpu = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'] });
    try {
      const q = ['How many squares are there?', 'What colour is the shape?'] as const;
      expect(await inBrowser(gpu, 'webgpu', ...q)).toEqual(await onServer('server-webgpu', ...q));
    } finally {
      await gpu.close();
    }
  }, 300_000);
});
