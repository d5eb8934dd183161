import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, SafetensorsFile } from '@herd/core';
import { describe, expect, it } from 'vitest';
import { BEST_RQ_FILES, MINI_BEST_RQ_RECIPE, type Utterance, pretrainBestRq } from './pretrain.js';

/** 1 s "utterances": two tone glides with a silent head and tail, so codes have structure over time. */
function utterance(key: string, seed: number): Utterance {
  const rng = new Rng(seed);
  const f0 = 150 + 300 * rng.next();
  const f1 = 600 + 1500 * rng.next();
  const samples = new Float32Array(16000);
  for (let i = 0; i < samples.length; i++) {
    const t = i / 16000;
    const on = t > 0.15 && t < 0.85 ? 1 : 0.001;
    samples[i] = on * (0.3 * Math.sin(2 * Math.PI * f0 * t * (1 + 0.5 * t)) + 0.2 * Math.sin(2 * Math.PI * f1 * t)) + 0.003 * rng.normal();
  }
  return { key, samples };
}

describe('BEST-RQ recipe', () => {
  it('runs config → data → loop → held-out eval → save, ending below chance on held-out masked frames', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herd-bestrq-'));
    try {
      const train = Array.from({ length: 16 }, (_, i) => utterance(`t${i}`, i));
      const heldout = Array.from({ length: 4 }, (_, i) => utterance(`h${i}`, 100 + i));
      const recipe = {
        ...MINI_BEST_RQ_RECIPE,
        overrides: { dim: 32, nLayers: 1, nHeads: 2, ffnDim: 64, bestRq: { codebooks: 2, codebookSize: 32 } },
        batch: 4,
        frames: 96,
        steps: 40,
        evalEvery: 20,
        schedule: { kind: 'cosine' as const, peak: 3e-3, warmup: 5, total: 40, floor: 3e-4 },
      };
      const r = await pretrainBestRq({ train, heldout, recipe, outDir: dir });
      expect([r.trainUtterances, r.heldoutUtterances, r.steps]).toEqual([16, 4, 40]);
      const evals = r.curve.filter((c) => c.heldoutLoss !== undefined);
      expect(evals.map((c) => c.step)).toEqual([20, 40]);
      expect(r.heldoutLoss).toBeLessThan(Math.log(32)); // below chance
      expect(r.entropyBaseline).toBeGreaterThan(0);
      expect(r.entropyBaseline).toBeLessThanOrEqual(Math.log(32) + 1e-9);
      // Saved: the encoder only (no BEST-RQ heads), f16, with its config and card.
      const st = SafetensorsFile.open(join(dir, BEST_RQ_FILES.weights));
      expect(st.names().every((n) => n.startsWith('encoder.'))).toBe(true);
      expect(st.info('encoder.pre_encode.weight').dtype).toBe('F16');
      expect(JSON.parse(readFileSync(join(dir, BEST_RQ_FILES.config), 'utf8')).dim).toBe(32);
      expect(readFileSync(join(dir, BEST_RQ_FILES.card), 'utf8')).toMatch(/code-entropy baseline/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
