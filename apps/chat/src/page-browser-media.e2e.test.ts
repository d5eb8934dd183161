/**
 * Spoken questions and clips in the page's in-browser mode, in a real browser (Debian's chromium via
 * playwright-core, nothing downloaded; skipped, saying why, without /usr/bin/chromium), on the whole
 * mini herd's export (decoder + vision encoder + speech encoder + video frame graph + aggregator)
 * run by onnxruntime-web (WASM). No /api/chat request is made: the media is decoded in the page
 * (public/web/media.js) and answered there (public/web/engine.js).
 *
 * Each answer shown is compared with the server's answer (the API, a fresh conversation) to the same
 * message and the same bytes — never with fixed text: the mini checkpoints are being retrained.
 * - a held-out WAV: herd's WAV reader/resampler/log-mel in the page, so the features are the server's
 *   bit for bit and the answer must be equal;
 * - a microphone recording (chromium's fake capture device playing that WAV; MediaRecorder gives
 *   WebM/Opus): the page decodes Opus with Web Audio, the server with ffmpeg; the samples are
 *   measured against each other, and the answers must be equal;
 * - a held-out clip: the page picks the same frame numbers (herd's rule on the MP4's frame count) and
 *   draws them from a <video>; their pixels are measured against ffmpeg's, and the answers must be
 *   equal.
 * Screenshots: apps/chat/out/screenshots/chat-browser-voice.png, chat-browser-recording.png,
 * chat-browser-clip.png.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAudio, sampleFrames, sniffFormat } from '@herd/media';
import { MINI_SPEECH_DIR } from '@herd/speech';
import { MINI_VIDEO_DIR } from '@herd/video';
import { MINI_VISION_DIR } from '@herd/vision';
import { HerdEngine } from './engine.js';
import { ChatServer } from './server.js';
import { postChat } from './sse-client.js';
import { recordFromMicrophone } from './test-support/record.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../out/screenshots/', import.meta.url));
const CLIP = fileURLToPath(new URL('../fixtures/heldout-clips/vid-00000012.mp4', import.meta.url));
const SPEECH_FIXTURES = fileURLToPath(new URL('../../../packages/speech/fixtures/heldout-speech/', import.meta.url));
const SPOKEN = (JSON.parse(readFileSync(`${SPEECH_FIXTURES}items.json`, 'utf8')) as { file: string; task: string; context?: string }[]).find((i) => i.task === 'question')!;
const WAV = `${SPEECH_FIXTURES}${SPOKEN.file}`;
const MAX = 16;

describe.skipIf(!existsSync(CHROMIUM))(`chat page, in-browser mode with voice and clips (skipped without ${CHROMIUM}: apt-get install -y --no-install-recommends chromium)`, () => {
  let engine: HerdEngine;
  let server: ChatServer;
  let url: string;
  let browser: Browser;
  beforeAll(async () => {
    engine = await HerdEngine.load({ device: 'cpu', visionDir: MINI_VISION_DIR, speechDir: MINI_SPEECH_DIR, videoDir: MINI_VIDEO_DIR });
    server = new ChatServer({ engine, log: () => {}, maxTokens: MAX });
    ({ url } = await server.listen(0, '127.0.0.1'));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${WAV}`] });
    mkdirSync(SHOTS, { recursive: true });
  }, 120_000);
  afterAll(async () => {
    await shared?.page.close();
    await browser?.close();
    await server?.close();
    await engine?.release();
  });

  // One page for the file (loading the 37 MB export into WASM is most of the time); each test starts a
  // new conversation by switching to the server and back (the loaded engine is kept).
  // bypassCSP: the recording test reads a blob: URL back (the page's CSP allows connect-src 'self' only).
  let shared: { page: Page; chatCalls: string[]; problems: string[] } | undefined;
  async function open(): Promise<{ page: Page; chatCalls: string[]; problems: string[] }> {
    if (shared) {
      const { page } = shared;
      await page.selectOption('#mode', 'server');
      await page.selectOption('#mode', 'wasm');
      await page.waitForSelector('#browser-status:has-text("loaded in")', { timeout: 120_000 });
      expect(await page.$$('.msg')).toHaveLength(0);
      shared.chatCalls.length = 0;
      shared.problems.length = 0;
      return shared;
    }
    const page = await (await browser.newContext({ viewport: { width: 1000, height: 700 }, bypassCSP: true })).newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${r.status()} ${new URL(r.url()).pathname}`);
    });
    const chatCalls: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/chat') chatCalls.push(r.method());
    });
    await page.goto(`${url}?mode=wasm`);
    await page.waitForSelector('#browser-status:has-text("loaded in")', { timeout: 120_000 });
    expect(await page.textContent('#browser-status')).toMatch(/[\d.]+ MB of ONNX \(decoder \+ vision encoder \+ speech encoder \+ video frame graph \+ aggregator\)/);
    shared = { page, chatCalls, problems };
    return shared;
  }

  /** Sends the composer; the answer shown once the stats line says the page answered. */
  async function sendAndRead(page: Page, message: string): Promise<string> {
    await page.fill('#text', message);
    await page.click('#send');
    await page.waitForSelector('#stats:has-text("in this browser (wasm)")', { timeout: 120_000 });
    expect(await page.isVisible('.msg.error'), (await page.textContent('.msg.error').catch(() => '')) ?? '').toBe(false);
    return (await page.textContent('.msg.assistant')) ?? '';
  }

  it("a spoken question (held-out WAV) with the scene text, answered in the page: the server's answer", async () => {
    const { page, chatCalls, problems } = await open();
    await page.setInputFiles('#file', WAV);
    await expect.poll(() => page.getAttribute('#attachment', 'data-kind')).toBe('audio');
    const shown = await sendAndRead(page, SPOKEN.context!);
    expect(await page.textContent('#stats')).toMatch(/prompt \d+ tokens/);
    const api = await postChat(url, { conversation: 'api-wasm-voice', message: SPOKEN.context!, audio: { name: SPOKEN.file, data: readFileSync(WAV).toString('base64') } });
    expect(api.events.at(-1)!.event).toBe('done');
    expect(api.text.length).toBeGreaterThan(0);
    expect(shown).toBe(api.text);
    // The prompt the page fed is the server's (the audio frames are in it).
    const stats = (await page.textContent('#stats')) ?? '';
    expect(Number(/prompt (\d+) tokens/.exec(stats)![1])).toBe((api.events.at(-1)!.data as { promptTokens: number }).promptTokens);
    expect(chatCalls).toEqual([]);
    expect(problems).toEqual([]);
    await page.screenshot({ path: `${SHOTS}chat-browser-voice.png` });
  }, 240_000);

  it('"transcribe first" ticked, answered in the page: what was heard and the answer are the server\'s for the same transcribeFirst message', async () => {
    const item = (JSON.parse(readFileSync(`${SPEECH_FIXTURES}items.json`, 'utf8')) as { file: string; transcript: string; context?: string }[]).find((i) => i.file === 'spc-00000322.wav')!;
    const { page, chatCalls, problems } = await open();
    await page.check('#transcribe-first');
    await page.setInputFiles('#file', `${SPEECH_FIXTURES}${item.file}`);
    await expect.poll(() => page.getAttribute('#attachment', 'data-kind')).toBe('audio');
    const shown = await sendAndRead(page, item.context!);
    const api = await postChat(url, { conversation: 'api-wasm-cascade', message: item.context!, audio: { name: item.file, data: readFileSync(`${SPEECH_FIXTURES}${item.file}`).toString('base64') }, transcribeFirst: true });
    expect(api.events.at(-1)!.event).toBe('done');
    expect(await page.textContent('.msg.heard')).toBe(`heard: ${(api.events.find((e) => e.event === 'heard')!.data as { text: string }).text}`);
    expect(await page.textContent('.msg.heard')).toBe(`heard: ${item.transcript}`);
    expect(shown).toBe(api.text);
    expect(chatCalls).toEqual([]);
    expect(problems).toEqual([]);
    await page.uncheck('#transcribe-first'); // the page is shared with the next tests
  }, 240_000);

  it("a microphone recording (WebM/Opus, decoded by Web Audio in the page) with no typed text: the server's answer for those bytes", async () => {
    const { page, chatCalls, problems } = await open();
    await recordFromMicrophone(page);
    await page.click('#send');
    await page.waitForSelector('#stats:has-text("in this browser (wasm)")', { timeout: 120_000 });
    expect(await page.isVisible('.msg.error')).toBe(false);
    const shown = (await page.textContent('.msg.assistant')) ?? '';
    // The recorded bytes (the user bubble's <audio> blob), and the samples the page decoded from them.
    // (A string, so vitest does not rewrite the page's dynamic imports.)
    const got = (await page.evaluate(`(async () => {
      const src = document.querySelector('.msg.user audio').src;
      const bytes = new Uint8Array(await (await fetch(src)).arrayBuffer());
      const herd = await import('/web/herd.js');
      const media = await import('/web/media.js');
      const samples = await media.decodeAudioInPage(herd, new File([bytes], 'recording.webm'), 16000, 60);
      const b64 = (u) => btoa(Array.from(u, (c) => String.fromCharCode(c)).join(''));
      return { bytes: b64(bytes), samples: b64(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength)) };
    })()`)) as { bytes: string; samples: string };
    const bytes = Buffer.from(got.bytes, 'base64');
    expect(sniffFormat(bytes)).toBe('matroska');
    const pageSamples = new Float32Array(new Uint8Array(Buffer.from(got.samples, 'base64')).buffer);
    const serverSamples = (await decodeAudio(bytes, { sampleRate: 16000, name: 'recording.webm' })).samples;
    // Web Audio's Opus decoder vs ffmpeg's: the same length, samples within a small distance.
    expect(pageSamples.length).toBe(serverSamples.length);
    let maxDiff = 0;
    for (let i = 0; i < pageSamples.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pageSamples[i]! - serverSamples[i]!));
    console.log(`recording: ${pageSamples.length} samples at 16 kHz; page (Web Audio) vs server (ffmpeg) max |diff| ${maxDiff.toExponential(2)}`);
    expect(maxDiff).toBeLessThan(1e-3);
    const api = await postChat(url, { conversation: 'api-wasm-recording', message: '', audio: { name: 'recording.webm', data: got.bytes } });
    expect(api.events.at(-1)!.event).toBe('done');
    expect(api.text.length).toBeGreaterThan(0);
    expect(shown).toBe(api.text);
    expect(chatCalls).toEqual([]);
    expect(problems).toEqual([]);
    await page.screenshot({ path: `${SHOTS}chat-browser-recording.png` });
  }, 240_000);

  it("a held-out clip, its frames drawn from a <video> in the page: herd's frame numbers, pixels close to ffmpeg's, the server's answer", async () => {
    const { page, chatCalls, problems } = await open();
    const F = engine.status().video!.frames;
    // The page's frame sampler on the clip's bytes, against the server's decoder (ffmpeg).
    const got = (await page.evaluate(`(async () => {
      const herd = await import('/web/herd.js');
      const media = await import('/web/media.js');
      const bytes = Uint8Array.from(atob(${JSON.stringify(readFileSync(CLIP).toString('base64'))}), (c) => c.charCodeAt(0));
      const s = await media.sampleClipInPage(herd, new File([bytes], 'clip.mp4', { type: 'video/mp4' }), ${F});
      const all = new Uint8Array(s.frames.reduce((n, f) => n + f.data.length, 0));
      let o = 0;
      for (const f of s.frames) {
        all.set(f.data, o);
        o += f.data.length;
      }
      return { frameIndices: s.frameIndices, width: s.frames[0].width, height: s.frames[0].height, rgb: btoa(Array.from(all, (c) => String.fromCharCode(c)).join('')) };
    })()`)) as { frameIndices: number[]; width: number; height: number; rgb: string };
    const ref = await sampleFrames(CLIP, { count: F });
    expect(got.frameIndices).toEqual(ref.frameIndices);
    expect([got.width, got.height]).toEqual([ref.width, ref.height]);
    const rgb = Buffer.from(got.rgb, 'base64');
    expect(rgb.length).toBe(ref.data.length);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < rgb.length; i++) {
      const d = Math.abs(rgb[i]! - ref.data[i]!);
      sum += d;
      max = Math.max(max, d);
    }
    const mean = sum / rgb.length;
    console.log(`clip: ${F} frames ${got.width}×${got.height}; page (<video> + canvas) vs server (ffmpeg) mean |diff| ${mean.toFixed(3)}, max ${max} (of 255)`);
    // Different YUV→RGB conversions, the same frames: a frame off by one would differ by far more (the shapes move).
    expect(mean).toBeLessThan(2);

    await page.setInputFiles('#file', CLIP);
    await expect.poll(() => page.getAttribute('#attachment', 'data-kind')).toBe('video');
    const question = 'Which way does the blue star move?';
    const shown = await sendAndRead(page, question);
    const api = await postChat(url, { conversation: 'api-wasm-clip', message: question, video: { name: 'clip.mp4', data: readFileSync(CLIP).toString('base64') } });
    expect(api.events.at(-1)!.event).toBe('done');
    expect(api.text.length).toBeGreaterThan(0);
    expect(shown).toBe(api.text);
    expect(await page.isVisible('.msg.user video')).toBe(true);
    expect(chatCalls).toEqual([]);
    expect(problems).toEqual([]);
    await page.screenshot({ path: `${SHOTS}chat-browser-clip.png` });
  }, 240_000);
});
