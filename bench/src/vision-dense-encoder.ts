/**
 * Trains a mini image encoder with the dense stage (`trainDenseEncoder`: per-patch cell / colour / shape /
 * count / word heads, plus with --object-weight the object heads on each object's mean ink feature), from
 * fresh or continued from a saved encoder, and measures whether it sees shape — the fast signal before any
 * adapter is trained on it:
 *   - its own (discarded) per-patch heads on the object tokens of 200 TRAIN scenes and of the held-out scenes
 *     (`denseHeadAccuracy`);
 *   - the encoder card's linear probes (`probeEncoder`: colour / shape of the object in cell X, "is there a
 *     star"), fitted on 1,200 train-split scenes, scored on the held-out scenes (unseen colour × shape pairs);
 *     the colour probe also by held-out pair, and a shape probe fitted on the colour-permuted train scenes.
 * `--colour-augment hue` turns the hue of the augmented half of each batch (`rotateHue`) instead of permuting its channels; `ink` paints each object's ink one uniform random colour (`recolourInk`);
 * `--shape-labels recoloured` teaches shape on that half only. `--word-paint S` erases the written word of a share S of the
 * picked images and paints a random word of the vocabulary into a random corner, drawn by the world's renderer (`paintWords`).
 * `--reshape S` redraws the objects of a share S of the picked images as random polygons in their own colours, without shape
 * labels or colour augment (`reshapeObjects`): colour taught where no shape can stand in for it.
 * The training scenes are the vision recipe's: the clean train split less its last 200 scenes (kept out for
 * the seen-combinations eval); held-out scenes never train. `--init-resize` starts a preset with finer patches from an
 * --init encoder with coarser ones (`resizeEncoderPatches`, e.g. mini-patch4 from the patch-8 mini encoder); `--steps 0`
 * trains nothing and measures (and writes) the --init encoder as it starts, probes only. Writes the encoder (`saveMiniEncoder`, the layout
 * `herd vision train --encoder-from` reads) with its eval.json and a card.
 *
 *   node bench/dist/vision-dense-encoder.js --data DIR --out DIR [--device cpu|webgpu|cuda|auto] [--init ENCODER_DIR [--init-resize]] [--steps 600] [--object-weight 6] [--object-colour-weight 2] [--object-word-weight 2] [--colour-augment permute|hue|ink] [--shape-labels all|recoloured] [--word-paint 0.5] [--reshape 0.25]
 *
 * Prints the numbers. Asserts nothing.
 */
import { HerdError } from '@herd/core';
import { WORD_RGB, renderWordCoverage, type Corner } from '@herd/datasets';
import { DEFAULT_DEVICE, DEVICE_REQUESTS, type SessionOptions, deviceDescription, isDeviceRequest, resolveDevice, setDefaultThreads } from '@herd/runtime';
import { COLOUR_AUGMENTS, type ColourAugment, SHAPE_LABELS, type ShapeLabels, denseHeadAccuracy, probeEncoder, saveMiniEncoder, trainDenseEncoder } from '@herd/vision';
import { benchArgs } from './bench-args.js';
import { loadVisionBenchScenes } from './vision-scenes.js';

const cli = benchArgs({
  about: 'Train a mini image encoder with the dense stage (from fresh or a saved encoder) and measure whether it sees shape: its heads on train / held-out object tokens and the linear probes on held-out scenes.',
  writes: 'the encoder folder given by --out (model.safetensors, config.json, eval.json, MODEL_CARD.md)',
  flags: {
    data: { value: 'DIR', required: true, help: 'an images dataset of the synthetic world (e.g. out/vision/images, made by herd vision train)' },
    out: { value: 'DIR', required: true, help: 'where the trained encoder is written' },
    preset: { value: 'NAME', default: 'mini', help: 'the vision preset of the encoder (an --init encoder must have it, or with --init-resize coarser patches)' },
    init: { value: 'DIR', help: 'continue from this saved encoder (e.g. packages/vision/weights/mini-encoder); default: fresh from --seed' },
    'init-resize': { help: 'the --init encoder may have coarser patches than --preset (an integer multiple, all else equal): resize it (patch embedding summed over blocks, position tables interpolated)' },
    steps: { value: 'N', default: '600', help: 'dense steps; 0: train nothing, probe (and write) the --init encoder as it starts' },
    lr: { value: 'N', default: '0.003', help: 'peak learning rate (warm-up 5 %, cosine to 10 %)' },
    batch: { value: 'N', default: '32', help: 'scenes per step' },
    'object-weight': { value: 'N', default: '0', help: 'weight of the object heads (shape / count from each object\'s mean ink feature); 0 = off' },
    'object-colour-weight': { value: 'N', default: '0', help: 'weight of the object colour head (colour from each object\'s mean ink feature, unpermuted images only); 0 = off' },
    'object-word-weight': { value: 'N', default: '0', help: 'weight of the object word head (the written word from the mean feature of its ink patches); 0 = off' },
    'colour-augment': { value: 'MODE', default: 'permute', help: 'how half of each batch is recoloured: permute (one of the channel permutations) hue (the hue turned by a uniform angle, mirrored half the time) or ink (each object\'s ink one uniform random RGB colour)' },
    'shape-labels': { value: 'WHICH', default: 'all', help: 'which images teach shape: all, or recoloured (only the recoloured half, so no shape is taught in its original colour)' },
    'word-paint': { value: 'S', default: '0', help: 'share (0-1) of the picked images whose written word is erased and a random word of the vocabulary painted into a random corner by the world\'s renderer; 0 = off' },
    reshape: { value: 'S', default: '0', help: 'share (0-1) of the picked images whose objects are redrawn as random polygons in their own colours, taught without shape labels or colour augment; 0 = off' },
    seed: { value: 'N', default: '1', help: 'initialisation and batch seed' },
    threads: { value: 'T', default: '1', help: 'ONNX Runtime threads' },
    device: { value: DEVICE_REQUESTS.join('|'), default: DEFAULT_DEVICE, help: 'where the dense steps, the heads\' check and the probes\' features run' },
  },
});
setDefaultThreads(cli.number('threads'));
const deviceFlag = cli.flag('device');
if (!isDeviceRequest(deviceFlag)) throw new HerdError('invalid_argument', `--device must be one of ${DEVICE_REQUESTS.join(', ')}, got '${deviceFlag}'`);
const session: SessionOptions = { device: resolveDevice(deviceFlag).device };
const int = (name: 'steps' | 'batch' | 'seed', min: number): number => {
  const n = cli.number(name);
  if (!Number.isInteger(n) || n < min) throw new HerdError('invalid_argument', `--${name} must be an integer ≥ ${min}, got ${cli.flag(name)}`);
  return n;
};
const [steps, batch, seed] = [int('steps', 0), int('batch', 1), int('seed', 0)];
const [lr, objectWeight, objectColourWeight, objectWordWeight] = [cli.number('lr'), cli.number('object-weight'), cli.number('object-colour-weight'), cli.number('object-word-weight')];
if (!(lr > 0)) throw new HerdError('invalid_argument', `--lr must be > 0, got ${cli.flag('lr')}`);
if (!(objectWeight >= 0)) throw new HerdError('invalid_argument', `--object-weight must be ≥ 0, got ${cli.flag('object-weight')}`);
if (!(objectColourWeight >= 0)) throw new HerdError('invalid_argument', `--object-colour-weight must be ≥ 0, got ${cli.flag('object-colour-weight')}`);
if (!(objectWordWeight >= 0)) throw new HerdError('invalid_argument', `--object-word-weight must be ≥ 0, got ${cli.flag('object-word-weight')}`);
const wordPaint = cli.number('word-paint');
if (!(wordPaint >= 0 && wordPaint <= 1)) throw new HerdError('invalid_argument', `--word-paint must be a share in 0-1, got ${cli.flag('word-paint')}`);
const reshape = cli.number('reshape');
if (!(reshape >= 0 && reshape <= 1)) throw new HerdError('invalid_argument', `--reshape must be a share in 0-1, got ${cli.flag('reshape')}`);
const colourAugment = cli.flag('colour-augment') as ColourAugment;
if (!COLOUR_AUGMENTS.includes(colourAugment)) throw new HerdError('invalid_argument', `--colour-augment must be ${COLOUR_AUGMENTS.join(' or ')}, got '${colourAugment}'`);
const shapeLabels = cli.flag('shape-labels') as ShapeLabels;
if (!SHAPE_LABELS.includes(shapeLabels)) throw new HerdError('invalid_argument', `--shape-labels must be ${SHAPE_LABELS.join(' or ')}, got '${shapeLabels}'`);
const preset = cli.flag('preset');
const initDir = cli.flag('init');
if (steps === 0 && initDir === undefined) cli.refuse('--steps 0 measures the --init encoder as it starts: give --init');
const { vision: v, encoder: init, resizedFrom, trainSplit, heldout: held } = await loadVisionBenchScenes({ data: cli.flag('data'), preset, ...(initDir !== undefined ? { encoderDir: initDir } : {}), encoderFlag: 'init', resize: { on: cli.has('init-resize'), flag: 'init-resize' }, cleanOnly: true });
const from = initDir === undefined ? 'fresh' : `${initDir}${resizedFrom !== undefined ? ` (resized from ${resizedFrom}-px to ${v.patchSize}-px patches)` : ''}`;
// The vision recipe's split: the last 200 train-split scenes never train (its seen-combinations eval).
const train = trainSplit.slice(0, -200);
if (train.length === 0 || held.length === 0) throw new HerdError('invalid_argument', `--data ${cli.flag('data')}: needs train-split and held-out scenes with their scene spec (got ${trainSplit.length} / ${held.length})`);
console.log(`${preset}: ${train.length} training scenes, ${held.length} held-out; ${steps} steps, batch ${batch}, lr ${lr}, object weight ${objectWeight}, object colour weight ${objectColourWeight}, object word weight ${objectWordWeight}, colour augment ${colourAugment}, shape labels ${shapeLabels}, word paint ${wordPaint}, reshape ${reshape}, from ${from}`);

const t0 = performance.now();
// --steps 0: nothing is trained; the encoder is the --init one as it starts (the refusal above makes init present).
const dense = steps === 0 ? undefined : await trainDenseEncoder(v, train, {
  steps, batch, lr, seed, objectWeight, objectColourWeight, objectWordWeight, colourAugment, shapeLabels, session, ...(init ? { init: init.encoder } : {}), ...(reshape > 0 ? { reshape } : {}),
  ...(wordPaint > 0 ? { wordPaint: { share: wordPaint, coverage: (text: string, corner: string, w: number, h: number) => renderWordCoverage(text, corner as Corner, w, h), rgb: WORD_RGB } } : {}),
  onStep: (s, loss) => { if (s % 50 === 0 || s === steps - 1) console.log(`dense: step ${s}/${steps} loss ${loss.toFixed(3)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`); },
});
const encoder = dense?.encoder ?? init!.encoder;
const vocab = dense?.vocab ?? init!.vocab;
const seconds = (performance.now() - t0) / 1000;
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const lossText = dense ? `Loss ${dense.losses[0]!.toFixed(3)} → ${mean(dense.losses.slice(-10)).toFixed(3)} (mean of the last 10).` : 'No dense steps: the --init encoder as it starts.';
if (dense) console.log(`trained in ${seconds.toFixed(0)} s (${(seconds / steps).toFixed(2)} s/step); ${lossText}`);

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
// Its own heads only exist when it trained.
const heads = dense && {
  train: await denseHeadAccuracy(v, vocab, encoder, dense.heads, train.slice(0, 200), session),
  heldout: await denseHeadAccuracy(v, vocab, encoder, dense.heads, held, session),
};
for (const [split, r] of Object.entries(heads ?? {})) console.log(`heads on ${split} object tokens: colour ${pct(r.colour.objectAcc)}, shape ${pct(r.shape.objectAcc)} (n ${r.shape.objectN}), count ${pct(r.count.objectAcc)}, word ${pct(r.word.objectAcc)}; cell ${pct(r.cell.acc)}`);
const { probes, colourByPair, shapeByPair } = await probeEncoder(v, encoder, trainSplit.slice(0, 1200), held, session);
for (const [k, p] of Object.entries(probes)) console.log(`probe ${k}: ${pct(p.test)} held-out (train ${pct(p.train)}; chance ${pct(p.chance)}, n ${p.n})`);
const byPair = Object.entries(colourByPair).map(([pair, r]) => `${pair} ${pct(r.test)} (n ${r.n})`).join(', ');
console.log(`probe colour by held-out pair: ${byPair}`);
const shapeByPairText = Object.entries(shapeByPair).map(([pair, r]) => `${pair} ${pct(r.test)} (n ${r.n})`).join(', ');
console.log(`probe shape by held-out pair: ${shapeByPairText}`);

const command = `node bench/dist/vision-dense-encoder.js --data ${cli.flag('data')} --out ${cli.flag('out')} --preset ${preset}${initDir ? ` --init ${initDir}` : ''}${resizedFrom !== undefined ? ' --init-resize' : ''} --steps ${steps} --lr ${lr} --batch ${batch} --object-weight ${objectWeight}${objectColourWeight > 0 ? ` --object-colour-weight ${objectColourWeight}` : ''}${objectWordWeight > 0 ? ` --object-word-weight ${objectWordWeight}` : ''}${colourAugment !== 'permute' ? ` --colour-augment ${colourAugment}` : ''}${shapeLabels !== 'all' ? ` --shape-labels ${shapeLabels}` : ''}${wordPaint > 0 ? ` --word-paint ${wordPaint}` : ''}${reshape > 0 ? ` --reshape ${reshape}` : ''} --seed ${seed}`;
const card = `# Mini image encoder (dense stage, bench run)

Made by \`${command}\` (${seconds.toFixed(0)} s training on device ${deviceDescription(session.device ?? DEFAULT_DEVICE)}). Preset ${preset}; ${train.length} training scenes of ${cli.flag('data')}; from ${from}.
${lossText}

| probe (held-out, linear) | accuracy | train | chance | n |
|---|---|---|---|---|
${Object.entries(probes).map(([k, p]) => `| ${k} | ${pct(p.test)} | ${pct(p.train)} | ${pct(p.chance)} | ${p.n} |`).join('\n')}

Colour probe by held-out pair: ${byPair}.
Shape probe by held-out pair: ${shapeByPairText}.

${heads ? `Heads on object tokens (train 200 scenes / held-out): shape ${pct(heads.train.shape.objectAcc)} / ${pct(heads.heldout.shape.objectAcc)}, colour ${pct(heads.train.colour.objectAcc)} / ${pct(heads.heldout.colour.objectAcc)}, count ${pct(heads.train.count.objectAcc)} / ${pct(heads.heldout.count.objectAcc)}, word (per patch) ${pct(heads.train.word.objectAcc)} / ${pct(heads.heldout.word.objectAcc)}.` : 'No heads: nothing was trained.'}
`;
await saveMiniEncoder(cli.flag('out'), v, encoder, vocab, { eval: { command, seconds, ...(resizedFrom !== undefined ? { resizedFrom: { patchSize: resizedFrom } } : {}), ...(dense ? { losses: { first: dense.losses[0], last10: mean(dense.losses.slice(-10)) }, heads } : {}), probes, colourByPair, shapeByPair }, card });
console.log(`wrote ${cli.flag('out')}`);
