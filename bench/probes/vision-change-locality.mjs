// Round 25 (enc25): how LOCAL an encoder's feature change is. Erase one object (its cell's ink pixels set to the
// cell's mean non-ink colour) and measure where the features change: the share of the change energy
// (sum over tokens of |f - f'|^2) on the tokens of the object's own grid cell, and on its own ink tokens.
// A proxy for video's "frame change" locality (the motion centroid needs the change where the object is). Held-out
// clean scenes, the first object of each. Usage (built repo, from bench/): node probes/vision-change-locality.mjs DATA ENCODER_DIR
import { SCENE_CELL, INK_SHARE, encoderFeatures, inkPixels, patchGeometry } from '@herd/vision';
import { setDefaultThreads } from '@herd/runtime';
import { loadVisionBenchScenes } from '../dist/vision-scenes.js';
setDefaultThreads(1);
const [data, dir] = process.argv.slice(2);
if (!data || !dir) { console.error('usage: node probes/vision-change-locality.mjs DATA ENCODER_DIR'); process.exit(2); }
const { vision: v, encoder, heldout } = await loadVisionBenchScenes({ data, preset: 'mini', encoderDir: dir, encoderFlag: 'init', cleanOnly: true });
const S = v.tileSize, P = (S / v.patchSize) ** 2 + 1;
const erased = heldout.map((s) => {
  const img = s.image, { width: W, height: H } = img.resized, ink = inkPixels(img, v);
  const o = s.scene.objects[0], [cx, cy] = SCENE_CELL[o.position];
  const [xa, xb, ya, yb] = [Math.floor((cx * W) / 3), Math.floor(((cx + 1) * W) / 3), Math.floor((cy * H) / 3), Math.floor(((cy + 1) * H) / 3)];
  const at = (x, y, ch) => { const tile = Math.floor(y / S) * img.canvas.cols + Math.floor(x / S); return ((tile * 3 + ch) * S + (y % S)) * S + (x % S); };
  const bg = [0, 0, 0]; let n = 0;
  for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) if (!ink[y * W + x]) { n++; for (let ch = 0; ch < 3; ch++) bg[ch] += img.pixels[at(x, y, ch)]; }
  const pixels = Float32Array.from(img.pixels);
  for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) if (ink[y * W + x]) for (let ch = 0; ch < 3; ch++) pixels[at(x, y, ch)] = bg[ch] / Math.max(1, n);
  return { ...img, pixels };
});
const [f, g] = [await encoderFeatures(v, encoder.encoder, heldout.map((s) => s.image)), await encoderFeatures(v, encoder.encoder, erased)];
const Dv = f[0].length / (v.maxTiles * P);
let cellShare = 0, inkShare = 0, clsShare = 0;
heldout.forEach((s, i) => {
  const { cell, ink } = patchGeometry(s.image, v);
  const [cx, cy] = SCENE_CELL[s.scene.objects[0].position];
  let all = 0, inCell = 0, onInk = 0, cls = 0;
  for (let t = 0; t < cell.length; t++) {
    let e = 0; for (let d = 0; d < Dv; d++) e += (f[i][t * Dv + d] - g[i][t * Dv + d]) ** 2;
    if (t % P === 0 && t / P < s.image.nTiles) { cls += e; continue; }
    if (cell[t] < 0) continue;
    all += e; if (cell[t] === cx + 3 * cy) { inCell += e; if (ink[t] >= INK_SHARE) onInk += e; }
  }
  cellShare += inCell / all; inkShare += onInk / all; clsShare += cls / (all + cls);
});
const N = heldout.length;
console.log(JSON.stringify({ dir, n: N, changeShareInObjectCell: +(cellShare / N).toFixed(3), changeShareOnObjectInk: +(inkShare / N).toFixed(3), changeShareOnClassTokens: +(clsShare / N).toFixed(3) }));
