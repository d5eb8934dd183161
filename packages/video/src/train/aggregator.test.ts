/**
 * Stage 0 (`pretrainAggregator`): the aggregator with its caption-words head learns to tell two
 * motions apart on a tiny set — toy clips only the order of their frames tells apart (right or left),
 * "captions" [direction word, filler] — while its blind control (every clip's frames zeroed) cannot:
 * its direction-word loss stays at ln 2 and every clip gets the same word. Then the language-model
 * stage trains only the video cross-attention on the frozen pre-trained aggregator (the recipe's
 * `aggregator: 'frozen'`) and answers held-out clips; the aggregator's values come out unchanged.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng, decodeF16 } from '@herd/core';
import { type MotionObject } from '@herd/datasets';
import { type Sample, writeDataset } from '@herd/data';
import * as G from '@herd/graph';
import { llamaParamSpecs, trainAdapter } from '@herd/llama3';
import { type ClipFeatures, blindClip } from '../data/features.js';
import { VideoGenerator } from '../model/generate.js';
import { VIDEO_CROSS_ATTENTION_GROUP, videoModelSpec, videoParamSpecs } from '../model/graphs.js';
import { RESAMPLER_PREFIX, centreFrameNorms } from '../model/resampler.js';
import { TINY_CLIP, tinyModel, toyMotionClip } from '../test-support/tiny.js';
import { type AggregatorPretrainResult, MOTION_CLASSES, aggregatorWordScores, motionClass, pretrainAggregator } from './aggregator.js';
import { type VideoSequence, videoBatch } from './batch.js';
import { videoTokensOf } from './mini.js';

const root = mkdtempSync(join(tmpdir(), 'herd-video-aggregator-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const t = tinyModel();
const IMG = 40, T = 8, RIGHT = 20, LEFT = 21, FILLER = 7;
const vocab = t.m.image.text.vocabSize;
const D = t.m.image.text.dim;

const rng = new Rng(11);
const make = (n: number) => Array.from({ length: n }, (_, i) => ({ right: i % 2 === 0, clip: toyMotionClip(t.m, rng, i % 2 === 0) }));
const train = make(48);
const held = make(16);
const fresh = centreFrameNorms(t.m.video.resampler, D, G.initParams(videoParamSpecs(t.m), 5, { layers: t.m.image.text.nLayers }), train.slice(0, 8).map((x) => ({ features: decodeF16(x.clip.features), frameMask: x.clip.frameMask })));

async function stage0(blind: boolean): Promise<{ r: AggregatorPretrainResult; right: number; sameWord: boolean }> {
  const see = (c: ClipFeatures) => (blind ? blindClip(c) : c);
  const r = await pretrainAggregator({
    config: t.m, values: fresh, vocab, steps: 100, batch: 8, lr: 2e-2, seed: 3, samplings: [TINY_CLIP],
    clips: train.map((x) => ({ clip: see(x.clip), words: [x.right ? RIGHT : LEFT, FILLER] })),
  });
  const scores = (await aggregatorWordScores(t.m, TINY_CLIP, r.values, vocab, held.map((x) => see(x.clip)), [RIGHT, LEFT])).map((s) => s.words);
  const right = scores.filter((s, i) => (s[0]! > s[1]!) === held[i]!.right).length;
  const sameWord = scores.every((s) => s[0]! > s[1]! === scores[0]![0]! > scores[0]![1]!);
  return { r, right, sameWord };
}

describe('stage 0: aggregator pre-training with the caption-words head', () => {
  let seeing: Awaited<ReturnType<typeof stage0>>;

  it('tells two motions apart on held-out clips; the blind control cannot', async () => {
    seeing = await stage0(false);
    const blind = await stage0(true);
    const tail = (xs: readonly number[]) => xs.slice(-5).reduce((a, b) => a + b, 0) / 5;
    console.log(`stage 0: seeing ${seeing.right}/16 held-out, loss ${tail(seeing.r.losses).toFixed(3)}; blind ${blind.right}/16, loss ${tail(blind.r.losses).toFixed(3)}`);
    expect(seeing.right).toBeGreaterThanOrEqual(15);
    // One word distribution per clip for its two words (a bag): at best ½ filler + ½ the right direction,
    // loss ln 2; a head blind to the clip can do no better than ½ filler + ¼ each direction, loss 1.5 ln 2.
    expect(tail(seeing.r.losses)).toBeLessThan(Math.LN2 + 0.05);
    expect(tail(blind.r.losses)).toBeGreaterThan(1.5 * Math.LN2 - 0.01);
    expect(blind.sameWord).toBe(true);
    expect(blind.right).toBe(8);
  });

  it('the motion head (stand-in target) reads the direction when the caption words do not carry it; blind it cannot', async () => {
    const run = async (blind: boolean) => {
      const see = (c: ClipFeatures) => (blind ? blindClip(c) : c);
      const r = await pretrainAggregator({
        config: t.m, values: fresh, vocab, steps: 60, batch: 8, lr: 2e-2, seed: 3, samplings: [TINY_CLIP], motionWeight: 1,
        clips: train.map((x) => ({ clip: see(x.clip), words: [FILLER], motion: MOTION_CLASSES.indexOf(x.right ? 'right' : 'left') })),
      });
      const scores = await aggregatorWordScores(t.m, TINY_CLIP, r.values, vocab, held.map((x) => see(x.clip)), [FILLER]);
      return scores.filter((s, i) => s.motion![MOTION_CLASSES.indexOf('right')]! > s.motion![MOTION_CLASSES.indexOf('left')]! === held[i]!.right).length;
    };
    const [seeing, blind] = [await run(false), await run(true)];
    console.log(`stage 0 motion head: seeing ${seeing}/16 held-out, blind ${blind}/16`);
    expect(seeing).toBeGreaterThanOrEqual(15);
    expect(blind).toBe(8); // every blinded clip gets the same class: half of the alternating held-out set
  });

  it('motion classes: the shared direction, still, or none (ignored)', async () => {
    const ob = (motion: MotionObject['motion']) => ({ colour: 'red', shape: 'circle', size: 'small', start: 'centre', motion }) as MotionObject;
    const move = (direction: 'left' | 'right' | 'up' | 'down') => ob({ kind: 'move', direction, speed: 'slow' });
    expect(motionClass([move('up')])).toBe(MOTION_CLASSES.indexOf('up'));
    expect(motionClass([move('left'), ob({ kind: 'still' })])).toBe(MOTION_CLASSES.indexOf('left'));
    expect(motionClass([move('left'), move('left')])).toBe(MOTION_CLASSES.indexOf('left'));
    expect(motionClass([ob({ kind: 'still' })])).toBe(MOTION_CLASSES.indexOf('still'));
    expect(motionClass([move('left'), move('right')])).toBe(-100);
    expect(motionClass([ob({ kind: 'appear', at: 0.5 })])).toBe(-100);
    await expect(pretrainAggregator({ config: t.m, values: fresh, vocab, steps: 1, batch: 8, lr: 1e-2, seed: 1, samplings: [TINY_CLIP], motionWeight: 1, clips: train.map((x) => ({ clip: x.clip, words: [FILLER] })) })).rejects.toThrow(/motion class/);
  });

  it('the language-model stage then learns the answer through the video cross-attention alone, the aggregator frozen', async () => {
    const core = G.initParams(llamaParamSpecs(t.m.image.text), 1, { std: 0.2, layers: 4 });
    const features = new Map<string, ClipFeatures>();
    const seq = (prefix: string, x: { right: boolean; clip: ClipFeatures }, i: number): VideoSequence => {
      features.set(`${prefix}-${i}`, x.clip);
      return { clip: `${prefix}-${i}`, tokens: [1, IMG, 3 + (i % 10), 3 + ((i * 7) % 10), 5, 0, 0, 0], targets: [-100, -100, -100, -100, x.right ? RIGHT : LEFT, -100, -100, -100] };
    };
    const trainSeqs = train.map((x, i) => seq('train', x, i));
    const heldSeqs = held.map((x, i) => seq('held', x, i));
    const dir = join(root, 'seqs');
    await writeDataset(dir, trainSeqs.map((s, i): Sample => ({ key: `s${String(i).padStart(4, '0')}`, files: { seq: new TextEncoder().encode(JSON.stringify(s)) }, meta: {} })), { samplesPerShard: 32 });
    const aggregator = Object.fromEntries(Object.entries(seeing.r.values).filter(([k]) => k.startsWith(`${RESAMPLER_PREFIX}.`)));
    // As the recipe does: the frozen aggregator's tokens computed once per clip and fed instead of the frames.
    const tokens = await videoTokensOf(t.m, TINY_CLIP, { ...fresh, ...aggregator }, features);
    const r = await trainAdapter({
      spec: videoModelSpec(t.m, TINY_CLIP, 'tokens'), train: [VIDEO_CROSS_ATTENTION_GROUP], weights: { ...core, ...t.vision, ...fresh, ...aggregator }, seed: 4, batch: 8, seqLen: T, steps: 100,
      schedule: { kind: 'constant', peak: 1e-2, warmup: 5 },
      data: { dir, shuffleBuffer: 32, collate: (ss) => videoBatch(t.m, TINY_CLIP, features, ss.map((s) => JSON.parse(new TextDecoder().decode(s.files['seq']!)) as VideoSequence), T, tokens) },
    });
    expect(Object.keys(r.trained).length).toBeGreaterThan(0);
    expect(Object.keys(r.trained).every((k) => k.startsWith('video.cross_attention.'))).toBe(true);
    // Generation runs the aggregator on the frames itself: right answers mean the precomputed tokens were the same.
    const gen = VideoGenerator.create(t.m, TINY_CLIP, core, t.vision, { ...aggregator, ...r.trained });
    try {
      let right = 0;
      for (const s of heldSeqs) {
        const row = (await gen.logits(s.tokens.slice(0, 5), await gen.context(features.get(s.clip)!)))[4]!;
        if ((row[RIGHT]! > row[LEFT]! ? RIGHT : LEFT) === s.targets[4]) right++;
      }
      expect(right).toBeGreaterThanOrEqual(14);
    } finally {
      await gen.release();
    }
  });
});
