/**
 * The page's in-browser engine (public/web/engine.js) run in Node with onnxruntime-web (its WASM
 * backend, the same binary the page loads) and the very bundle the page gets as /web/herd.js (herd's
 * tokenizer and tiling, src/web/entry.ts, bundled by esbuild), on the export the chat server serves:
 * its tokenizer and tiling must give herd's ids and pixels (the bundle's wrapper: pruned ids, chat
 * format, recipe fields), and its greedy answers must equal the server engine's, token for
 * token, for text and image questions, spoken questions (a held-out WAV: herd's WAV reader,
 * resampler and log-mel in the bundle, the speech encoder graph, audioIndex) and clips (the held-out
 * clip's frames: the frame graph, f16 round trip, aggregator, video cross-attention), follow-ups
 * included. The answers are compared with the server's engine on the same weights, never with
 * fixed text (the mini checkpoints are retrained and replaced).
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '@herd/core';
import { loadLlama3Tokenizer } from '@herd/llama3';
import { decodeImage, sampleFrames } from '@herd/media';
import { MINI_SPEECH_DIR } from '@herd/speech';
import { MINI_VIDEO_DIR } from '@herd/video';
import { readFileSync } from 'node:fs';
import { MINI_VISION_DIR, loadMiniVision, tileImage } from '@herd/vision';
import { HerdEngine, type Turn } from './engine.js';
import { type HerdWeb, type WebEngineLike, collect, loadWebEngine } from './test-support/web-page.js';

const SCENE = fileURLToPath(new URL('../../../packages/vision/fixtures/heldout-scenes/img-00000019.png', import.meta.url));
const SPEECH_FIXTURES = fileURLToPath(new URL('../../../packages/speech/fixtures/heldout-speech/', import.meta.url));
const SPOKEN = (JSON.parse(readFileSync(`${SPEECH_FIXTURES}items.json`, 'utf8')) as { file: string; task: string; context?: string }[]).find((i) => i.task === 'question')!;
const WAV = `${SPEECH_FIXTURES}${SPOKEN.file}`;
const CLIP = fileURLToPath(new URL('../fixtures/heldout-clips/vid-00000012.mp4', import.meta.url));

describe('in-browser engine (onnxruntime-web WASM, run in Node)', () => {
  let server: HerdEngine;
  let web: WebEngineLike;
  let herd: HerdWeb;

  beforeAll(async () => {
    server = await HerdEngine.load({ device: 'cpu', visionDir: MINI_VISION_DIR, speechDir: MINI_SPEECH_DIR, videoDir: MINI_VIDEO_DIR });
    const built = await server.exportModel();
    expect(Object.keys(built.manifest.modalities).sort()).toEqual(['speech', 'video', 'vision']);
    ({ web, herd } = await loadWebEngine(built));
  }, 120_000);
  afterAll(async () => {
    await web?.release();
    await server?.release();
  });

  it("tokenizes as herd's Llama 3 tokenizer does (text, numbers, contractions, whitespace, non-ASCII, chat template)", async () => {
    const tok = await loadLlama3Tokenizer();
    const texts = [
      'Where is the red ball?',
      "It's the     big  BLUE square, isn't it?\n\nYes: 12345 squares; 3.14 circles.",
      'Ünïcödé façade — naïve café 東京 🙂🐑 tab\there',
      '  leading and trailing spaces  \r\n\r\nnew lines\n',
      "you'LL we'VE they'RE I'M she'D",
    ];
    for (const t of texts) expect(web.tok.encodeOrdinary(t)).toEqual(tok.encodeOrdinary(t));
    const messages = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: ' What colour is it? ' }] }, { role: 'assistant', content: 'Red.' }, { role: 'user', content: 'And the shape?' }];
    expect(web.tok.encodeChat(messages, true)).toEqual(tok.encodeChat(messages as never, { addGenerationPrompt: true }));
    const turns: Turn[] = [{ role: 'user', text: 'How many squares are there?' }];
    expect(web.promptIds(turns)).toHaveLength(server.promptTokens(turns));
  });

  it("tiles images to exactly herd's pixels (the held-out scene, odd sizes, alpha flattened onto white)", async () => {
    const cfg = loadMiniVision().config.vision;
    const scene = await decodeImage(SCENE);
    const rng = new Rng(7);
    const noise = (w: number, h: number) => ({ data: Uint8Array.from({ length: w * h * 3 }, () => Math.floor(rng.next() * 256)), width: w, height: h });
    for (const img of [scene, noise(73, 41), noise(30, 200), noise(300, 120)]) {
      const mine = web.prepareImage(img);
      const ref = tileImage(img, cfg);
      expect(mine.aspectRatioId).toBe(ref.aspectRatioId);
      expect(mine.nTiles).toBe(ref.nTiles);
      expect(Array.from(mine.tileMask)).toEqual(Array.from(ref.aspectRatioMask));
      expect(mine.pixels).toEqual(ref.pixels);
    }
    const { rgbaToRgb } = herd;
    const rgba = Uint8Array.from([10, 20, 30, 255, 200, 100, 0, 0, 255, 0, 0, 128]);
    expect(Array.from(rgbaToRgb(rgba, 3, 1).data)).toEqual([10, 20, 30, 255, 255, 255, 255, 127, 127]);
  });

  it("answers token for token as the server's engine does: text questions, a follow-up turn, and an image question", async () => {
    const image = await server.prepareImage(new Uint8Array(await import('node:fs').then((fs) => fs.readFileSync(SCENE))), 'scene.png');
    const conversations: Turn[][] = [
      [{ role: 'user', text: 'Where is the red ball?' }],
      [{ role: 'user', text: 'How many squares are there?' }, { role: 'assistant', text: 'There are two squares.' }, { role: 'user', text: 'What colour are they?' }],
      [{ role: 'user', text: 'What colour is the shape?', image }],
    ];
    for (const turns of conversations) {
      const ref = await collect(server.generate(turns, { maxTokens: 24 }));
      const webTurns = turns.map((t) => (t.image ? { ...t, image: web.prepareImage(decodedScene!) } : t));
      const mine = await collect(web.generate(webTurns, { maxTokens: 24 }));
      expect(ref.ids.length).toBeGreaterThan(1);
      expect(mine.ids).toEqual(ref.ids);
      expect(mine.text).toBe(ref.text);
    }
  }, 120_000);

  /** The page's audio path (herd.decodeAudioBytes → WebEngine.prepareAudio) on a WAV: no browser decoder needed. */
  const pageAudio = async (bytes: Uint8Array, name: string) => {
    const r = web.speech!;
    const samples = await herd.decodeAudioBytes(bytes, name, r.preprocess.logMel.sampleRate, r.maxSeconds, () => Promise.reject(new Error('not a WAV')));
    return web.prepareAudio(samples, name);
  };

  it("answers a spoken question (held-out WAV) token for token as the server's engine does: with typed text, without (ASR), and after earlier turns", async () => {
    expect(web.media).toEqual({ image: true, audio: true, clip: true });
    const bytes = new Uint8Array(readFileSync(WAV));
    const ref = await server.prepareAudio(bytes, SPOKEN.file);
    const mine = await pageAudio(bytes, SPOKEN.file);
    // The same code (herd's WAV reader, resampler, log-mel) in the bundle: the same features, bit for bit.
    expect(mine.frames).toBe(ref.frames);
    expect(mine.features).toEqual(ref.features);
    const conversations: Turn[][] = [
      [{ role: 'user', text: SPOKEN.context!, audio: ref }],
      [{ role: 'user', text: '', audio: ref }],
      [{ role: 'user', text: 'How many squares are there?' }, { role: 'assistant', text: 'There are two squares.' }, { role: 'user', text: SPOKEN.context!, audio: ref }],
    ];
    for (const turns of conversations) {
      const want = await collect(server.generate(turns, { maxTokens: 16 }));
      const got = await collect(web.generate(turns.map((t) => (t.audio ? { ...t, audio: mine } : t)), { maxTokens: 16 }));
      expect(web.promptIds(turns.map((t) => (t.audio ? { ...t, audio: mine } : t)))).toHaveLength(server.promptTokens(turns));
      expect(want.ids.length).toBeGreaterThan(0);
      expect(got.ids).toEqual(want.ids);
      expect(got.text).toBe(want.text);
    }
    // A transcription turn is decoded jointly with the exported CTC head in the page as on the server, at any setting
    // (a held-out statement: at commit its joint transcript differs from the greedy one).
    const said = (JSON.parse(readFileSync(`${SPEECH_FIXTURES}items.json`, 'utf8')) as { file: string; task: string }[]).find((i) => i.task === 'statement')!;
    const saidBytes = new Uint8Array(readFileSync(`${SPEECH_FIXTURES}${said.file}`));
    const [saidRef, saidMine] = [await server.prepareAudio(saidBytes, said.file), await pageAudio(saidBytes, said.file)];
    for (const jointCtc of [undefined, { weight: 1, beam: 2 }, { weight: 0, beam: 1 }]) {
      const want = await collect(server.generate([{ role: 'user', text: '', audio: saidRef }], { maxTokens: 16, ...(jointCtc ? { jointCtc } : {}) }));
      expect((await collect(web.generate([{ role: 'user', text: '', audio: saidMine }], { maxTokens: 16, ...(jointCtc ? { jointCtc } : {}) }))).ids).toEqual(want.ids);
    }
    // The page's Stop: a token stream ends at the next token; a joint transcription stops between beam steps and rejects with the reason.
    const ac = new AbortController();
    const pieces: string[] = [];
    for await (const p of web.generate([{ role: 'user', text: SPOKEN.context!, audio: mine }], { maxTokens: 16, signal: ac.signal })) {
      pieces.push(p.text);
      ac.abort('stopped');
    }
    expect(pieces).toHaveLength(1);
    await expect(web.transcribe(saidMine, { maxTokens: 16, signal: AbortSignal.abort('stopped') })).rejects.toBe('stopped');
    expect(await web.transcribe(saidMine, { maxTokens: 16, signal: new AbortController().signal })).toBe(await server.transcribe(saidRef, { maxTokens: 16 }));
    // Longer than the export takes: refused in the page as on the server.
    const long = new Float32Array(Math.ceil((web.speech!.maxSeconds + 1) * 16000));
    expect(() => web.prepareAudio(long, 'long.wav')).toThrow(/over the .* s limit/);
    await expect(herd.decodeAudioBytes(new Uint8Array(readFileSync(SCENE)), 'scene.png', 16000, 6, () => Promise.reject(new Error('x')))).rejects.toThrow(/png image, not audio/);
  }, 180_000);

  it("answers about a held-out clip token for token as the server's engine does (frames sampled by herd's rule), and a text follow-up still sees the clip", async () => {
    const bytes = new Uint8Array(readFileSync(CLIP));
    const ref = await server.prepareClip(bytes, 'clip.mp4');
    // The page samples the same frame numbers: herd's rule on the MP4's own frame count.
    const total = herd.mp4VideoFrameCount(bytes)!;
    const F = web.video!.frames;
    expect(herd.clipFrameIndices(total, F)).toEqual(ref.frameIndices);
    // Those frames' RGB (here ffmpeg's, as the server decodes them; the page draws them from a <video>).
    const v = await sampleFrames(CLIP, { count: F });
    const size = v.width * v.height * 3;
    const rgb = Array.from({ length: F }, (_, i) => ({ data: v.data.subarray(i * size, (i + 1) * size), width: v.width, height: v.height }));
    const clip = web.prepareClip(rgb);
    const ask: Turn[] = [{ role: 'user', text: 'Which way does the blue star move?', clip: ref }];
    const follow: Turn[] = [...ask, { role: 'assistant', text: 'It moves to the left.' }, { role: 'user', text: 'What colour is it?' }];
    for (const turns of [ask, follow]) {
      const want = await collect(server.generate(turns, { maxTokens: 16 }));
      const got = await collect(web.generate(turns.map((t) => (t.clip ? { ...t, clip } : t)), { maxTokens: 16 }));
      expect(want.ids.length).toBeGreaterThan(0);
      expect(got.ids).toEqual(want.ids);
      expect(got.text).toBe(want.text);
    }
    expect(() => web.prepareClip(rgb.slice(1))).toThrow(/needs \d+ frames/);
  }, 180_000);

  it("answers several media in one prompt token for token as the server's composed engine does: a picture + a spoken question, a clip + a picture with a follow-up, two clips and two utterances", async () => {
    const image = await server.prepareImage(new Uint8Array(readFileSync(SCENE)), 'scene.png');
    const audio = await server.prepareAudio(new Uint8Array(readFileSync(WAV)), SPOKEN.file);
    const clip = await server.prepareClip(new Uint8Array(readFileSync(CLIP)), 'clip.mp4');
    const F = web.video!.frames;
    const v = await sampleFrames(CLIP, { count: F });
    const size = v.width * v.height * 3;
    const pageClip = web.prepareClip(Array.from({ length: F }, (_, i) => ({ data: v.data.subarray(i * size, (i + 1) * size), width: v.width, height: v.height })));
    const pageImage = web.prepareImage(decodedScene!);
    const pageAudioInput = await pageAudio(new Uint8Array(readFileSync(WAV)), SPOKEN.file);
    // A second clip: the same frames in reverse order, on both sides.
    const reversed = { ...clip, frames: [...clip.frames].reverse() };
    const pageReversed = { ...(pageClip as { frames: unknown[] }), frames: [...(pageClip as { frames: unknown[] }).frames].reverse() };
    const toPage = (t: Turn) => ({ ...t, ...(t.image ? { image: pageImage } : {}), ...(t.audio ? { audio: pageAudioInput } : {}), ...(t.clip ? { clip: t.clip === reversed ? pageReversed : pageClip } : {}) });
    const clipAndPicture: Turn[] = [{ role: 'user', text: 'What moves?', image, clip }];
    const conversations: Turn[][] = [
      [{ role: 'user', text: '', image, audio }],
      clipAndPicture,
      [...clipAndPicture, { role: 'assistant', text: 'The star.' }, { role: 'user', text: 'What colour is it?', audio }],
      // Two clips and two utterances: every one in the prompt (video tokens and speech frames side by side).
      [{ role: 'user', text: 'What moves?', clip, audio }, { role: 'assistant', text: 'The star.' }, { role: 'user', text: 'And here?', clip: reversed, audio }],
    ];
    for (const turns of conversations) {
      expect(web.promptIds(turns.map(toPage))).toEqual(server.plan(turns).ids);
      const want = await collect(server.generate(turns, { maxTokens: 12 }));
      const got = await collect(web.generate(turns.map(toPage), { maxTokens: 12 }));
      expect(want.ids.length).toBeGreaterThan(0);
      expect(got.ids).toEqual(want.ids);
      expect(got.text).toBe(want.text);
    }
  }, 240_000);
});

let decodedScene: Awaited<ReturnType<typeof decodeImage>> | undefined;
beforeAll(async () => {
  decodedScene = await decodeImage(SCENE);
});
