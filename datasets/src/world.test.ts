import { Rng } from '@herd/core';
import { describe, expect, it } from 'vitest';
import { IMAGE_NOISE, planNoise } from './noise.js';
import { HELDOUT_COMBOS, COLOURS, SHAPES, isHeldOutCombo, itemSeed, randomScene, sceneSplit, shapeCount } from './world.js';
import { randomMotion, motionSplit } from './motion.js';

describe('world', () => {
  it('draws scenes of 1–4 shapes with distinct shapes and positions, split as asked', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 500; i++) {
      const split = i % 2 === 0 ? 'train' : 'heldout';
      const s = randomScene(rng, { split });
      expect(shapeCount(s)).toBeGreaterThanOrEqual(1);
      expect(shapeCount(s)).toBeLessThanOrEqual(4);
      expect(new Set(s.objects.map((o) => o.shape)).size).toBe(s.objects.length);
      expect(new Set(s.objects.map((o) => o.position)).size).toBe(s.objects.length);
      expect(sceneSplit(s)).toBe(split);
      const m = randomMotion(rng, { split });
      expect(motionSplit(m)).toBe(split);
      expect(new Set(m.map((o) => o.shape)).size).toBe(m.length);
    }
  });

  it('holds out a few combinations but keeps every colour and shape in train', () => {
    for (const c of COLOURS) expect(SHAPES.some((s) => !isHeldOutCombo(c, s))).toBe(true);
    for (const s of SHAPES) expect(COLOURS.some((c) => !isHeldOutCombo(c, s))).toBe(true);
    expect(HELDOUT_COMBOS.length).toBeGreaterThan(0);
  });

  it('derives distinct per-item seeds', () => {
    const seeds = new Set(Array.from({ length: 10000 }, (_, i) => itemSeed(1, 'images', i)));
    expect(seeds.size).toBe(10000);
    expect(itemSeed(1, 'images', 5)).not.toBe(itemSeed(1, 'video', 5));
    expect(itemSeed(1, 'images', 5)).not.toBe(itemSeed(2, 'images', 5));
  });
});

describe('noise plan', () => {
  it('marks exactly round(rate × count) samples, never the first, kinds in turn', () => {
    for (const [count, rate] of [[100, 0.2], [37, 0.33], [9, 1], [1, 0.5], [50, 0]] as const) {
      const plan = planNoise(new Rng(count), count, rate, IMAGE_NOISE);
      const noisy = plan.filter((k) => k !== null);
      expect(noisy.length).toBe(Math.min(Math.max(0, count - 1), Math.round(rate * count)));
      expect(plan[0] ?? null).toBeNull();
      const per = new Map<string, number>();
      for (const k of noisy) per.set(k!, (per.get(k!) ?? 0) + 1);
      const counts = [...per.values()];
      if (counts.length > 0) expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
    expect(() => planNoise(new Rng(1), 10, 1.5, IMAGE_NOISE)).toThrow(/noiseRate/);
  });
});
