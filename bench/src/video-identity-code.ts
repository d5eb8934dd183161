/**
 * The video oracle's identity code (round 25, `--identity-code`): at each sampled frame and at each patch
 * token an object covers in that frame, a fixed random code of the object's colour and one of its shape are
 * added to the frozen frame features — the clip's ground truth placed where the object is, and nothing
 * about where it goes (no direction; a still or hidden-then-shown object is coded wherever it is seen).
 *
 * Where an object is, in frame tokens: @herd/video's `objectPatches` (the look loss's placing too).
 *
 * Legend: F sampled frames, S tokens per frame, D feature width.
 */
import { HerdError, Rng } from '@herd/core';
import { COLOURS, SHAPES, type ClipSpec } from '@herd/datasets';
import { type PatchGrid, objectPatches } from '@herd/video';

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

/**
 * Frame features [F, S, D] (f32, changed in place and returned) with each object's codes added at the patches
 * it covers in each frame (`objectPatches`); two objects over one patch both add theirs.
 */
export function addIdentityCodes(features: Float32Array, spec: Pick<ClipSpec, 'width' | 'height' | 'fps' | 'frames' | 'objects'>, frames: number, tokens: number, codes: IdentityCodes, v: PatchGrid): Float32Array {
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
