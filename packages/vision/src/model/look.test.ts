/**
 * The look loss (`lookLoss`, `--look-weight`): its value against an independent computation of the attention, and in the
 * training graph (the mllama-tiny fixture's random frozen core, a fresh encoder and adapter) that it leaves the answer loss as
 * it was, reaches only where the layers look (queries and keys), and moves the attention onto the marked tokens.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@herd/core';
import * as G from '@herd/graph';
import { Session, TrainingRun, hostTensor } from '@herd/runtime';
import { describe, expect, it } from 'vitest';
import { type MllamaConfig, patchesPerTile } from '../config.js';
import { type TiledImage, tileImage } from '../data/tiling.js';
import { type AdapterSample, adapterBatch, buildAdapterTraining } from '../train/adapter.js';
import { crossLayerPrefix } from './cross-attention.js';
import { type VisionWeights } from './graphs.js';
import { loadHfMllama } from './load.js';
import { LOOK_EPS, lookLoss } from './look.js';
import { adapterParamSpecs, encoderParamSpecs } from './params.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'mllama-tiny');
const IMG = 600;

describe('look loss', () => {
  it('is the mean over layers and marked rows of −log(head-mean attention mass on the marked tokens), GQA and masks included', async () => {
    const [B, H, K, T, S, D] = [2, 4, 2, 3, 5, 8];
    const rng = new Rng(34);
    const layers = [0, 1].map(() => ({ q: Float32Array.from({ length: B * H * T * D }, () => rng.normal()), k: Float32Array.from({ length: B * K * S * D }, () => rng.normal()) }));
    const mask = Uint8Array.from({ length: B * T * S }, (_, i) => (i % 7 === 3 ? 0 : 1)); // a few tokens hidden from some rows
    const tokens = Float32Array.from([1, 0, 1, 0, 0, 0, 0, 0, 1, 1]); // [B, S]
    const rows = Float32Array.from([1, 0, 1, 0, 1, 1]); // [B, T]
    // Reference: query head h reads kv head ⌊h / (H/K)⌋.
    const reference = () => {
      const per = layers.map(({ q, k }) => {
        let nll = 0, mass = 0;
        for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
          if (!rows[b * T + t]) continue;
          let m = 0;
          for (let h = 0; h < H; h++) {
            const kh = Math.floor(h / (H / K));
            const scores = Array.from({ length: S }, (_, s) => {
              if (!mask[(b * T + t) * S + s]) return -Infinity;
              let dot = 0;
              for (let d = 0; d < D; d++) dot += q[((b * H + h) * T + t) * D + d]! * k[((b * K + kh) * S + s) * D + d]!;
              return dot / Math.sqrt(D);
            });
            const top = Math.max(...scores);
            const e = scores.map((x) => Math.exp(x - top));
            const z = e.reduce((a, x) => a + x, 0);
            m += e.reduce((a, x, s) => a + (x / z) * tokens[b * S + s]!, 0) / H;
          }
          nll += -Math.log(m + LOOK_EPS);
          mass += m;
        }
        const n = rows.reduce((a, x) => a + x, 0);
        return { nll: nll / n, mass: mass / n };
      });
      return { loss: (per[0]!.nll + per[1]!.nll) / 2, mass: (per[0]!.mass + per[1]!.mass) / 2 };
    };
    const g = new G.Graph();
    const maskT = g.input('mask', 'bool', [B, 1, T, S]);
    const looks = layers.map((_, i) => ({ q: g.input(`q${i}`, 'f32', [B, H, T, D]), k: g.input(`k${i}`, 'f32', [B, K, S, D]), mask: maskT }));
    const rowsT = g.input('rows', 'f32', [B, T]);
    const out = lookLoss(looks, g.input('tokens', 'f32', [B, S]), rowsT);
    const s = await Session.create(G.toOnnx(g, { outputs: { loss: out.loss, mass: out.mass }, name: 'look' }));
    try {
      const feeds = {
        mask: hostTensor('bool', [B, 1, T, S], mask), tokens: hostTensor('f32', [B, S], tokens),
        ...Object.fromEntries(layers.flatMap(({ q, k }, i) => [[`q${i}`, hostTensor('f32', [B, H, T, D], q)], [`k${i}`, hostTensor('f32', [B, K, S, D], k)]])),
      };
      const got = await s.run({ ...feeds, rows: hostTensor('f32', [B, T], rows) });
      const want = reference();
      expect(Math.abs((got['loss']!.data as Float32Array)[0]! - want.loss)).toBeLessThan(1e-5);
      expect(Math.abs((got['mass']!.data as Float32Array)[0]! - want.mass)).toBeLessThan(1e-6);
      expect(want.mass).toBeGreaterThan(0.05); // not a degenerate case
      // No marked row: loss 0, not 0/0.
      const none = await s.run({ ...feeds, rows: hostTensor('f32', [B, T], new Float32Array(B * T)) });
      expect((none['loss']!.data as Float32Array)[0]).toBe(0);
    } finally {
      await s.release();
    }
  });

  /** The fixture's model, a fresh encoder and adapter with open gates, and two 56-px images with a square in different corners. */
  function setup(): { m: MllamaConfig; core: ReturnType<typeof loadHfMllama>['core']; start: VisionWeights; samples: AdapterSample[] } {
    const { config: m, core } = loadHfMllama(FIXTURE);
    const start = G.initParams([...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)], 5, { layers: 4 });
    for (const c of m.crossAttentionLayers) for (const gate of ['cross_attn_attn_gate', 'cross_attn_mlp_gate']) (start[`${crossLayerPrefix(c)}.${gate}`]!.data as Float32Array).fill(0.5);
    const square = (x0: number, y0: number): TiledImage => {
      const data = new Uint8Array(56 * 56 * 3).fill(255);
      for (let y = y0; y < y0 + 16; y++) for (let x = x0; x < x0 + 16; x++) data.set([200, 40, 40], (y * 56 + x) * 3);
      return tileImage({ data, width: 56, height: 56 }, m.vision);
    };
    // Each reply row with a target should look at its square's cell (top left, bottom right).
    const samples: AdapterSample[] = [
      { image: square(2, 2), tokens: [1, IMG, 30, 31], targets: [-100, -100, 31, 40], look: [[0, 0]] },
      { image: square(38, 38), tokens: [1, IMG, 30, 32], targets: [-100, -100, 32, 41], look: [[2, 2]] },
    ];
    return { m, core, start, samples };
  }

  it('in the training graph: the answer loss is unchanged (the step reports it as lmLoss), the last layer\'s values, output, FFN and gates get the same update, its queries and keys another', async () => {
    const { m, core, start, samples } = setup();
    const step = async (lookWeight: number) => {
      // No clipping and a large eps: the first AdamW update is then ≈ lr · gradient, so updates compare as gradients do.
      const run = await TrainingRun.create(buildAdapterTraining(m, core, start, 2, 4, { weightDecay: 0, clipNorm: 0, eps: 1 }, 'pixels', lookWeight), Object.fromEntries(Object.entries(start).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])));
      try {
        const r = await run.trainStep(adapterBatch(m, samples, 4, lookWeight > 0), 1);
        return { ...r, after: await run.readParams() };
      } finally {
        await run.release();
      }
    };
    const [plain, look] = [await step(0), await step(2)];
    expect(Math.abs(look.metrics['lmLoss']! - plain.loss)).toBeLessThan(1e-5);
    // The look loss itself: mass on a 1/9 cell, so −log mass ≈ 2.2 with a fresh adapter; total = answer + 2 · look.
    const lookPart = (look.loss - look.metrics['lmLoss']!) / 2;
    expect(lookPart).toBeGreaterThan(0.5);
    expect(Math.abs(Math.exp(-lookPart) - look.metrics['lookMass']!)).toBeLessThan(0.1); // one row per sample: mass ≈ exp(−nll)
    const diff = (name: string) => Math.max(...Array.from(look.after[name]!.data as Float32Array).map((x, i) => Math.abs(x - (plain.after[name]!.data as Float32Array)[i]!)));
    // The last layer: an earlier layer's output is in the stream a later layer's queries read, so its values do get a look gradient.
    const pre = `${crossLayerPrefix(m.crossAttentionLayers.at(-1)!)}.`;
    for (const same of ['cross_attn.v_proj.weight', 'cross_attn.o_proj.weight', 'cross_attn_attn_gate', 'cross_attn_mlp_gate', 'mlp.down_proj.weight']) expect(diff(pre + same)).toBeLessThan(1e-7);
    for (const other of ['cross_attn.q_proj.weight', 'cross_attn.k_proj.weight']) expect(diff(pre + other)).toBeGreaterThan(1e-2);
    // The first layer writes the stream the last one's queries read: its values do get a look gradient.
    expect(diff(`${crossLayerPrefix(m.crossAttentionLayers[0]!)}.cross_attn.v_proj.weight`)).toBeGreaterThan(1e-4);
  }, 120_000);

  it('trained, the attention moves onto the marked cell', async () => {
    const { m, core, start, samples } = setup();
    const run = await TrainingRun.create(buildAdapterTraining(m, core, start, 2, 4, { weightDecay: 0 }, 'pixels', 5), Object.fromEntries(Object.entries(start).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])));
    try {
      const batch = adapterBatch(m, samples, 4, true);
      // The marked tokens: a ninth of each image's patches or so (its cell), none of the class tokens.
      const marked = Array.from(batch['xattn.look.tokens']!.data as Float32Array).reduce((a, x) => a + x, 0);
      expect(marked).toBeGreaterThan(0);
      expect(marked).toBeLessThan((2 * m.vision.maxTiles * patchesPerTile(m.vision)) / 4);
      const first = await run.trainStep(batch, 1e-2);
      let last = first;
      for (let i = 0; i < 40; i++) last = await run.trainStep(batch, 1e-2);
      expect(last.metrics['lookMass']!).toBeGreaterThan(first.metrics['lookMass']! + 0.3);
    } finally {
      await run.release();
    }
  }, 120_000);
});
