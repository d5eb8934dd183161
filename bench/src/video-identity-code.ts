/**
 * The video oracle's identity code (round 25, `--identity-code`): at each sampled frame and at each patch
 * token an object covers in that frame, a fixed random code of the object's colour and one of its shape are
 * added to the frozen frame features — the clip's ground truth placed where the object is, and nothing
 * about where it goes (no direction; a still or hidden-then-shown object is coded wherever it is seen).
 *
 * Where an object is: `framePositions` (the same function that drew the clip) at the frame the feature
 * frame was decoded from (`sampleFrames`: the centre of each of F equal segments of the clip's frames);
 * which tokens: the patches of the frame's tiling (`optimalCanvas`, `fitToCanvas`: the clip resized onto
 * its canvas, tiles row by row, token 0 of a tile its class token) whose square meets the object's disc.
 *
 * Legend: F sampled frames, S tokens per frame, D feature width.
 */
import { HerdError, Rng } from '@herd/core';
import { BACKGROUNDS, COLOURS, SHAPES, type ClipSpec, framePositions } from '@herd/datasets';
import { type VisionConfig, fitToCanvas, optimalCanvas, patchesPerTile } from '@herd/vision';

export const IDENTITY_PARTS = ['colour', 'shape'] as const;
export type IdentityPart = (typeof IDENTITY_PARTS)[number];

/** One random code per colour and per shape, N(0, scale²) per value, from its own seed (colours first, then shapes). */
export interface IdentityCodes {
  readonly parts: readonly IdentityPart[];
  readonly colour: ReadonlyMap<string, Float32Array>;
  readonly shape: ReadonlyMap<string, Float32Array>;
}

export function identityCodes(parts: readonly IdentityPart[], dim: number, scale: number, seed: number): IdentityCodes {
  const rng = new Rng(seed);
  const draw = () => Float32Array.from({ length: dim }, () => scale * rng.normal());
  const colour = new Map(COLOURS.map((c) => [c as string, draw()]));
  const shape = new Map(SHAPES.map((s) => [s as string, draw()]));
  return { parts, colour, shape };
}

type Grid = Pick<VisionConfig, 'tileSize' | 'patchSize' | 'maxTiles' | 'supportedAspectRatios'>;

/**
 * The patch tokens (indices into a frame's S tokens) whose square meets the disc of radius r (pixels) around
 * (x, y) in a width × height frame, after the frame is resized onto its canvas as `tileImage` does.
 */
export function patchesAt(x: number, y: number, r: number, width: number, height: number, v: Grid): number[] {
  const T = v.tileSize;
  const p = v.patchSize;
  const side = T / p;
  const P = patchesPerTile(v);
  const canvas = optimalCanvas(height, width, T, v.supportedAspectRatios);
  const size = fitToCanvas(height, width, canvas.rows * T, canvas.cols * T, T);
  const sx = size.width / width;
  const sy = size.height / height;
  const cx = x * sx;
  const cy = y * sy;
  const out: number[] = [];
  for (let py = 0; py < canvas.rows * side; py++) {
    for (let px = 0; px < canvas.cols * side; px++) {
      // The nearest point of the patch square to the centre, in the clip's own pixels (the disc before resizing).
      const nx = (Math.min(Math.max(cx, px * p), (px + 1) * p) - cx) / sx;
      const ny = (Math.min(Math.max(cy, py * p), (py + 1) * p) - cy) / sy;
      if (nx * nx + ny * ny >= r * r) continue;
      const tile = Math.floor(py / side) * canvas.cols + Math.floor(px / side);
      out.push(tile * P + 1 + (py % side) * side + (px % side));
    }
  }
  return out;
}

/** The clip frame each of `count` sampled frames was decoded from (`sampleFrames`: centres of equal segments). */
export function sampledFrameIndices(total: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.min(total - 1, Math.floor(((i + 0.5) * total) / count)));
}

/** Per sampled frame, per object of the clip: the patch tokens it covers there (none while hidden). */
export function objectPatches(spec: Pick<ClipSpec, 'width' | 'height' | 'fps' | 'frames' | 'objects'>, sampled: number, v: Grid): number[][][] {
  return sampledFrameIndices(spec.frames, sampled).map((f) =>
    framePositions({ ...spec, background: BACKGROUNDS[0] }, f).map((o) => (o === null ? [] : patchesAt(o.x, o.y, o.r, spec.width, spec.height, v))),
  );
}

/**
 * Frame features [F, S, D] (f32, changed in place and returned) with each object's codes added at the patches
 * it covers in each frame (`objectPatches`); two objects over one patch both add theirs.
 */
export function addIdentityCodes(features: Float32Array, spec: Pick<ClipSpec, 'width' | 'height' | 'fps' | 'frames' | 'objects'>, frames: number, tokens: number, codes: IdentityCodes, v: Grid): Float32Array {
  const D = features.length / (frames * tokens);
  if (!Number.isInteger(D) || D <= 0) throw new HerdError('shape_mismatch', `identity code: ${features.length} feature values are not ${frames} frames × ${tokens} tokens × D`);
  const covered = objectPatches(spec, frames, v);
  covered.forEach((perObject, f) =>
    perObject.forEach((patches, j) => {
      const o = spec.objects[j]!;
      const add = codes.parts.map((part) => {
        const c = (part === 'colour' ? codes.colour : codes.shape).get(part === 'colour' ? o.colour : o.shape);
        if (!c || c.length !== D) throw new HerdError('invalid_argument', `identity code: no ${part} code of width ${D} for '${part === 'colour' ? o.colour : o.shape}'`);
        return c;
      });
      for (const s of patches) {
        const at = (f * tokens + s) * D;
        for (const c of add) for (let i = 0; i < D; i++) features[at + i]! += c[i]!;
      }
    }),
  );
  return features;
}
