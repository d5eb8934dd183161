/**
 * The chat page in a real browser: Debian's chromium (apt-get install -y --no-install-recommends
 * chromium) driven by playwright-core; nothing is downloaded. Skipped, saying why, where
 * /usr/bin/chromium is absent. Screenshots go to apps/chat/out/screenshots/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatEngine, type GenerateOptions, HerdEngine, type Piece, type Turn } from './engine.js';
import { ChatServer, type GenerationRecord } from './server.js';
import { postChat } from './sse-client.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../out/screenshots/', import.meta.url));

describe.skipIf(!existsSync(CHROMIUM))(`chat page in chromium (skipped without ${CHROMIUM}: apt-get install -y --no-install-recommends chromium)`, () => {
  let engine: HerdEngine;
  let server: ChatServer;
  let url: string;
  let browser: Browser;
  beforeAll(async () => {
    engine = await HerdEngine.load({ device: 'cpu' });
    server = new ChatServer({ engine, log: () => {} });
    ({ url } = await server.listen(0, '127.0.0.1'));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    mkdirSync(SHOTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await engine?.release();
  });

  it('shows what is loaded, streams the answer the API gives, and shows a refused upload as an error', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 640 } });
    await page.goto(url);
    await expect.poll(() => page.textContent('#status')).toContain('vision: not loaded');
    const question = 'What colour is the cube?';
    await page.fill('#text', question);
    await page.press('#text', 'Enter');
    await page.waitForSelector('#stats:has-text("tokens")');
    const shown = await page.textContent('.msg.assistant');
    const api = await postChat(url, { conversation: 'api-side', message: question });
    expect(api.text.length).toBeGreaterThan(0);
    expect(shown).toBe(api.text);
    // Bytes that are not an image, named .png and declared image/png: the page shows the server's refusal.
    await page.setInputFiles('#file', { name: 'cat.png', mimeType: 'image/png', buffer: Buffer.from('not a picture at all') });
    await expect.poll(() => page.isVisible('#attachment')).toBe(true);
    await page.fill('#text', 'What is in the picture?');
    await page.click('#send');
    await page.waitForSelector('.msg.error');
    expect(await page.textContent('.msg.error')).toContain('not_an_image');
    // The sent message names the file it could not show, not a broken-image icon.
    await page.waitForSelector('.msg.user .unviewable');
    expect(await page.textContent('.msg.user .unviewable')).toBe('cat.png (this browser cannot show it as an image)');
    expect(await page.$$('.msg.user img')).toHaveLength(0);
    await page.screenshot({ path: `${SHOTS}chat-page.png` });
    await page.close();
  });

  it('Stop ends an answer mid-stream: the server cancels the generation and keeps no history of it; the page marks the answer stopped', async () => {
    // The real engine, held after its first token until the test lets it go (so Stop lands mid-answer, every run).
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let stopped = 0;
    const held: ChatEngine = {
      get contextTokens() {
        return engine.contextTokens;
      },
      status: () => engine.status(),
      promptTokens: (turns: readonly Turn[]) => engine.promptTokens(turns),
      prepareImage: (bytes: Uint8Array, name: string) => engine.prepareImage(bytes, name),
      async *generate(turns: readonly Turn[], o: GenerateOptions): AsyncGenerator<Piece> {
        try {
          let n = 0;
          for await (const p of engine.generate(turns, o)) {
            if (n++ === 1) await gate;
            yield p;
          }
        } finally {
          stopped++;
        }
      },
    };
    const slow = new ChatServer({ engine: held, log: () => {} });
    const records: GenerationRecord[] = [];
    slow.events.on('generation', (r: GenerationRecord) => records.push(r));
    try {
      const { url: slowUrl } = await slow.listen(0, '127.0.0.1');
      const page = await browser.newPage({ viewport: { width: 1000, height: 640 } });
      await page.goto(slowUrl);
      await expect.poll(() => page.textContent('#status')).toContain('core');
      expect(await page.isVisible('#stop')).toBe(false);
      await page.fill('#text', 'Tell me about the big red circle.');
      await page.press('#text', 'Enter');
      await expect.poll(async () => (await page.textContent('.msg.assistant'))?.length ?? 0).toBeGreaterThan(0); // the first token
      expect(await page.isVisible('#stop')).toBe(true);
      expect(await page.isDisabled('#send')).toBe(true);
      const first = await page.textContent('.msg.assistant');
      await page.click('#stop');
      await page.waitForSelector('.msg.assistant .stopped');
      expect(await page.textContent('.msg.assistant')).toBe(`${first} (stopped)`);
      expect(await page.textContent('#stats')).toBe('stopped');
      expect(await page.isVisible('#stop')).toBe(false);
      expect(await page.isDisabled('#send')).toBe(false);
      release();
      await expect.poll(() => stopped).toBe(1);
      await expect.poll(() => slow.queue.load.running).toBe(0);
      expect(records.map((r) => r.reason)).toEqual(['cancelled']);
      expect(await page.$$('.msg.error')).toHaveLength(0);
      await page.screenshot({ path: `${SHOTS}chat-stopped.png` });
      await page.close();
    } finally {
      release();
      await slow.close();
    }
  });
});
