// Round 18 (reel18): does the aggregator's in-graph `motionFeatures` (resampler.motionQuery) read direction from the
// frozen frame features? Runs it on a feature cache (`herd video train` writes one beside the clips:
// features-<sha>-<clips>) and, on the held-out clips stage 0's readout uses (exactly one moving shape, nothing
// appearing), takes the sign of the larger axis of the centroid's displacement as the direction — no training.
// Usage (built repo, from bench/): node probes/video-motion-features.mjs FEATURES_DIR
// The tiling is the mini image model's (4 tiles of 48 px, 8-px patches; 8 frames of 148 tokens of width 256).
import { decodeF16 } from '@herd/core';
import { iterateDataset } from '@herd/data';
import * as G from '@herd/graph';
import { Session, hostTensor } from '@herd/runtime';
import { motionFeatures } from '@herd/video';
const dir = process.argv[2];
if (!dir) throw new Error('usage: node probes/video-motion-features.mjs FEATURES_DIR (a herd video feature cache)');
const grid = { maxTiles: 4, tileSize: 48, patchSize: 8 };
const F = 8, S = 148, D = 256;
const g = new G.Graph();
const frames = g.input('frames', 'f32', [1, F, S, D]);
const mask = g.input('mask', 'bool', [1, S]);
const s = await Session.create(G.toOnnx(g, { outputs: { m: motionFeatures(frames, mask, grid) }, name: 'm' }));
let right = 0, n = 0; const rows = [];
for await (const x of iterateDataset(dir)) {
  const meta = x.meta; if (meta.split !== 'heldout') continue;
  if (meta.objects.some((o) => o.motion.kind === 'appear' || o.motion.kind === 'disappear')) continue;
  const fb = x.files.features;
  const f = decodeF16(new Uint16Array(fb.buffer.slice(fb.byteOffset, fb.byteOffset + fb.byteLength)));
  const m = Array.from((await s.run({ frames: hostTensor('f32', [1, F, S, D], f), mask: hostTensor('bool', [1, S], new Uint8Array(x.files.frame_mask)) }))['m'].data);
  const moving = meta.objects.filter((o) => o.motion.kind === 'move');
  rows.push({ key: x.key, m: m.map((v) => +v.toFixed(3)), moving: moving.map((o) => o.motion.direction) });
  if (moving.length !== 1) continue;
  n++;
  const [dx, dy] = m;
  const dir = Math.abs(dx) > Math.abs(dy) ? (dx > 0 ? 'right' : 'left') : dy > 0 ? 'down' : 'up';
  if (dir === moving[0].motion.direction) right++;
}
console.log(`rule on in-graph displacement: ${right}/${n}`);
for (const r of rows.slice(0, 12)) console.log(JSON.stringify(r));
console.log('magnitude moving', rows.filter((r) => r.moving.length).map((r) => r.m[4]).slice(0, 8), 'static', rows.filter((r) => !r.moving.length).map((r) => r.m[4]).slice(0, 8));
await s.release();
