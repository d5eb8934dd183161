/**
 * `herd export` round trip: the written files are reloaded from disk (onnxruntime-node through
 * `@herd/runtime`), fed only as the manifest says, and must give herd's own generation path's
 * answers: token-exact greedy text and image answers, logits close.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summariseOnnx } from '@herd/graph';
import {
  EOT_ID,
  END_OF_TEXT_ID,
  type ExportManifest,
  Generator,
  type TokenizerJson,
  buildDecoder,
  loadLanguageCore,
  loadLlama3Tokenizer,
  readExportGraph,
  readExportManifest,
} from '@herd/llama3';
import { type HostTensor, Session, hostTensor } from '@herd/runtime';
import { type TiledImage, VisionGenerator, crossAttentionMaskRows, imageIntervals, imageQuestionIds, loadMiniVision, preprocessImage } from '@herd/vision';
import { runCli } from '../cli.js';

const SCENE = new URL('../../../../packages/vision/fixtures/heldout-scenes/img-00000019.png', import.meta.url).pathname;
const QUESTIONS = ['Where is the red ball?', 'How many squares are there?', 'What colour is the circle?'];

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  return { io: { stdout, stderr, stdin: new PassThrough() }, text: () => ({ out, err }) };
}

describe('herd export', () => {
  let dir: string;
  let manifest: ExportManifest;
  const core = loadLanguageCore();
  const vision = loadMiniVision(undefined, core);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herd-export-'));
    const o = io();
    const code = await runCli(['export', '--out', join(dir, 'mini')], {}, o.io);
    expect(o.text().err).toBe('');
    expect(code).toBe(0);
    manifest = readExportManifest(join(dir, 'mini'));
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes ONNX files + a manifest naming every input/output with its dtype and shape, standard ONNX operators only', () => {
    expect(manifest.decoder.file).toBe('decoder.onnx');
    const names = manifest.decoder.inputs.map((i) => i.name);
    expect(names).toEqual(expect.arrayContaining(['tokens', 'positions', 'mask', 'lastIndex', 'past.k.0', 'xattn.k.0', 'xattn.mask', 'learnableIds']));
    expect(manifest.decoder.inputs.find((i) => i.name === 'xattn.k.0')).toEqual({ name: 'xattn.k.0', dtype: 'f32', shape: ['B', core.config.nKvHeads, 'S', core.config.headDim] });
    expect(manifest.decoder.outputs.map((o) => o.name)).toEqual(expect.arrayContaining(['logits', 'present.k.0', 'present.v.3']));
    const enc = manifest.modalities['vision']!.graphs['encoder']!;
    expect(enc.inputs.map((i) => `${i.name}:${i.dtype}[${i.shape.join(',')}]`)).toEqual(['pixels:f32[1,4,3,56,56]', 'aspectRatioIds:i32[1]', 'tileMask:bool[1,4]']);
    for (const g of [manifest.decoder, enc]) {
      const s = summariseOnnx(new Uint8Array(readFileSync(join(dir, 'mini', g.file))));
      expect(s.operators.filter((o) => o.domain !== '')).toEqual([]);
      expect(s.externalInitializers).toBe(0);
      expect(s.opsetImports).toEqual([{ domain: '', version: 18 }]);
    }
    const tok = JSON.parse(readFileSync(join(dir, 'mini', manifest.tokenizer.file), 'utf8')) as TokenizerJson;
    expect(tok.bpe.length).toBe(128_000);
    expect(tok.pruned?.ids.length).toBe(core.config.vocabSize);
    expect(manifest.tokenizer.stopIds).toEqual(Array.from(core.vocab!.toCompact([EOT_ID, END_OF_TEXT_ID])));
  });

  it('refuses to overwrite an existing folder unless told to', async () => {
    const o = io();
    expect(await runCli(['export', '--out', join(dir, 'mini'), '--text-only'], {}, o.io)).toBe(1);
    expect(o.text().err).toMatch(/already exists.*--overwrite/);
    expect(readExportManifest(join(dir, 'mini')).modalities['vision']).toBeDefined();
  });

  it('herd text export writes the core alone: no vision inputs, the same greedy answers as the core', async () => {
    const o = io();
    expect(await runCli(['text', 'export', '--out', join(dir, 'text')], {}, o.io)).toBe(0);
    const m = readExportManifest(join(dir, 'text'));
    expect(m.modalities).toEqual({});
    expect(m.decoder.inputs.map((i) => i.name).filter((n) => n.startsWith('xattn') || n === 'learnableIds')).toEqual([]);
    const tok = await loadLlama3Tokenizer();
    const prompt = Array.from(core.vocab!.toCompact(tok.encodeChat([{ role: 'user', content: QUESTIONS[0]! }], { addGenerationPrompt: true })));
    const sampling = { maxNewTokens: 16, stopTokens: m.tokenizer.stopIds };
    const reloaded = await Generator.create(core.config, readExportGraph(join(dir, 'text'), m.decoder));
    const plain = await Generator.create(core.config, buildDecoder(core.config, core.weights));
    try {
      const ids = await reloaded.complete(prompt, sampling);
      expect(ids.length).toBeGreaterThan(2);
      expect(ids).toEqual(await plain.complete(prompt, sampling));
    } finally {
      await reloaded.release();
      await plain.release();
    }
  }, 60_000);

  it('the reloaded files answer exactly as herd does: text-only and image questions, greedy, logits close', async () => {
    const tok = await loadLlama3Tokenizer();
    const cfg = core.config;
    const recipe = manifest.modalities['vision']!.recipe as { tokensPerImage: number; tokensPerTile: number; maxTiles: number; adapterLayers: number; kvHeads: number; headDim: number; imageTokenId: number };
    const encoder = await Session.create(readExportGraph(join(dir, 'mini'), manifest.modalities['vision']!.graphs['encoder']!), {}, 'export_encoder');
    const herd = VisionGenerator.create(vision.config, core.weights, vision.weights, {});
    const plainCore = await Generator.create(cfg, buildDecoder(cfg, core.weights));
    const sampling = { maxNewTokens: 24, stopTokens: manifest.tokenizer.stopIds };
    try {
      // Feeds built from the manifest's recipe alone (the decoder's vision inputs at every call).
      const feedsFor = (prompt: readonly number[], kv: Record<string, HostTensor> | undefined, nTiles: readonly number[]) => {
        const S = kv ? recipe.tokensPerImage * nTiles.length : 1;
        const zero: Record<string, HostTensor> = {};
        for (let j = 0; j < recipe.adapterLayers; j++) {
          zero[`xattn.k.${j}`] = hostTensor('f32', [1, recipe.kvHeads, 1, recipe.headDim]);
          zero[`xattn.v.${j}`] = hostTensor('f32', [1, recipe.kvHeads, 1, recipe.headDim]);
        }
        const intervals = imageIntervals(prompt, recipe.imageTokenId);
        return (start: number, count: number) => ({
          ...(kv ?? zero),
          'xattn.mask': hostTensor('bool', [1, 1, count, S], kv ? crossAttentionMaskRows(intervals, { nTiles, maxTiles: recipe.maxTiles, tokensPerTile: recipe.tokensPerTile }, start, count) : new Uint8Array(count * S)),
          learnableIds: hostTensor('i32', [1, count], Int32Array.from({ length: count }, (_, i) => ((prompt[start + i] ?? 0) >= cfg.vocabSize ? prompt[start + i]! - cfg.vocabSize : -1))),
        });
      };
      const coreTokens = (p: readonly number[]) => p.map((t) => (t >= cfg.vocabSize ? 0 : t));
      const exported = async (prompt: number[], kv: Record<string, HostTensor> | undefined, nTiles: readonly number[]) => {
        const g = await Generator.create(cfg, readExportGraph(join(dir, 'mini'), manifest.decoder), {}, feedsFor(prompt, kv, nTiles));
        try {
          return { ids: await g.complete(coreTokens(prompt), sampling), logits: (await g.logits(coreTokens(prompt).slice(0, 12))).at(-1)! };
        } finally {
          await g.release();
        }
      };
      for (const q of QUESTIONS) {
        const prompt = Array.from(core.vocab!.toCompact(tok.encodeChat([{ role: 'user', content: q }], { addGenerationPrompt: true })));
        const mine = await exported(prompt, undefined, []);
        expect(mine.ids.length).toBeGreaterThan(2);
        expect(mine.ids).toEqual(await herd.complete(prompt, [], sampling));
        expect(mine.ids).toEqual(await plainCore.complete(prompt, sampling));
        const ref = (await plainCore.logits(prompt.slice(0, 12))).at(-1)!;
        expect(Math.max(...ref.map((v, i) => Math.abs(v - mine.logits[i]!)))).toBeLessThan(1e-4);
      }
      const image: TiledImage = await preprocessImage(SCENE, vision.config.vision);
      const kv = await encoder.run({
        pixels: hostTensor('f32', [1, recipe.maxTiles, 3, 56, 56], image.pixels),
        aspectRatioIds: hostTensor('i32', [1], [image.aspectRatioId]),
        tileMask: hostTensor('bool', [1, recipe.maxTiles], image.aspectRatioMask),
      });
      for (const q of ['What colour is the shape?', 'How many shapes are there?']) {
        const prompt = imageQuestionIds(tok, core, vision.config, q, 1);
        const mine = await exported(prompt, kv, [image.nTiles]);
        expect(mine.ids.length).toBeGreaterThan(1);
        expect(mine.ids).toEqual(await herd.complete(prompt, [image], sampling));
        const ref = (await herd.logits(prompt.slice(0, 12), [image])).at(-1)!;
        expect(Math.max(...ref.map((v, i) => Math.abs(v - mine.logits[i]!)))).toBeLessThan(1e-4);
      }
    } finally {
      await encoder.release();
      await herd.release();
      await plainCore.release();
    }
  }, 180_000);
});
