// Round 25 (enc25): what an encoder's shape probe confuses. The dense bench's shape probe (clean scenes; fitted on the
// first 1,200 train-split scenes, scored on the held-out ones: unseen colour x shape pairs) on the mean feature of each
// object's ink patches, beside the same probe on the raw pixels (the cell's ink share in 12x12 areas, `cellInkGrid`):
// accuracy, the shapes named for each held-out pair and for the seen pairs, and accuracy by object size and by the
// number of ink tokens. With `hue` the probe is fitted on hue-turned train scenes (`rotateHue`, a random angle each,
// mirrored half the time): whether the probe or the features tie shape to colour.
// Usage (built repo, from bench/): node probes/vision-shape-confusion.mjs DATA ENCODER_DIR [plain|hue]
import { rotateHue, INK_SHARE, SCENE_CELL, cellInkGrid, encoderFeatures, linearProbe, patchGeometry, loadMiniEncoder } from '@herd/vision';
import { setDefaultThreads } from '@herd/runtime';
import { loadVisionBenchScenes } from '../dist/vision-scenes.js';
setDefaultThreads(1);
const [data, dir, fit = 'plain'] = process.argv.slice(2);
if (!data || !dir || !['plain', 'hue'].includes(fit)) { console.error('usage: node probes/vision-shape-confusion.mjs DATA ENCODER_DIR [plain|hue]'); process.exit(2); }
const { vision: v, encoder, trainSplit, heldout } = await loadVisionBenchScenes({ data, preset: 'mini', encoderDir: dir, encoderFlag: 'init', cleanOnly: true });
const train = trainSplit.slice(0, 1200);
const Dv = (await encoderFeatures(v, encoder.encoder, [train[0].image], 1))[0].length / (v.maxTiles * ((v.tileSize / v.patchSize) ** 2 + 1));
async function items(scenes, images = scenes.map((s) => s.image)) {
  const feats = await encoderFeatures(v, encoder.encoder, images, 16);
  const out = { x: [], raw: [], y: [], pair: [], size: [], nt: [] };
  scenes.forEach((s, i) => {
    const { cell, ink } = patchGeometry(s.image, v);
    const f = feats[i];
    for (const o of s.scene.objects) {
      const [cx, cy] = SCENE_CELL[o.position];
      const acc = new Float32Array(Dv); let n = 0;
      cell.forEach((c, t) => { if (c === cx + 3 * cy && ink[t] >= INK_SHARE) { n++; for (let d = 0; d < Dv; d++) acc[d] += f[t * Dv + d]; } });
      out.x.push(acc.map((a) => a / Math.max(1, n))); out.raw.push(cellInkGrid(s.image, v, cx, cy, 12));
      out.y.push(o.shape); out.pair.push(`${o.colour} ${o.shape}`); out.size.push(o.size); out.nt.push(n);
    }
  });
  return out;
}
let seed = 12345; const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const [a0, b] = [await items(train), await items(heldout)];
const a = fit === 'hue' ? await items(train, train.map((s) => rotateHue(s.image, v, 2 * Math.PI * rnd(), rnd() < 0.5))) : a0;
console.log(`probe fitted on ${fit === 'hue' ? 'hue-turned' : 'plain'} train scenes`);
const names = [...new Set(a.y)].sort();
const trainPairs = new Set(a.pair);
for (const key of ['x', 'raw']) {
  const r = linearProbe({ x: a[key], y: a.y.map((y) => names.indexOf(y)) }, { x: b[key], y: b.y.map((y) => names.indexOf(y)) }, names.length);
  console.log(`== ${key === 'x' ? 'encoder mean ink feature' : 'raw 12x12 cell ink'}: held-out ${(100 * r.test).toFixed(1)} % (train ${(100 * r.train).toFixed(1)} %)`);
  const groups = new Map();
  b.pair.forEach((p, i) => { const k = trainPairs.has(p) ? 'seen pairs' : p; const g = groups.get(k) ?? {}; const pred = names[r.predictions[i]]; g[pred] = (g[pred] ?? 0) + 1; groups.set(k, g); });
  for (const [k, g] of groups) console.log(`  ${k}: ${Object.entries(g).sort((x, y) => y[1] - x[1]).map(([p, n]) => `${p} ${n}`).join(', ')}`);
  const bySize = new Map();
  b.size.forEach((sz, i) => { const g = bySize.get(sz) ?? [0, 0]; g[1]++; g[0] += names[r.predictions[i]] === b.y[i] ? 1 : 0; bySize.set(sz, g); });
  console.log(`  by size: ${[...bySize].map(([k, [ok, n]]) => `${k} ${(100 * ok / n).toFixed(0)} % (n ${n})`).join(', ')}`);
  const byN = new Map();
  b.nt.forEach((nt, i) => { const k = nt <= 1 ? '0-1' : nt <= 3 ? '2-3' : nt <= 6 ? '4-6' : '7+'; const g = byN.get(k) ?? [0, 0]; g[1]++; g[0] += names[r.predictions[i]] === b.y[i] ? 1 : 0; byN.set(k, g); });
  console.log(`  by ink tokens: ${[...byN].sort().map(([k, [ok, n]]) => `${k} ${(100 * ok / n).toFixed(0)} % (n ${n})`).join(', ')}`);
}
