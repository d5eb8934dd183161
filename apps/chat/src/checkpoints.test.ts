/**
 * Switching models: a server started with `--checkpoint DIR` serves the default model and that
 * folder side by side; a request (and the page) picks one with `checkpoint`. Here the folder is a
 * vision checkpoint written for the test (the mini one with its adapter perturbed by seeded noise and
 * its gates opened), so the two models answer an image question differently; each answer must be
 * exactly what herd's `VisionGenerator` gives with that checkpoint's weights. Nothing here depends on
 * what the committed checkpoints answer.
 */
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EOT_ID, END_OF_TEXT_ID, type ExportManifest, loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { MINI_SPEECH_DIR } from '@herd/speech';
import { MINI_VIDEO_DIR } from '@herd/video';
import { MINI_VISION_DIR, VisionGenerator, imageQuestionIds, loadMiniVision, preprocessImage } from '@herd/vision';
import { checkpointEngineOptions, checkpointId } from './checkpoints.js';
import { HerdEngine } from './engine.js';
import { ChatServer } from './server.js';
import { postChat } from './sse-client.js';
import { writePerturbedVision } from './test-support/perturbed-vision.js';

const SCENE = fileURLToPath(new URL('../../../packages/vision/fixtures/heldout-scenes/img-00000019.png', import.meta.url));
const HF_CORE = fileURLToPath(new URL('../../../packages/llama3/fixtures/hf-tiny-gqa-untied', import.meta.url));
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const QUESTION = 'What colour is the shape?';
const MAX = 12;

function get_(base: URL, path: string, resolve: (status: number) => void, reject: (e: Error) => void): void {
  request({ host: base.hostname, port: base.port, path, method: 'GET' }, (res) => {
    res.resume();
    resolve(res.statusCode ?? 0);
  }).on('error', reject).end();
}

describe('switching between the default model and --checkpoint folders', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'herd-chat-ckpt-'));
  const tuned = join(tmp, 'tuned-vision');
  let mini: HerdEngine;
  let other: HerdEngine;
  let server: ChatServer;
  let url: string;
  beforeAll(async () => {
    mkdirSync(tuned);
    await writePerturbedVision(tuned);
    const c = checkpointEngineOptions(tuned, { device: 'cpu', visionDir: MINI_VISION_DIR });
    expect(c.kind).toBe('vision');
    mini = await HerdEngine.load({ device: 'cpu', visionDir: MINI_VISION_DIR });
    other = await HerdEngine.load(c.options);
    server = new ChatServer({ engine: mini, checkpoints: [{ id: 'mini', label: 'built-in mini herd', engine: mini }, { id: 'tuned', label: `${tuned} (vision)`, engine: other }], log: () => {}, maxTokens: MAX });
    ({ url } = await server.listen(0, '127.0.0.1'));
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await mini?.release();
    await other?.release();
    rmSync(tmp, { recursive: true, force: true });
  });

  const status = async (q = ''): Promise<{ status: number; body: Record<string, unknown> }> => {
    const r = await fetch(new URL(`/api/status${q}`, url));
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  it('status lists the models; ?checkpoint= gives that model\'s encoders/adapters; an unknown one is a 400 naming the known', async () => {
    const d = await status();
    expect(d.body['checkpoint']).toBe('mini');
    expect(d.body['checkpoints']).toEqual([
      { id: 'mini', label: 'built-in mini herd', core: 'mini (built-in)', vision: MINI_VISION_DIR, speech: null, video: null },
      { id: 'tuned', label: `${tuned} (vision)`, core: 'mini (built-in)', vision: tuned, speech: null, video: null },
    ]);
    const t = await status('?checkpoint=tuned');
    expect(t.body['checkpoint']).toBe('tuned');
    expect(t.body['vision']).toMatchObject({ dir: tuned });
    const bad = await status('?checkpoint=nope');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'invalid_request', message: expect.stringMatching(/unknown 'nope'.*mini, tuned/) } });
    const chat = await postChat(url, { checkpoint: 'nope', conversation: 'x', message: 'hi' });
    expect(chat.status).toBe(400);
    expect((chat.json as { error: { message: string } }).error.message).toMatch(/checkpoint: expected one of mini, tuned, got "nope"/);
  });

  it('each model answers an image question exactly as VisionGenerator does with its own weights, and the answers differ', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const image = await preprocessImage(SCENE, loadMiniVision(MINI_VISION_DIR, core).config.vision);
    const stops = Array.from(core.vocab!.toCompact([EOT_ID, END_OF_TEXT_ID]));
    const reference = async (dir: string): Promise<string> => {
      const v = loadMiniVision(dir, core);
      const gen = VisionGenerator.create(v.config, core.weights, v.weights, {});
      try {
        const out = await gen.complete(imageQuestionIds(tok, core, v.config, QUESTION), [image], { maxNewTokens: MAX, temperature: 0, stopTokens: stops });
        const end = out.findIndex((t) => stops.includes(t));
        const s = tok.streamDecoder();
        return s.push(Array.from(core.vocab!.toFull(end < 0 ? out : out.slice(0, end)))) + s.flush();
      } finally {
        await gen.release();
      }
    };
    const [refMini, refTuned] = [await reference(MINI_VISION_DIR), await reference(tuned)];
    expect(refTuned).not.toBe(refMini); // the test's premise: two different models
    const image64 = { name: 'scene.png', data: readFileSync(SCENE).toString('base64') };
    const a = await postChat(url, { conversation: 'same', message: QUESTION, image: image64 });
    const b = await postChat(url, { checkpoint: 'tuned', conversation: 'same', message: QUESTION, image: image64 });
    expect(a.text).toBe(refMini);
    expect(b.text).toBe(refTuned);
    // The same conversation id under the other model is a fresh conversation: same prompt length as the first turn.
    const startOf = (r: typeof a) => r.events[0]!.data as { checkpoint: string; promptTokens: number };
    expect(startOf(a)).toMatchObject({ checkpoint: 'mini' });
    expect(startOf(b)).toMatchObject({ checkpoint: 'tuned', promptTokens: startOf(a).promptTokens });
  }, 120_000);

  it('/model/<checkpoint>/ serves that model\'s export (the page\'s browser mode after switching)', async () => {
    const get = async (path: string) => fetch(new URL(path, url));
    const d = (await (await get('/model/manifest.json')).json()) as ExportManifest;
    const m = (await (await get('/model/mini/manifest.json')).json()) as ExportManifest;
    const t = (await (await get('/model/tuned/manifest.json')).json()) as ExportManifest;
    expect(m.decoder.sha256).toBe(d.decoder.sha256);
    expect(t.decoder.sha256).not.toBe(m.decoder.sha256);
    expect(t.modalities['vision']!.graphs['encoder']!.sha256).not.toBe(m.modalities['vision']!.graphs['encoder']!.sha256);
    expect((await get('/model/tuned/decoder.onnx')).status).toBe(200);
    // Raw paths (fetch would normalise the dots away before sending).
    const raw = (path: string) => new Promise<number>((resolve, reject) => get_(new URL(url), path, resolve, reject));
    for (const bad of ['/model/nope/manifest.json', '/model/tuned/../mini/manifest.json', '/model/tuned/%2e%2e/mini/manifest.json', '/model/tuned/sub/decoder.onnx', '/model/%2e%2e/manifest.json']) expect(await raw(bad), bad).toBe(404);
  }, 120_000);

  it('a folder is classified by what it holds; anything else is refused naming the folder', () => {
    const base = { device: 'cpu' as const, visionDir: MINI_VISION_DIR, speechDir: MINI_SPEECH_DIR, videoDir: MINI_VIDEO_DIR };
    expect(checkpointEngineOptions(MINI_SPEECH_DIR, base)).toMatchObject({ kind: 'speech', options: { ...base, speechDir: MINI_SPEECH_DIR } });
    expect(checkpointEngineOptions(MINI_VIDEO_DIR, base)).toMatchObject({ kind: 'video', options: base });
    expect(checkpointEngineOptions(HF_CORE, base)).toEqual({ kind: 'core', options: { device: 'cpu', modelDir: HF_CORE } });
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'notes.txt'), 'nothing');
    expect(() => checkpointEngineOptions(empty, base)).toThrow(/--checkpoint .*empty: not a checkpoint folder: expected herd's vision\.safetensors/);
    expect(() => checkpointEngineOptions(join(tmp, 'missing'), base)).toThrow(/--checkpoint .*missing: no such folder/);
    expect(checkpointId('/a/b/Tuned Vision!', new Set(['mini']))).toBe('tuned-vision');
    expect(checkpointId('/x/mini', new Set(['mini']))).toBe('mini-2');
  });

  it('herd-chat --checkpoint: a folder that is not a checkpoint ends the start in one line naming it (exit 1)', async () => {
    const empty = join(tmp, 'not-a-model');
    mkdirSync(empty, { recursive: true });
    const r = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN, '--port', '0', '--checkpoint', empty], { timeout: 60_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not-a-model: not a checkpoint folder/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);
});
