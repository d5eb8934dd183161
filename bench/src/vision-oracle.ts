/**
 * Can the vision adapter + frozen core answer the visual QA at all when the image features plainly
 * hold the answer? A diagnostic, not a model: the image encoder is taken out and every patch token of a
 * scene gets, as its "encoder output", a sum of fixed random vectors (one per class, N(0, scale²) per
 * value) of the ground truth at that patch — the colour, shape, group count and written word of the
 * object under it and its 3×3 grid cell (the dense stage's per-patch labels, `denseLabels`), zero for
 * background, edges and class tokens. Then the mini recipe's QA stage (`trainMiniVision`, projector +
 * adapter trainable, the committed core — or --core DIR — frozen) trains on ALL five question types and is scored by the
 * vision eval on the held-out scenes (the items of `herd vision eval --per-type N`).
 * If the oracle reaches the targets, the encoder is the gap; if a type stays low here, the adapter
 * recipe or the core loses it — whatever the encoder does.
 *
 *   node bench/dist/vision-oracle.js --data DIR [--core DIR] [--qa-steps 400] [--key-word-share 1] [--key-word-types colour,shape]
 *     [--key-word-draw question|type] [--key-word-weights TYPE=N,…] [--key-word-count-balance] [--answer-form position,count] [--position-form] [--gate-init 0.5] [--lr 0.003] [--cross-before 1,3] [--scale 1] [--per-type 50] [--count-balance] [--out FILE]
 *     [--features truth|encoder] [--encoder DIR] [--position-code G] [--position-code-scale 2] [--place-embeddings G] [--place-init 0.4]
 *
 * `--features encoder` (round 23) feeds the REAL frozen encoder's output instead of the codes (`--encoder DIR`, default the
 * committed mini encoder; computed once per image: the committed line's --freeze-encoder --train-projector path, the
 * encoder out of the training graph), and `--position-code G` adds to every image patch a fixed random code of its row
 * and one of its column in a G×G grid over the resized image (`patchPlaces`: the patch's place, not the scene's truth),
 * N(0, scale²) per value with `--position-code-scale`: a categorical place code, so that a union of places such as the
 * preposition's "left or right" is linear in what the adapter reads.
 *
 * `--place-embeddings G` (round 24) is the model part that code became: learned row / column embeddings on a G×G grid added
 * to the PROJECTED image tokens (`MllamaConfig.placeBins`, as herd vision train --place-embeddings), trained with the adapter,
 * fresh values N(0, X²) with `--place-init X` (0: zero init).
 *
 * Prints the QA table and writes bench/results/vision-oracle.json (or --out). Asserts nothing.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError, Rng, writeFileAtomicSync } from '@herd/core';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { setDefaultThreads } from '@herd/runtime';
import { type KeyWordDraw, type SceneExample, type VisionConfig, inkSilhouette, loadVisionPreset, ANSWER_FORM_TYPES, ANSWER_FORM_WORDS, KEY_WORD_DRAWS, MINI_PLACE_INIT, checkPlaceInitGiven, parsePlaceEmbeddings, parsePlaceInit, SCENE_CELL, patchesPerTile, visionOutputDim, denseLabels, denseVocab, encoderFeatures, loadMiniEncoder, MINI_ENCODER_DIR, patchPlaces, VQA_TYPES, crossScheduleWords, evaluateVqa, miniVisionConfig, parseAnswerForm, parseKeyWordWeights, parseCrossBefore, readSceneExamples, trainMiniVision, vqaCountTable, vqaGroupTable, vqaAnswerLine, vqaItems, vqaTable } from '@herd/vision';
import { CORE_FLAG, benchArgs } from './bench-args.js';

const cli = benchArgs({
  about: "A diagnostic: the image encoder's output replaced by plain codes of each patch's ground truth (colour, shape, count, word, grid cell), then the mini recipe's QA stage on all question types and the held-out visual-QA eval — can adapter + frozen core answer when the features hold the answer?",
  writes: 'bench/results/vision-oracle.json (or --out)',
  flags: {
    data: { value: 'DIR', required: true, help: 'an images dataset of the synthetic world (e.g. out/vision/images, made by herd vision train)' },
    ...CORE_FLAG,
    'qa-steps': { value: 'N', default: '400', help: 'QA steps on all scenes (stage 2b)' },
    'key-word-share': { value: 'X', default: '1', help: 'share of QA sequences with the loss on the key words only (0: whole replies of dialogues)' },
    'key-word-types': { value: 'a,b,…', default: '', help: 'QA types the key-word sequences ask about (default: every type of the scene)' },
    'key-word-draw': { value: 'HOW', default: 'question', help: "how a key-word sequence picks its question: question (a scene, then one of its questions) or type (the type first, uniformly; as herd vision train --key-word-draw)" },
    'key-word-weights': { value: 'TYPE=N,…', default: '', help: 'with --key-word-draw type: relative weights of the types in the draw (1 for a type not named; as herd vision train --key-word-weights)' },
    'key-word-count-balance': { help: 'a key-word count question asks one of a number drawn uniformly (0, 1, 2, 3), not as the scenes carry them (~84 % zero or one)' },
    'answer-form': { value: 'TYPES', default: '', help: `question types whose key words include their answer-form words: ${ANSWER_FORM_TYPES.map((t) => `${t} (${ANSWER_FORM_WORDS[t].join(' / ')})`).join(', ')} (as herd vision train --answer-form)` },
    'position-form': { help: 'the same as --answer-form position' },
    'gate-init': { value: 'X', default: '0.5', help: 'starting value of the cross-attention gates' },
    'qk-gain': { value: 'X', default: '2', help: 'starting q/k RMSNorm gain of the cross-attention' },
    'cross-before': { value: 'a,b,…', default: '1,3', help: 'core layers (0-based) the cross-attention layers run before, one each (as herd vision train --cross-before)' },
    lr: { value: 'X', default: '0.003', help: 'peak learning rate' },
    batch: { value: 'N', default: '16', help: 'sequences per step' },
    seed: { value: 'N', default: '1', help: 'training seed' },
    scale: { value: 'X', default: '1', help: "the codes' scale (standard deviation of each value)" },
    features: { value: 'KIND', default: 'truth', help: "what the adapter reads: truth (the oracle codes) or encoder (the real frozen encoder's output features)" },
    encoder: { value: 'DIR', help: 'with --features encoder: a saved mini encoder (default packages/vision/weights/mini-encoder)' },
    'silhouette-only': { help: "with --features encoder: the adapter reads only the encoder's features of the image's silhouette (`inkSilhouette`), no colour at all: how well shape, count and place are read when colour cannot stand in for shape (round 31)" },
    'ink-view': { help: "with --features encoder: each token's features are the encoder's on the image followed by the encoder's on the image's silhouette (`inkSilhouette`: ink black, all else white; the feature axis doubles, so does the projector's input): shape without colour (round 31)" },
    'position-code': { value: 'G', default: '0', help: "add a fixed random code of each patch's row and column in a G×G grid over the image (0: none)" },
    'position-code-scale': { value: 'X', default: '2', help: "the position codes' scale (standard deviation of each value; the mini encoder's output values have ~1.9)" },
    'place-embeddings': { value: 'G', default: '0', help: "learned row / column place embeddings on a G×G grid added to the projected image tokens, trained with the adapter (0: none; as herd vision train --place-embeddings)" },
    'place-init': { value: 'X', default: '', help: `with --place-embeddings: standard deviation of the fresh place tables' values (0: zero init; default ${MINI_PLACE_INIT})` },
    'per-type': { value: 'N', default: '50', help: 'held-out questions per type (as herd vision eval --per-type)' },
    'count-balance': { help: 'count questions balanced by the reference number (as herd vision eval --count-balance)' },
    threads: { value: 'T', default: '1', help: 'ONNX Runtime threads' },
    out: { value: 'FILE', help: 'where to write the JSON (default bench/results/vision-oracle.json)' },
    answers: { value: 'FILE', help: "also write every held-out item's answers (JSON lines: scene, type, question, reference, the four rows' answers and grades)" },
  },
});
setDefaultThreads(cli.number('threads'));
const core = loadLanguageCore(cli.flag('core')); // before the scenes are read: a wrong --core fails at once
const tokenizer = await loadLlama3Tokenizer();
if (!(KEY_WORD_DRAWS as readonly string[]).includes(cli.flag('key-word-draw')!)) throw new HerdError('invalid_argument', `--key-word-draw must be one of ${KEY_WORD_DRAWS.join(', ')}, got '${cli.flag('key-word-draw')}'`);
// --position-form is --answer-form position (round 21's name); a wrong type fails before the scenes are read.
const answerForm = ANSWER_FORM_TYPES.filter((t) => (cli.flag('answer-form') !== '' && parseAnswerForm(cli.flag('answer-form')!).includes(t)) || (t === 'position' && cli.has('position-form')));
const keyWordWeights = cli.flag('key-word-weights') === '' ? undefined : parseKeyWordWeights(cli.flag('key-word-weights')!);
if (keyWordWeights !== undefined && cli.flag('key-word-draw') !== 'type') throw new HerdError('invalid_argument', '--key-word-weights weighs the types of the type draw: give --key-word-draw type too');
const crossBefore = parseCrossBefore(cli.flag('cross-before')!, core.config.nLayers); // a wrong schedule fails before the scenes are read
// herd vision train's readers (one rule and message each); a bad value is a usage error (exit 2).
const placeEmbeddings = parsePlaceEmbeddings(cli.flag('place-embeddings')!);
const placeInit = cli.flag('place-init') === '' ? MINI_PLACE_INIT : parsePlaceInit(cli.flag('place-init')!);
checkPlaceInitGiven(placeEmbeddings, cli.flag('place-init') !== '');
// With --ink-view the adapter reads two encoder outputs per token: a config whose output width is twice the encoder's
// (intermediate layers listed 2L + 1 times; the encoder is not in these graphs, only the widths are read).
const inkView = cli.has('ink-view');
const preset = loadVisionPreset('mini');
const adapterVision: VisionConfig = inkView ? { ...preset, intermediateLayers: Array.from({ length: 2 * preset.intermediateLayers.length + 1 }, (_, i) => preset.intermediateLayers[i % preset.intermediateLayers.length]!) } : preset;
const m = miniVisionConfig(core.config, adapterVision, crossBefore, placeEmbeddings);
const v = m.vision;
const Dv = visionOutputDim(v); // the encoder's output width
const P = patchesPerTile(v);

const featureKind = cli.flag('features')!;
if (featureKind !== 'truth' && featureKind !== 'encoder') throw new HerdError('invalid_argument', `--features must be truth or encoder, got '${featureKind}'`);
if (cli.flag('encoder') !== undefined && featureKind !== 'encoder') throw new HerdError('invalid_argument', '--encoder is the encoder of --features encoder; give that too');
const positionBins = cli.number('position-code');
if (!Number.isInteger(positionBins) || positionBins < 0 || positionBins > 64) throw new HerdError('invalid_argument', `--position-code must be a whole number of bins from 0 (none) to 64, got ${positionBins}`);
const encoder = featureKind === 'encoder' ? loadMiniEncoder(cli.flag('encoder') ?? MINI_ENCODER_DIR) : undefined; // a wrong folder fails before the scenes are read
const silhouetteOnly = cli.has('silhouette-only');
if (silhouetteOnly && (featureKind !== 'encoder' || inkView)) throw new HerdError('invalid_argument', '--silhouette-only reads the encoder\'s features of the silhouette alone: give --features encoder, and not --ink-view');
if (inkView && featureKind !== 'encoder') throw new HerdError('invalid_argument', '--ink-view adds the encoder\'s features of the silhouette: give --features encoder too');
if (inkView && positionBins > 0) throw new HerdError('invalid_argument', '--ink-view and --position-code: not built together (the place codes are added to one encoder output)');
if (encoder && JSON.stringify(encoder.vision) !== JSON.stringify(preset)) throw new HerdError('checkpoint_mismatch', `--encoder ${cli.flag('encoder') ?? MINI_ENCODER_DIR}: its config is not the mini preset's`);

const dataDir = cli.flag('data')!;
const scenes = await readSceneExamples(dataDir, m);
const missing = scenes.filter((s) => s.scene === undefined).length;
if (missing > 0) throw new HerdError('invalid_argument', `--data ${dataDir}: ${missing} scenes have no scene spec in their metadata; the oracle codes need it`);
const vocab = denseVocab(scenes.map((s) => ({ image: s.image, scene: s.scene! })));

// One fixed random code per class of each kind (colour: background, colours, text; shape/word: none + each).
const rng = new Rng(77);
const scale = cli.number('scale');
const code = () => Float32Array.from({ length: Dv }, () => scale * rng.normal());
const codes = {
  colour: Array.from({ length: vocab.colours.length + 2 }, code),
  shape: Array.from({ length: vocab.shapes.length + 1 }, code),
  word: Array.from({ length: vocab.words.length + 1 }, code),
  cell: Array.from({ length: 9 }, code),
  count: Array.from({ length: 7 }, code), // the group's exact count (the world draws 1–3)
};

/** The scene's oracle features [N·P·Dv]: on each ink patch the sum of its ground truth's codes, zero elsewhere. */
function oracleFeatures(s: SceneExample, cfg: VisionConfig): Float32Array {
  const labels = denseLabels({ image: s.image, scene: s.scene! }, cfg, vocab);
  const countIn = new Map(s.scene!.objects.map((o) => [SCENE_CELL[o.position]![0] + 3 * SCENE_CELL[o.position]![1], o.count]));
  const out = new Float32Array(cfg.maxTiles * P * Dv);
  for (let t = 0; t < cfg.maxTiles * P; t++) {
    const colour = labels.colour[t]!;
    if (colour <= 0) continue; // background, edge, class token, padding: nothing
    const parts = [codes.colour[colour]!, codes.cell[labels.cell[t]!]!];
    if (labels.shape[t]! > 0) parts.push(codes.shape[labels.shape[t]!]!, codes.count[Math.min(6, countIn.get(labels.cell[t]!) ?? 0)]!);
    if (labels.word[t]! > 0) parts.push(codes.word[labels.word[t]!]!);
    for (const c of parts) for (let d = 0; d < Dv; d++) out[t * Dv + d]! += c[d]!;
  }
  return out;
}

// The position codes: their own generator, so the truth codes above stay those of rounds 20–22.
const prng = new Rng(78);
const pscale = cli.number('position-code-scale');
const pcode = () => Float32Array.from({ length: Dv }, () => pscale * prng.normal());
const placeCodes = { row: Array.from({ length: positionBins }, pcode), col: Array.from({ length: positionBins }, pcode) };
/** Adds each patch's row and column code (`patchPlaces`) to its features, in place. */
function addPlaceCodes(s: SceneExample, f: Float32Array): Float32Array {
  if (positionBins === 0) return f;
  const { row, col } = patchPlaces(s.image, v, positionBins);
  for (let t = 0; t < row.length; t++) {
    if (row[t]! < 0) continue;
    const [a, b] = [placeCodes.row[row[t]!]!, placeCodes.col[col[t]!]!];
    for (let d = 0; d < Dv; d++) f[t * Dv + d]! += a[d]! + b[d]!;
  }
  return f;
}
/** Per token, the first features then the second ([T·D] and [T·D] → [T·2D]). */
function interleave(a: Float32Array, b: Float32Array, D: number): Float32Array {
  const out = new Float32Array(2 * a.length);
  for (let t = 0; t < a.length / D; t++) { out.set(a.subarray(t * D, (t + 1) * D), 2 * t * D); out.set(b.subarray(t * D, (t + 1) * D), (2 * t + 1) * D); }
  return out;
}
const imageFeatures = encoder ? await encoderFeatures(preset, encoder.encoder, scenes.map((s) => (silhouetteOnly ? inkSilhouette(s.image, preset) : s.image))) : undefined;
const viewFeatures = encoder && inkView ? await encoderFeatures(preset, encoder.encoder, scenes.map((s) => inkSilhouette(s.image, preset))) : undefined;
const base = imageFeatures ? (viewFeatures ? imageFeatures.map((f, i) => interleave(f, viewFeatures[i]!, visionOutputDim(preset))) : imageFeatures) : scenes.map((s) => oracleFeatures(s, v));
const coded = scenes.map((s, i) => ({ ...s, image: { ...s.image, features: addPlaceCodes(s, base[i]!) } }));
// The recipe's split (runMiniVisionRecipe): the last 200 train-split scenes never train; the eval reads the held-out scenes.
const SEEN_IMAGES = 200;
const train = coded.filter((s) => s.split === 'train').slice(0, -SEEN_IMAGES);
const heldout = coded.filter((s) => s.split === 'heldout');
const inked = coded.map((s) => { let n = 0; for (let t = 0; t < v.maxTiles * P; t++) if (s.image.features[t * Dv] !== 0) n++; return n; });
const what = encoder ? `the frozen encoder's features (${cli.flag('encoder') ?? MINI_ENCODER_DIR})${inkView ? ' on the image and on its silhouette' : silhouetteOnly ? ' on the silhouette alone' : ''}` : `oracle codes (scale ${scale})`;
console.log(`core ${core.dir}; cross-attention ${crossScheduleWords(m)}; ${dataDir}: ${train.length} train + ${heldout.length} held-out scenes; ${what}${positionBins ? ` + ${positionBins}×${positionBins} place codes (scale ${pscale})` : ''} on ${(inked.reduce((a, b) => a + b, 0) / inked.length).toFixed(1)} patches per scene (of ${v.maxTiles * P})`);

const keyWordTypes = cli.flag('key-word-types')!.split(',').map((t) => t.trim()).filter(Boolean);
const options = {
  qaSteps: cli.number('qa-steps'), keyWordShare: cli.number('key-word-share'), keyWordDraw: cli.flag('key-word-draw') as KeyWordDraw, ...(keyWordWeights !== undefined ? { keyWordWeights } : {}), ...(cli.has('key-word-count-balance') ? { keyWordCountBalance: true } : {}), ...(answerForm.length ? { answerForm } : {}), ...(keyWordTypes.length ? { keyWordTypes: [keyWordTypes] } : {}),
  gateInit: cli.number('gate-init'), qkGain: cli.number('qk-gain'), lr: cli.number('lr'), batch: cli.number('batch'), seed: cli.number('seed'), crossBefore,
  ...(placeEmbeddings ? { placeEmbeddings, placeInit } : {}),
};
const t0 = performance.now();
const r = await trainMiniVision({
  core, tokenizer, vision: v, scenes: train, captionSteps: 0, freezeEncoder: true, trainProjector: true, ...options,
  log: (line) => { if (!/batch \d*[1-9]\d\//u.test(line)) console.log(line); }, // every 100th batch
});
const trainSeconds = (performance.now() - t0) / 1000;
const t1 = performance.now();
// The items of herd vision eval, taken round-robin by type so that the report's first examples show every type (grading is per item).
const byType = VQA_TYPES.map((t) => vqaItems(heldout, cli.number('per-type'), { countBalance: cli.has('count-balance') }).filter((x) => x.type === t));
const items = Array.from({ length: Math.max(...byType.map((x) => x.length)) }, (_, i) => byType.flatMap((x) => (i < x.length ? [x[i]!] : []))).flat();
const answered: string[] = [];
const report = await evaluateVqa({
  config: m, core, vision: r.weights, tokenizer, items,
  onItem: (item, answers, hits) => answered.push(vqaAnswerLine(item, answers, hits)),
});
if (cli.flag('answers') !== undefined) writeFileAtomicSync(resolve(cli.flag('answers')!), answered.map((l) => `${l}\n`).join(''));
const evalSeconds = (performance.now() - t1) / 1000;
console.log(`\nheld-out scenes, ${what}${positionBins ? ` + ${positionBins}×${positionBins} place codes` : ''} (${JSON.stringify(options)}):\n${vqaTable(report)}\nby object groups in the scene:\n${vqaGroupTable(report)}\ncount by the reference number:\n${vqaCountTable(report)}`);
const l = r.losses.qa;
console.log(`QA loss ${l[0]!.toFixed(3)} → ${(l.slice(-10).reduce((a, b) => a + b, 0) / Math.min(10, l.length)).toFixed(3)} (mean of the last 10); train ${trainSeconds.toFixed(0)} s, eval ${evalSeconds.toFixed(0)} s`);
const file = cli.flag('out') !== undefined ? resolve(cli.flag('out')!) : join(dirname(fileURLToPath(import.meta.url)), '..', 'results', 'vision-oracle.json');
mkdirSync(dirname(file), { recursive: true });
writeFileAtomicSync(file, `${JSON.stringify({ when: new Date().toISOString(), core: core.dir, data: dataDir, scale, features: featureKind, ...(encoder ? { encoder: cli.flag('encoder') ?? MINI_ENCODER_DIR } : {}), inkView, silhouetteOnly, positionCode: positionBins, positionCodeScale: pscale, options, scenes: { train: train.length, heldout: heldout.length }, qaLoss: { first: l[0], last10: l.slice(-10) }, trainSeconds, evalSeconds, report }, null, 2)}\n`);
console.log(`wrote ${file}`);
