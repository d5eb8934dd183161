/**
 * The learned curation models wired into the stages: near-duplicates linked by pHash OR the
 * copy-detection embedding (`both`), and the mini CLIP filter and copy-detection model named by
 * folder in the config, so they also run on worker threads (same output as in-process).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as G from '@herd/graph';
import { isUnreadable, iterateDataset, runPipeline, writeDataset, type GlobalStage, type Sample, type StageContext } from '@herd/data';
import { generateImages } from '@herd/datasets';
import { parseVisionConfig } from '../../config.js';
import { initClipParams } from '../../train/clip.js';
import { buildCaptionVocab, MiniClip, saveMiniClip } from '../../train/clip-mini.js';
import { miniClipScorer } from './clip-score.js';
import { type CopyDetectConfig, copyDetectParamSpecs, saveCopyDetect } from '../../train/copy-detect.js';
import { curateImages } from '../curate.js';
import { nearDuplicate, type DedupFeature } from './near-duplicate/index.js';
import { scoreOf } from './meta.js';
import { resample } from './resample.js';

const ctx: StageContext = { shard: 'test', pass: 0, worker: 0 };
const vision = parseVisionConfig({ tileSize: 16, patchSize: 8, dim: 16, nLayers: 1, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 1 });

let samples: Sample[] = [];
let dir = '';
beforeAll(async () => {
  for await (const s of generateImages({ seed: 21, count: 40, noiseRate: 0.25, noiseKinds: ['exact_duplicate', 'mismatched_caption'] })) samples.push(s);
  dir = await mkdtemp(join(tmpdir(), 'herd-curate-models-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('nearDuplicate, both signals', () => {
  it('links a pair when either pHash or the embedding calls it a copy (the union of the two modes)', async () => {
    const clean = samples.filter((s) => s.meta['noise'] === null).slice(0, 3);
    const [a, b, c] = clean as [Sample, Sample, Sample];
    const d: Sample = { ...c, key: 'copy-of-c' }; // same bytes: a pHash pair
    const vectors: Record<string, number[]> = { [a.key]: [1, 0, 0, 0], [b.key]: [0.99, 0.141, 0, 0], [c.key]: [0, 0, 1, 0], 'copy-of-c': [0, 0, 0, 1] };
    const set = [a, b, c, d];
    const drops = async (mode: 'hash' | 'embedding' | 'both', maxAspectLogDiff = 10) => {
      const stage = nearDuplicate({ mode, minCosine: 0.95, maxAspectLogDiff, embed: (s) => vectors[s.key]!, quality: () => 1 });
      const feats = new Map<string, DedupFeature | null>();
      for (const s of set) feats.set(s.key, await stage.prepare!(s, ctx));
      return Object.fromEntries(await stage.decide(feats));
    };
    expect(await drops('hash')).toEqual({ 'copy-of-c': `duplicate-of:${c.key}` });
    expect(await drops('embedding')).toEqual({ [b.key]: `duplicate-of:${a.key}` });
    expect(await drops('both')).toEqual({ 'copy-of-c': `duplicate-of:${c.key}`, [b.key]: `duplicate-of:${a.key}` });
    // In both mode an embedding pair must also keep its aspect ratio: a and b differ in shape here.
    const aspect = (s: Sample) => Number(s.meta['width']) / Number(s.meta['height']);
    expect(Math.abs(Math.log(aspect(a) / aspect(b)))).toBeGreaterThan(0.02);
    expect(await drops('both', 0.02)).toEqual({ 'copy-of-c': `duplicate-of:${c.key}` });
  });
});

describe('curateImages with the learned models named in the config', () => {
  it('scores every pair with the mini CLIP, keeps the top half, dedups with pHash + embedding; worker threads give the same output', async () => {
    const clipDir = join(dir, 'clip');
    const vocab = buildCaptionVocab(samples.map((s) => new TextDecoder().decode(s.files['txt'])));
    const clipConfig = { vision, textVocab: vocab.length + 2, textDim: 16, textLayers: 1, textHeads: 2, textLen: 48, embedDim: 8 };
    await saveMiniClip(clipDir, { config: clipConfig, vocab, params: initClipParams(clipConfig, 3) });
    const cdDir = join(dir, 'cd');
    const cdConfig: CopyDetectConfig = { vision, embedDim: 8, temperature: 0.1 };
    await saveCopyDetect(cdDir, { config: cdConfig, params: G.initParams(copyDetectParamSpecs(cdConfig), 5, { layers: 1 }) }, 0.99999);
    await writeDataset(join(dir, 'in'), samples, { samplesPerShard: 10 });
    const config = { ocr: false as const, language: false as const, clipModel: { dir: clipDir, threshold: null, topFraction: 0.5 }, dedup: { copyDetect: cdDir }, progress: null };
    const inProc = (await curateImages(join(dir, 'in'), join(dir, 'out'), config)).report!;
    const names = inProc.stages.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['clip', 'clip_top_fraction', 'near_duplicate']));
    expect(inProc.pending).toEqual([]);
    const clipStage = inProc.stages.find((s) => s.name === 'clip')!;
    const top = inProc.stages.find((s) => s.name === 'clip_top_fraction')!;
    expect(clipStage.kept).toBe(clipStage.in); // threshold null: scores only
    expect(top.dropped).toBe(top.in - Math.ceil(0.5 * top.in));
    const dedup = inProc.stages.find((s) => s.name === 'near_duplicate')!;
    const out: Sample[] = [];
    for await (const s of iterateDataset(join(dir, 'out'))) if (!isUnreadable(s)) out.push(s);
    for (const s of out) expect(typeof scoreOf(s, 'clip', 'score')).toBe('number');
    expect(out.filter((s) => s.meta['noise'] === 'exact_duplicate')).toEqual([]); // identical bytes: cosine 1 and Hamming 0
    expect(dedup.dropped).toBeGreaterThan(0);
    // The CLIP stage ran batched (CLIP_BATCH pairs per call): the scores are the one-pair-per-call ones.
    const one = MiniClip.load(clipDir);
    const unbatched = miniClipScorer(one);
    for (const s of out) expect(Math.abs((scoreOf(s, 'clip', 'score') as number) - (await unbatched(s)))).toBeLessThan(2e-6);
    await one.release();
    const b3 = (await curateImages(join(dir, 'in'), join(dir, 'out-b3'), { ...config, clipModel: { ...config.clipModel, batch: 3 } })).report!;
    expect(b3.out).toBe(inProc.out);
    expect(await readFile(join(dir, 'out-b3', 'drops.jsonl'), 'utf8')).toBe(await readFile(join(dir, 'out', 'drops.jsonl'), 'utf8'));
    const workers = (await curateImages(join(dir, 'in'), join(dir, 'out-workers'), { ...config, workers: 2 })).report!;
    expect(workers.out).toBe(inProc.out);
    expect(await readFile(join(dir, 'out-workers', 'drops.jsonl'), 'utf8')).toBe(await readFile(join(dir, 'out', 'drops.jsonl'), 'utf8'));
  }, 120_000);
});

describe('dedup and resampling decided one partition at a time', () => {
  /** Records the size of every decide() call. */
  function spy<F, O>(stage: GlobalStage<F, O>, sizes: number[]): GlobalStage<F, O> {
    const decide = stage.decide.bind(stage);
    return { ...stage, decide: (f, o) => (sizes.push(f.size), decide(f, o)) };
  }
  it('the observer sees every feature once, decide() gets bounded partitions, and the drops equal the all-at-once decision', async () => {
    await writeDataset(join(dir, 'part-in'), samples, { samplesPerShard: 8 });
    const read = async (out: string) => (await readFile(join(dir, out, 'drops.jsonl'), 'utf8')).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string; reason: string }).sort((a, b) => (a.key < b.key ? -1 : 1));
    for (const [name, make] of [
      ['near_duplicate', (k?: number) => nearDuplicate({ mode: 'hash', ...(k ? { featuresPerPartition: k } : {}) })],
      ['resample', (k?: number) => resample({ threshold: 4, n: 1, seed: 3, ...(k ? { featuresPerPartition: k } : {}) })],
    ] as const) {
      const sizes: number[] = [];
      await runPipeline({ input: join(dir, 'part-in'), output: join(dir, `${name}-part`), stages: [spy(make(8) as GlobalStage, sizes)], progress: null });
      const whole: number[] = [];
      await runPipeline({ input: join(dir, 'part-in'), output: join(dir, `${name}-whole`), stages: [spy(make() as GlobalStage, whole)], progress: null });
      expect(whole, name).toEqual([40]);
      expect(sizes.length, name).toBeGreaterThanOrEqual(3); // ceil(40 / 8) = 5 partitions, empty ones skipped
      expect(Math.max(...sizes), name).toBeLessThan(40);
      expect(sizes.reduce((a, b) => a + b, 0), name).toBe(40);
      const part = await read(`${name}-part`);
      expect(part, name).toEqual(await read(`${name}-whole`));
      expect(part.length, name).toBeGreaterThan(0);
    }
  }, 60_000);
});
