// Round 25 (enc25): is a held-out pair's shape lost to its COLOUR or to its PIXELS? The dense bench's shape probe
// (fitted on the first 1,200 clean train-split scenes, plain colours) scores the held-out scenes with their hue
// turned by 0, 60, …, 300 degrees (`rotateHue`: the outline, its blur and the brightness stay, the hue changes). If a
// pair reads right once turned, the features tie its shape to its colour; if it stays wrong at every turn, the
// pixels (or the features of that outline) are the limit.
// Usage (built repo, from bench/): node probes/vision-shape-hue-turn.mjs DATA ENCODER_DIR
import { INK_SHARE, SCENE_CELL, encoderFeatures, linearProbe, patchGeometry, rotateHue } from '@herd/vision';
import { setDefaultThreads } from '@herd/runtime';
import { loadVisionBenchScenes } from '../dist/vision-scenes.js';
setDefaultThreads(1);
const [data, dir] = process.argv.slice(2);
if (!data || !dir) { console.error('usage: node probes/vision-shape-hue-turn.mjs DATA ENCODER_DIR'); process.exit(2); }
const { vision: v, encoder, trainSplit, heldout } = await loadVisionBenchScenes({ data, preset: 'mini', encoderDir: dir, encoderFlag: 'init', cleanOnly: true });
const train = trainSplit.slice(0, 1200);
const P = (v.tileSize / v.patchSize) ** 2 + 1;
async function items(scenes, images = scenes.map((s) => s.image)) {
  const feats = await encoderFeatures(v, encoder.encoder, images, 16);
  const Dv = feats[0].length / (v.maxTiles * P);
  const out = { x: [], y: [], pair: [] };
  scenes.forEach((s, i) => {
    const { cell, ink } = patchGeometry(s.image, v);
    for (const o of s.scene.objects) {
      const [cx, cy] = SCENE_CELL[o.position];
      const acc = new Float32Array(Dv); let n = 0;
      cell.forEach((c, t) => { if (c === cx + 3 * cy && ink[t] >= INK_SHARE) { n++; for (let d = 0; d < Dv; d++) acc[d] += feats[i][t * Dv + d]; } });
      out.x.push(acc.map((a) => a / Math.max(1, n))); out.y.push(o.shape); out.pair.push(`${o.colour} ${o.shape}`);
    }
  });
  return out;
}
const a = await items(train);
const names = [...new Set(a.y)].sort();
const trainPairs = new Set(a.pair);
const rows = {};
for (const deg of [0, 60, 120, 180, 240, 300]) {
  const b = await items(heldout, heldout.map((s) => rotateHue(s.image, v, (deg * Math.PI) / 180)));
  const r = linearProbe({ x: a.x, y: a.y.map((y) => names.indexOf(y)) }, { x: b.x, y: b.y.map((y) => names.indexOf(y)) }, names.length);
  const by = {};
  b.pair.forEach((p, i) => { const k = trainPairs.has(p) ? 'seen pairs' : p; by[k] ??= [0, 0]; by[k][1]++; if (r.predictions[i] === names.indexOf(b.y[i])) by[k][0]++; });
  rows[deg] = { all: +(100 * r.test).toFixed(1), ...Object.fromEntries(Object.entries(by).sort().map(([k, [ok, n]]) => [k, +(100 * ok / n).toFixed(1)])) };
  console.log(`hue +${deg}°: ${JSON.stringify(rows[deg])}`);
}
