import { describe, expect, it } from 'vitest';
import { patchPlaces } from './patch-place.js';

// The mini preset's geometry: 48-px tiles, patch 8 (6×6 patches + class token = 37 tokens per tile), up to 4 tiles.
const v = { tileSize: 48, patchSize: 8, maxTiles: 4 };
const tok = (tile: number, r: number, c: number) => tile * 37 + 1 + r * 6 + c;

describe('patchPlaces', () => {
  it('bins a full 2×2 canvas in image thirds across tile borders', () => {
    const p = patchPlaces({ nTiles: 4, canvas: { rows: 2, cols: 2 }, resized: { width: 96, height: 96 } }, v, 3);
    expect(p.col[0]).toBe(-1); // class token
    expect(p.row[0]).toBe(-1);
    expect([p.row[tok(0, 0, 0)], p.col[tok(0, 0, 0)]]).toEqual([0, 0]);
    expect(p.col[tok(0, 0, 4)]).toBe(1); // x centre 36 of 96: the middle third, in the left tile
    expect(p.col[tok(1, 0, 1)]).toBe(1); // x centre 60: the middle third, in the right tile
    expect(p.col[tok(1, 0, 2)]).toBe(2); // x centre 68
    expect([p.row[tok(3, 5, 5)], p.col[tok(3, 5, 5)]]).toEqual([2, 2]);
    expect(p.row[tok(2, 0, 0)]).toBe(1); // y centre 52: the middle third, in the bottom tiles
  });

  it('bins relative to the resized image, not the canvas, and leaves padding patches out', () => {
    // A 48×48 image on a 2×2 canvas fills only the top-left tile: its right edge is the canvas' middle.
    const p = patchPlaces({ nTiles: 4, canvas: { rows: 2, cols: 2 }, resized: { width: 48, height: 48 } }, v, 3);
    expect(p.col[tok(0, 0, 5)]).toBe(2); // x centre 44 of 48: the image's right third
    expect(p.row[tok(0, 5, 0)]).toBe(2);
    expect(p.col[tok(1, 0, 0)]).toBe(-1); // beyond the image: padding
    expect(p.row[tok(2, 0, 0)]).toBe(-1);
    expect(p.col[tok(3, 2, 2)]).toBe(-1);
  });

  it('leaves absent tiles out and follows a 1×2 canvas', () => {
    const p = patchPlaces({ nTiles: 2, canvas: { rows: 1, cols: 2 }, resized: { width: 96, height: 48 } }, v, 2);
    expect(p.col[tok(0, 3, 5)]).toBe(0);
    expect(p.col[tok(1, 3, 0)]).toBe(1);
    expect(p.row[tok(1, 2, 0)]).toBe(0); // y centre 20 of 48
    expect(p.row[tok(1, 3, 0)]).toBe(1); // y centre 28
    expect([...p.row.subarray(2 * 37)].every((x) => x === -1)).toBe(true);
  });

  it('refuses a bin count that is not a whole number from 1 to 64', () => {
    const img = { nTiles: 1, canvas: { rows: 1, cols: 1 }, resized: { width: 48, height: 48 } };
    for (const bad of [0, 2.5, 65, Number.NaN]) expect(() => patchPlaces(img, v, bad)).toThrow(/bins must be a whole number/);
  });
});
