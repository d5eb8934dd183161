/**
 * Where a clip's objects are, in frame tokens: the synthetic world's ground truth placed on the image model's grid.
 *
 * Where an object is: `framePositions` (the function that drew the clip) at the clip frame a feature frame was
 * decoded from (`sampleFrames`: the centre of each of F equal segments of the clip's frames); which tokens: the
 * patches of the frame's tiling (`optimalCanvas`, `fitToCanvas`: the clip resized onto its canvas, tiles row by row,
 * token 0 of a tile its class token) whose square meets the object's disc.
 *
 * Used by the video look loss (`lookTargetTokens`: where a row naming a mover should look) and by the video oracle's
 * identity code (bench). Legend: F sampled frames, S tokens per frame, k frames per group, E = F/k effective frames.
 */
import { HerdError } from '@herd/core';
import { readIndex } from '@herd/data';
import { BACKGROUNDS, type ClipSpec, type MotionObject, framePositions } from '@herd/datasets';
import { type VisionConfig, fitToCanvas, optimalCanvas, patchesPerTile } from '@herd/vision';

/** The image model's tiling, as far as placing a pixel on it needs. */
export type PatchGrid = Pick<VisionConfig, 'tileSize' | 'patchSize' | 'maxTiles' | 'supportedAspectRatios'>;

/** What a clip's objects' places need beyond the objects: its size, frame rate and frame count (the clips dataset's index). */
export type ClipTiming = Pick<ClipSpec, 'width' | 'height' | 'fps' | 'frames'>;

/**
 * The patch tokens (indices into a frame's S tokens) whose square meets the disc of radius r (pixels) around
 * (x, y) in a width × height frame, after the frame is resized onto its canvas as `tileImage` does.
 */
export function patchesAt(x: number, y: number, r: number, width: number, height: number, v: PatchGrid): number[] {
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
export function objectPatches(spec: ClipTiming & Pick<ClipSpec, 'objects'>, sampled: number, v: PatchGrid): number[][][] {
  return sampledFrameIndices(spec.frames, sampled).map((f) =>
    framePositions({ ...spec, background: BACKGROUNDS[0] }, f).map((o) => (o === null ? [] : patchesAt(o.x, o.y, o.r, spec.width, spec.height, v))),
  );
}

/**
 * Per effective frame e (sampled frames e·k … e·k+k−1), the frame tokens object `j` covers in any of its frames,
 * sorted: [E][tokens]. An object hidden through a whole group has none there.
 */
export function objectTokensPerGroup(spec: ClipTiming & Pick<ClipSpec, 'objects'>, j: number, sampled: number, groupFrames: number, v: PatchGrid): number[][] {
  if (!(j >= 0 && j < spec.objects.length)) throw new HerdError('invalid_argument', `object places: the clip has ${spec.objects.length} objects, no object ${j}`);
  if (sampled % groupFrames !== 0) throw new HerdError('invalid_argument', `object places: ${sampled} frames do not split into groups of ${groupFrames}`);
  const per = objectPatches(spec, sampled, v);
  return Array.from({ length: sampled / groupFrames }, (_, e) => [...new Set(per.slice(e * groupFrames, (e + 1) * groupFrames).flatMap((o) => o[j]!))].sort((a, b) => a - b));
}

/**
 * Each clip's timing and objects from a clips dataset's index (`writeClipWorld`: meta width, height, fps, frames,
 * objects), by key. Clips whose meta lacks them (another kind of dataset) are left out: only what places objects needs them.
 */
export async function readClipTimings(clipsDir: string): Promise<Map<string, ClipTiming & { readonly objects: readonly MotionObject[] }>> {
  const out = new Map<string, ClipTiming & { readonly objects: readonly MotionObject[] }>();
  for await (const e of readIndex(clipsDir)) {
    const m = e.meta as Record<string, unknown>;
    const [width, height, fps, frames] = (['width', 'height', 'fps', 'frames'] as const).map((k) => m[k]);
    if (![width, height, fps, frames].every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0) || !Array.isArray(m['objects'])) continue;
    out.set(e.key, { width: width as number, height: height as number, fps: fps as number, frames: frames as number, objects: m['objects'] as MotionObject[] });
  }
  return out;
}

/**
 * The examples with their clip's `timing` (`readClipTimings`) where the index has it; a clip whose index entry holds other
 * objects than its features' meta is refused, naming it (features made from another dataset).
 */
export function withClipTimings<X extends { readonly key: string; readonly objects: readonly MotionObject[] }>(examples: readonly X[], timings: ReadonlyMap<string, ClipTiming & { readonly objects: readonly MotionObject[] }>, where: string): (X & { readonly timing?: ClipTiming })[] {
  return examples.map((x) => {
    const t = timings.get(x.key);
    if (!t) return x;
    if (JSON.stringify(t.objects) !== JSON.stringify(x.objects)) throw new HerdError('invalid_argument', `${where}: clip '${x.key}' holds other objects than its features' (features made from another dataset?)`);
    return { ...x, timing: { width: t.width, height: t.height, fps: t.fps, frames: t.frames } };
  });
}
