// Round 34: where a vision checkpoint's cross-attention looks on held-out scenes. For every held-out question of the types
// colour / shape / count / position that names an object of the scene (`lookCells`: shape by place, the others by shape),
// the key-word sequence the recipe trains on (question + reference reply, targets on the reply's key words) is run through
// the training graph with the look loss and a zero learning rate: its metric `lookMass` is the head-mean attention mass, at
// the reply's target rows, on the image tokens of the named object's 3x3 grid cell, averaged over the cross-attention layers.
// A cell holds about a ninth of the image's tokens, so a look that ignores the question gives ~0.11. Any checkpoint can be
// read, trained with the look loss or not: the loss has no parameters of its own. Split by question type and by one vs
// several object groups in the scene.
// Usage (built repo, from the repository root): node bench/probes/vision-look-mass.mjs DATA VISION_DIR [--json OUT]
import { writeFileSync } from 'node:fs';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { TrainingRun, hostTensor, setDefaultThreads } from '@herd/runtime';
import { adapterBatch, buildAdapterTraining, keyTokenIds, keyWordSample, loadMiniVision, readSceneExamples } from '@herd/vision';

setDefaultThreads(Number(process.env.HERD_THREADS ?? 1));
const args = process.argv.slice(2);
const [data, dir] = args;
const jsonAt = args.indexOf('--json');
if (!data || !dir) {
  console.error('usage: node bench/probes/vision-look-mass.mjs DATA VISION_DIR [--json OUT]');
  process.exit(2);
}
const core = loadLanguageCore();
const tok = await loadLlama3Tokenizer();
// Bad input (no checkpoint, no dataset) ends with its message, not a stack.
const fail = (e) => { console.error(`vision-look-mass: ${e.message}`); process.exit(1); };
let m, weights, heldout;
try {
  ({ config: m, weights } = loadMiniVision(dir, core));
  heldout = await readSceneExamples(data, m, { split: 'heldout' });
} catch (e) {
  fail(e);
}
const keys = keyTokenIds(tok, core);
const T = 48;
const B = 16;
const items = [];
for (const s of heldout) {
  if (!s.scene) continue; // metadata without the scene spec: no object to look at
  const groups = s.scene.objects.length === 1 ? 'one' : 'several';
  for (const q of s.qa) {
    if (!['colour', 'shape', 'count', 'position'].includes(q.type)) continue;
    const sample = keyWordSample(tok, core, m, s, q, keys, T, { look: true }); // the recipe's key-word sequence (no answer-form words)
    if (sample.look.length === 0 || sample.targets.every((t) => t === -100)) continue;
    items.push({ type: q.type, groups, sample });
  }
}
const values = Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)]));
const run = await TrainingRun.create(buildAdapterTraining(m, core.weights, weights, B, T, { weightDecay: 0 }, 'pixels', 1), values);
const sums = {};
const add = (k, mass, rows) => { sums[k] ??= [0, 0]; sums[k][0] += mass * rows; sums[k][1] += rows; };
try {
  // One batch per (type, groups) run of items so each batch's metric belongs to one cell of the table.
  const byKey = {};
  for (const it of items) (byKey[`${it.type}/${it.groups}`] ??= []).push(it);
  for (const [k, list] of Object.entries(byKey)) {
    for (let i = 0; i < list.length; i += B) {
      const chunk = list.slice(i, i + B);
      while (chunk.length < B) chunk.push({ ...chunk[0], sample: { ...chunk[0].sample, look: [] } }); // padding: no marked rows
      const batch = adapterBatch(m, chunk.map((c) => c.sample), T, true);
      const rows = Array.from(batch['xattn.look.rows'].data).reduce((a, x) => a + x, 0);
      const r = await run.trainStep(batch, 0); // lr 0: nothing moves; the step reports the metric
      add(k, r.metrics.lookMass, rows);
      add(k.split('/')[0], r.metrics.lookMass, rows);
      add(`all/${k.split('/')[1]}`, r.metrics.lookMass, rows);
      add('all', r.metrics.lookMass, rows);
    }
  }
} finally {
  await run.release();
}
const table = Object.fromEntries(Object.entries(sums).sort().map(([k, [s, n]]) => [k, { mass: +(s / n).toFixed(3), rows: n }]));
console.log(`${dir}: held-out look mass on the named object's cell (${items.length} questions)`);
for (const [k, v] of Object.entries(table)) console.log(`${k.padEnd(18)} ${v.mass.toFixed(3)}  (${v.rows} rows)`);
if (jsonAt > 0) writeFileSync(args[jsonAt + 1], JSON.stringify({ dir, data, table }, null, 2));
