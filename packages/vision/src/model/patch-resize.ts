/**
 * Warm start of an image encoder with finer patches from a trained one (e.g. preset `mini-patch4` from the
 * patch-8 mini encoder): the patch side shrinks by an integer ratio r, the token grid per tile grows from
 * g×g to (r·g)×(r·g), everything else keeps its shape and value.
 *
 *   - Patch embedding: W'[c, ch, i, j] = Σ_{a,b < r} W[c, ch, r·i + a, r·j + b]. Then the finer encoder's patch
 *     embedding of an image x is EXACTLY the coarse encoder's patch embedding of x upsampled r× (nearest):
 *     a coarse patch of the upsampled image covers one fine patch of x with every pixel repeated r×r times.
 *   - Per-patch position tables (`gated_positional_embedding.embedding` [P, D], and each tile slot's block of
 *     `…tile_embedding.weight` [ids, N·P·D], whose size follows P): the patch rows are resampled g×g → r·g×r·g
 *     bilinearly at the fine patches' centres (align-corners false, clamped at the edges: fine patch I sits at
 *     coarse coordinate (I + ½)/r − ½), the class-token row is kept.
 * So the resized encoder sees a tile as the trained one saw that tile upsampled r×, the place where its
 * position tables were learned; what the finer patches add has to be learned by training on.
 */
import { ProblemList } from '@herd/core';
import { type ParamValues } from '@herd/graph';
import { type VisionConfig, patchesPerTile } from '../config.js';
import { encoderParamSpecs } from './params.js';

const V = 'vision_model';
const PATCH = `${V}.patch_embedding.weight`;
const POSITION = `${V}.gated_positional_embedding.embedding`;
const TILE_POSITION = `${V}.gated_positional_embedding.tile_embedding.weight`;

/** The integer ratio from's patch side / to's, checking that the configs differ in patchSize only. */
export function patchResizeRatio(from: VisionConfig, to: VisionConfig): number {
  const p = new ProblemList();
  for (const k of Object.keys(from) as (keyof VisionConfig)[]) {
    if (k !== 'patchSize' && JSON.stringify(from[k]) !== JSON.stringify(to[k])) p.add(`${k} differs (${JSON.stringify(from[k])} vs ${JSON.stringify(to[k])}); only patchSize may`);
  }
  const r = from.patchSize / to.patchSize;
  if (!Number.isInteger(r) || r < 2) p.add(`the source patch size ${from.patchSize} must be an integer multiple (≥ 2×) of the target's ${to.patchSize}`);
  p.throwIfAny('invalid_config', `patch resize ${from.patchSize} → ${to.patchSize} px`);
  return r;
}

/** W [D, C, p, p] → [D, C, p/r, p/r], each r×r block summed. */
export function sumPatchBlocks(w: Float32Array, D: number, C: number, p: number, r: number): Float32Array {
  const q = p / r;
  const out = new Float32Array(D * C * q * q);
  for (let dc = 0; dc < D * C; dc++) {
    for (let y = 0; y < p; y++) for (let x = 0; x < p; x++) out[dc * q * q + Math.floor(y / r) * q + Math.floor(x / r)]! += w[dc * p * p + y * p + x]!;
  }
  return out;
}

/** A [1 + g², D] position table (class row first) → [1 + (r·g)², D]: class row kept, patch rows bilinear at the fine centres. */
export function resamplePositions(table: Float32Array, g: number, D: number, r: number): Float32Array {
  const G = r * g;
  const out = new Float32Array((1 + G * G) * D);
  out.set(table.subarray(0, D));
  // Fine index I → the two coarse indices around it and the weight of the upper one.
  const axis = Array.from({ length: G }, (_, I) => {
    const u = Math.min(g - 1, Math.max(0, (I + 0.5) / r - 0.5));
    const lo = Math.floor(u);
    return { lo, hi: Math.min(g - 1, lo + 1), w: u - lo };
  });
  for (let I = 0; I < G; I++) {
    const a = axis[I]!;
    for (let J = 0; J < G; J++) {
      const b = axis[J]!;
      const row = (i: number, j: number) => 1 + i * g + j;
      const corners: [number, number][] = [[row(a.lo, b.lo), (1 - a.w) * (1 - b.w)], [row(a.lo, b.hi), (1 - a.w) * b.w], [row(a.hi, b.lo), a.w * (1 - b.w)], [row(a.hi, b.hi), a.w * b.w]];
      const o = (1 + I * G + J) * D;
      for (const [src, wt] of corners) if (wt !== 0) for (let d = 0; d < D; d++) out[o + d]! += wt * table[src * D + d]!;
    }
  }
  return out;
}

/**
 * The encoder `from` (patch side p, values by name) as an encoder of config `to` (patch side p/r, all else equal):
 * see the module comment. Every tensor of `to` comes from `from`'s of the same name; a missing or misshapen one is an error.
 */
export function resizeEncoderPatches(from: VisionConfig, encoder: ParamValues, to: VisionConfig): ParamValues {
  const r = patchResizeRatio(from, to);
  const g = from.tileSize / from.patchSize;
  const [P, D, C] = [patchesPerTile(from), from.dim, 3];
  const source = new Map(encoderParamSpecs(from).map((s) => [s.name, s.shape]));
  const problems = new ProblemList();
  const out: ParamValues = {};
  for (const spec of encoderParamSpecs(to)) {
    const val = encoder[spec.name];
    const want = source.get(spec.name);
    if (!val || !want) { problems.add(`missing tensor '${spec.name}'`); continue; }
    if (val.shape.join() !== want.join()) { problems.add(`tensor '${spec.name}' has shape [${val.shape}], a ${from.patchSize}-px encoder needs [${want}]`); continue; }
    let data: Float32Array;
    if (spec.name === PATCH) data = sumPatchBlocks(val.data, D, C, from.patchSize, r);
    else if (spec.name === POSITION) data = resamplePositions(val.data, g, D, r);
    else if (spec.name === TILE_POSITION) {
      const [ids, Pt] = [val.shape[0]!, patchesPerTile(to)];
      data = new Float32Array(ids * to.maxTiles * Pt * D);
      for (let b = 0; b < ids * from.maxTiles; b++) data.set(resamplePositions(val.data.subarray(b * P * D, (b + 1) * P * D), g, D, r), b * Pt * D);
    } else data = Float32Array.from(val.data);
    out[spec.name] = { dtype: 'f32', shape: [...spec.shape], data };
  }
  problems.throwIfAny('checkpoint_mismatch', `patch resize ${from.patchSize} → ${to.patchSize} px: the source encoder`);
  return out;
}
