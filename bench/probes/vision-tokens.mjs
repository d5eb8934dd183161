// Dumps, for the scenes of an images dataset, the image tokens a vision checkpoint's adapter reads — the encoder's
// output features, exactly as training and `herd vision eval` compute them (readSceneExamples' tiling, the packed
// aspect-ratio id and tile mask, `encoderFeatures`) — with each token's place (3×3 grid cell of its patch centre,
// ink share: `patchGeometry`) and the scene spec, plus the checkpoint's projector and cross-attention k/v weights,
// (and every adapter weight, the first position question of each scene as token ids) so `vision-tokens.py` can probe the features, the projected tokens and the keys / values in numpy.
//   node bench/probes/vision-tokens.mjs CORE_DIR VISION_DIR DATA_DIR OUT_DIR [LIMIT]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { ANSWER_FORM_WORDS, encoderFeatures, keyTokenIds, loadMiniVision, patchGeometry, qaSequence, readSceneExamples } from '@herd/vision';
import { setDefaultThreads } from '@herd/runtime';

setDefaultThreads(1);
const [coreDir, visionDir, data, out, limit] = process.argv.slice(2);
if (!coreDir || !visionDir || !data || !out) {
  console.error('usage: node bench/probes/vision-tokens.mjs CORE_DIR VISION_DIR DATA_DIR OUT_DIR [LIMIT]');
  process.exit(2);
}
const v = loadMiniVision(visionDir, loadLanguageCore(coreDir));
const scenes = (await readSceneExamples(data, v.config, limit ? { limit: Number(limit) } : {})).filter((s) => s.scene);
console.log(`${scenes.length} scenes`);
const encoder = Object.fromEntries(Object.entries(v.weights).filter(([k]) => k.startsWith('vision_model.')));
const feats = await encoderFeatures(v.config.vision, encoder, scenes.map((s) => s.image), 16);
mkdirSync(out, { recursive: true });
const per = feats[0].length;
const all = new Float32Array(feats.length * per);
feats.forEach((f, i) => all.set(f, i * per));
writeFileSync(join(out, 'features.f32'), Buffer.from(all.buffer));
const geo = scenes.map((s) => patchGeometry(s.image, v.config.vision));
const cells = new Int8Array(scenes.length * geo[0].cell.length);
const ink = new Float32Array(scenes.length * geo[0].cell.length);
geo.forEach((g, i) => { cells.set(g.cell, i * g.cell.length); ink.set(g.ink, i * g.cell.length); });
writeFileSync(join(out, 'cells.i8'), Buffer.from(cells.buffer));
writeFileSync(join(out, 'ink.f32'), Buffer.from(ink.buffer));
writeFileSync(join(out, 'scenes.json'), JSON.stringify(scenes.map((s) => ({ key: s.key, split: s.split, objects: s.scene.objects, nTiles: s.image.nTiles, aspectRatioId: s.image.aspectRatioId, mask: [...s.image.aspectRatioMask], canvas: s.image.canvas, resized: s.image.resized, qa: s.qa.filter((q) => q.type === 'position') }))));
// The first position question of each scene as a training sequence (qaSequence: chat prompt with the image, the
// reference reply), and the compact ids of the prepositions and place words, for the adapter forward in numpy.
const tok = await loadLlama3Tokenizer();
const seqs = scenes.map((s) => { const q = s.qa.find((x) => x.type === 'position'); return q ? { ...qaSequence(tok, v.core, v.config, q.question, q.answer), question: q.question, answer: q.answer } : null; });
writeFileSync(join(out, 'sequences.json'), JSON.stringify({ sequences: seqs, prepositions: Object.fromEntries(ANSWER_FORM_WORDS.position.map((w) => [w, [...keyTokenIds(tok, v.core, [w])]])), places: Object.fromEntries(['left', 'right', 'top', 'bottom', 'centre', 'middle'].map((w) => [w, [...keyTokenIds(tok, v.core, [w])]])), imageTokenId: v.config.imageTokenId, vocab: v.config.text.vocabSize }));
const wanted = Object.entries(v.weights).filter(([k]) => !k.startsWith('vision_model.') || /gate$/.test(k));
const meta = {};
let off = 0;
const parts = [];
for (const [k, t] of wanted) { meta[k] = { shape: t.shape, offset: off }; off += t.data.length; parts.push(Float32Array.from(t.data)); }
const w = new Float32Array(off);
let o = 0;
for (const p of parts) { w.set(p, o); o += p.length; }
writeFileSync(join(out, 'weights.f32'), Buffer.from(w.buffer));
writeFileSync(join(out, 'meta.json'), JSON.stringify({ weights: meta, featureShape: [v.config.vision.maxTiles, per / v.config.vision.maxTiles / (v.config.vision.dim * (1 + v.config.vision.intermediateLayers.length)), v.config.vision.dim * (1 + v.config.vision.intermediateLayers.length)], crossAttentionLayers: v.config.crossAttentionLayers, text: { dim: v.config.text.dim, nHeads: v.config.text.nHeads, nKvHeads: v.config.text.nKvHeads, normEps: v.config.text.normEps } }));
console.log(`wrote ${out}`);
