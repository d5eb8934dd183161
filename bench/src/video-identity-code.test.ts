import { describe, expect, it } from 'vitest';
import { type MotionObject } from '@herd/datasets';
import { loadVisionPreset } from '@herd/vision';
import { objectPatches } from '@herd/video';
import { addIdentityCodes, identityCodes } from './video-identity-code.js';

// The mini image model's grid: 48-px tiles of 8-px patches (6 × 6 + a class token = 37 tokens a tile), up to 4 tiles.
const V = loadVisionPreset('mini');
const S = 4 * 37;

describe('video identity code', () => {
  it('draws one fixed code per colour and per shape from its own seed', () => {
    const a = identityCodes(['colour', 'shape'], 16, 2, 25);
    const b = identityCodes(['colour', 'shape'], 16, 2, 25);
    const c = identityCodes(['colour', 'shape'], 16, 2, 26);
    expect(a.colour.get('red')).toEqual(b.colour.get('red'));
    expect(a.colour.get('red')).not.toEqual(c.colour.get('red'));
    expect(a.colour.get('red')).not.toEqual(a.colour.get('blue'));
    expect(a.shape.get('circle')).not.toEqual(a.colour.get('red'));
    expect(a.colour.size).toBe(8);
    expect(a.shape.size).toBe(6);
  });

  // A 96 × 96 clip of 16 frames at 12 fps, read as 4 feature frames (clip frames 2, 6, 10, 14): a still red circle
  // on the left, a green star that appears on the right halfway (clip frame 8), a blue square that moves down.
  const still: MotionObject = { shape: 'circle', colour: 'red', size: 'big', start: 'left', motion: { kind: 'still' } };
  const appears: MotionObject = { shape: 'star', colour: 'green', size: 'small', start: 'right', motion: { kind: 'appear', at: 0.5 } };
  const mover: MotionObject = { shape: 'square', colour: 'blue', size: 'small', start: 'top', motion: { kind: 'move', direction: 'down', speed: 'fast' } };
  const spec = { width: 96, height: 96, fps: 12, frames: 16, objects: [still, appears, mover] };
  const D = 8;
  const F = 4;
  const at = (f: Float32Array, frame: number, token: number) => Array.from(f.subarray((frame * S + token) * D, (frame * S + token + 1) * D));
  const sum = (...xs: Float32Array[]) => Array.from({ length: D }, (_, i) => xs.reduce((a, x) => a + x[i]!, 0));
  const close = (a: number[], b: number[]) => a.forEach((x, i) => expect(x).toBeCloseTo(b[i]!, 5));

  it("adds an object's colour and shape codes at the patches it covers in each frame, a still one in every frame, the background nothing", () => {
    const codes = identityCodes(['colour', 'shape'], D, 1, 25);
    const f = addIdentityCodes(new Float32Array(F * S * D), spec, F, S, codes, V);
    const red = sum(codes.colour.get('red')!, codes.shape.get('circle')!);
    for (let t = 0; t < F; t++) {
      // The circle's centre (16, 48) lies on the border of tile rows: the patch below it (tile 2, row 0, column 2) and above (tile 0, row 5).
      close(at(f, t, 74 + 1 + 2), red);
      close(at(f, t, 1 + 30 + 2), red);
      // The top-left corner patch and every class token: background, nothing added.
      expect(at(f, t, 1).every((x) => x === 0)).toBe(true);
      for (const cls of [0, 37, 74, 111]) expect(at(f, t, cls).every((x) => x === 0)).toBe(true);
    }
    // The star appears at clip frame 8: feature frames 2 and 3 (clip frames 10, 14) have it at its centre (80, 48), 0 and 1 not.
    const star = sum(codes.colour.get('green')!, codes.shape.get('star')!);
    const starToken = 111 + 1 + 4; // tile 3, row 0, column 4
    for (const t of [0, 1]) expect(at(f, t, starToken).every((x) => x === 0)).toBe(true);
    for (const t of [2, 3]) close(at(f, t, starToken), star);
    // The square moves down: the rows of the patches it covers go down from frame to frame.
    const rows = objectPatches(spec, F, V).map((o) => {
      const ys = o[2]!.map((tok) => Math.floor(Math.floor(tok / 37) / 2) * 6 + Math.floor(((tok % 37) - 1) / 6));
      return ys.reduce((a, b) => a + b, 0) / ys.length;
    });
    for (let t = 1; t < F; t++) expect(rows[t]!).toBeGreaterThan(rows[t - 1]!);
    // Nothing anywhere else: every coded token is one an object covers in that frame.
    const covered = objectPatches(spec, F, V);
    for (let t = 0; t < F; t++) for (let s = 0; s < S; s++) if (!covered[t]!.some((o) => o.includes(s))) expect(at(f, t, s).every((x) => x === 0)).toBe(true);
  });

  it('adds only the parts asked for, on top of the features there', () => {
    const codes = identityCodes(['shape'], D, 1, 25);
    const base = Float32Array.from({ length: F * S * D }, (_, i) => (i % 7) - 3);
    const f = addIdentityCodes(base.slice(), spec, F, S, codes, V);
    close(at(f, 0, 77), sum(base.subarray((0 * S + 77) * D, (0 * S + 78) * D), codes.shape.get('circle')!));
    expect(at(f, 0, 1)).toEqual(at(base, 0, 1));
    expect(() => addIdentityCodes(new Float32Array(10), spec, F, S, codes, V)).toThrow(/not 4 frames × 148 tokens/);
  });
});
