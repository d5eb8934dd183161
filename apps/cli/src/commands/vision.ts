/**
 * `herd vision train` / `herd vision eval`: the mini vision recipe (encoder + cross-attention adapter
 * against the frozen mini core) on the synthetic world's scene images, and its visual-QA eval on
 * held-out scenes (four rows: core alone, core + adapter, the adapter with zeroed pixels, core + the scene in words).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type FlagValues, HerdError, UsageError, flag, formatCommandLine, writeFileAtomic } from '@herd/core';
import { generateWorld } from '@herd/datasets';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { type MllamaConfig, ANSWER_FORM_TYPES, ANSWER_FORM_WORDS, KEY_WORD_DRAWS, KEY_WORD_WEIGHTS_FLAG, MINI_PLACE_INIT, MINI_VISION_DIR, PLACE_EMBEDDINGS_FLAG, PLACE_INIT_FLAG, checkPlaceInitGiven, evaluateCoreRows, evaluateVqa, loadMiniVision, loadVisionPreset, parseAnswerForm, parseCrossBefore, parseLookTypes, LOOK_TYPES, readSceneExamples, runMiniVisionRecipe, vqaAnswerLine, vqaCoreRowsTable, vqaCountTable, vqaGroupTable, vqaItems, vqaTable } from '@herd/vision';
import { CORE_FLAG, DEVICE_FLAG, EVAL_CORE_FLAG, type Io, defineCommand } from '../command.js';
import { readJsonObject } from '../model-folder.js';

/** The scene images `--data` defaults to (generated here when missing): clean, so no curation is needed. */
export const DEFAULT_VISION_DATA = join('out', 'vision', 'images');
const WORLD = { seed: 11, images: 3000 } as const;

async function sceneData(given: string | undefined, io: Io): Promise<string> {
  const data = given ?? DEFAULT_VISION_DATA;
  if (existsSync(join(data, 'manifest.json'))) return data;
  if (given !== undefined) {
    throw new HerdError('invalid_argument', `--data ${data}: no images dataset there (expected ${join(data, 'manifest.json')}); make one with \`node datasets/dist/cli.js generate --size tiny --only images --count images=${WORLD.images} --noise-rate 0 --out DIR\` and pass --data DIR/images`);
  }
  io.stderr.write(`no scene images at ${data}: generating ${WORLD.images} clean scenes (seed ${WORLD.seed})\n`);
  await generateWorld({ out: join(data, '..'), size: 'tiny', only: ['images'], counts: { images: WORLD.images }, noiseRate: 0, seed: WORLD.seed });
  return data;
}

const DATA_FLAG = { data: flag.string({ placeholder: 'DIR', description: `an images dataset of the synthetic world (default ${DEFAULT_VISION_DATA}, generated when missing)` }) } as const;

/** Flags a Re-train line leaves out (where this run wrote, diagnostics, where it ran) and those it spells out even at their defaults (the run's stages and schedule). */
const UNREPEATED: ReadonlySet<string> = new Set(['out', 'step-log', 'device']);
const SPELLED_OUT: ReadonlySet<string> = new Set(['clip-steps', 'dense-steps', 'dense-lr', 'qk-gain', 'key-word-share', 'caption-steps', 'zoom-steps', 'single-steps', 'qa-steps', 'gate-init', 'batch', 'lr', 'seed']);

export const VISION_TRAIN_FLAGS = {
  ...DATA_FLAG,
  ...CORE_FLAG,
  out: flag.string({ placeholder: 'DIR', output: 'folder', description: 'where the checkpoint is written (default: the built-in one, packages/vision/weights/mini)' }),
  'vision-preset': flag.string({ placeholder: 'NAME', description: 'the image encoder\'s size, a vision preset (default mini; mini-patch4: 4-px patches); an --encoder-from encoder must have it' }),
  'clip-steps': flag.integer({ min: 0, default: 0, description: 'stage 0: contrastive (CLIP) pre-training steps of the encoder on the scene captions' }),
  'encoder-from': flag.string({ placeholder: 'DIR', description: 'start the encoder from a pre-trained encoder (e.g. packages/vision/weights/mini-encoder) or the image tower of a mini CLIP checkpoint' }),
  'clip-lr': flag.number({ above: 0, default: 2e-3, description: 'stage 0: peak learning rate of the CLIP pre-training' }),
  'dense-steps': flag.integer({ min: 0, default: 0, description: 'stage 0, the mini herd\'s stand-in for CLIP: dense pre-training steps of the encoder on the scenes\' ground truth (per-patch cell/colour/shape/count/word)' }),
  'dense-lr': flag.number({ above: 0, default: 3e-3, description: 'stage 0: peak learning rate of the dense pre-training' }),
  'dense-object-weight': flag.number({ min: 0, default: 0, description: 'stage 0 (dense): weight of the object heads that read each object\'s shape and count from the mean of its ink patches' }),
  'freeze-encoder': flag.boolean({ description: 'keep the encoder as stage 0 left it: only the adapter (and with --train-projector the projector) trains in the later stages' }),
  'train-projector': flag.boolean({ description: 'with --freeze-encoder: the projector trains with the adapter' }),
  'train-projector-from-phase': flag.integer({ min: 1, default: 1, description: 'with --train-projector and a --key-word-types curriculum: the projector keeps its fresh init until QA phase K (1-based) and trains from it on, e.g. 2 with colour/colour,shape,count,position,word reads colour through an untrained map first' }),
  'train-encoder-global': flag.boolean({ description: 'with --freeze-encoder: the encoder\'s gated global layer(s) train with the adapter (the layers before them stay frozen)' }),
  'key-word-share': flag.number({ min: 0, max: 1, default: 0, description: 'share of QA sequences whose loss is on the key words only (colour, shape, number, size, yes/no, place)' }),
  'key-word-types': flag.string({ placeholder: 'TYPES', description: 'comma-separated QA types the key-word sequences ask about (default all), e.g. colour,position,count; "/" separates curriculum phases of the QA stage, e.g. colour/colour,shape/colour,shape,count' }),
  'key-word-draw': flag.choice(KEY_WORD_DRAWS, { description: 'how a key-word sequence picks its question: question (default: a scene, then one of its questions of the types, so the written word is read in ~3% of them) or type (the type first, uniformly, then a question of that type that states a visible fact)' }),
  'silhouette-stream': flag.boolean({ description: 'a second cross-attention layer at each scheduled core layer reads the image\'s silhouette (ink black, all else white) through the same encoder and its own projector: a path that cannot see colour, so colour cannot stand in for shape there. Stored in the checkpoint; herd vision eval, herd generate, herd export and the chat read it (the video line does not)' }),
  'key-word-count-balance': flag.boolean({ description: 'a key-word count question asks a number drawn uniformly (0, 1, 2, 3), not as the scenes carry them (~84 % zero or one); needs --key-word-share above 0' }),
  'image-stream-dropout': flag.number({ min: 0, max: 1, default: 0, description: 'with --silhouette-stream: share of the key-word sequences not about colour trained with the image stream shut (its layers add nothing and learn nothing there), so the silhouette stream answers them alone' }),
  'step-log': flag.string({ placeholder: 'DIR', description: 'write per-step JSON lines of each stage there (loss, learning rate, gradient norm, and metrics such as lmLoss and lookMass)' }),
  'look-weight': flag.number({ min: 0, default: 0, description: 'weight of the look loss: in every key-word sequence whose question names an object of the scene (by place or by shape), each cross-attention layer\'s attention at the reply\'s target rows is trained onto that object\'s cell of the 3×3 grid (no parameters of its own; needs --key-word-share above 0)' }),
  'look-types': flag.string({ placeholder: 'TYPES', description: `with --look-weight: comma-separated question types whose key-word sequences the look loss marks, of ${LOOK_TYPES.join(', ')} (default every one; a word question marks the written word's corner cell); the others train on their answer alone` }),
  'key-word-recolour': flag.number({ min: 0, max: 1, default: 0, description: 'share of the key-word sequences not about colour shown with each object\'s ink repainted one random RGB colour, the reply\'s colour words then no targets: shape, number and place read apart from the colour (the world never shows a held-out pair, so its colour says "not that shape"); needs --key-word-share above 0' }),
  'key-word-reshape': flag.number({ min: 0, max: 1, default: 0, description: 'share of the colour key-word sequences about scenes of one object group shown with each object redrawn as a random polygon in its own colour, the question and reply saying "shape(s)" for its shape: a colour read where no shape can stand in for it; needs --key-word-share above 0' }),
  'key-word-weights': { ...KEY_WORD_WEIGHTS_FLAG, description: 'with --key-word-draw type: each type\'s relative weight in the draw (a type not named weighs 1; 0 leaves it out), e.g. colour=2,shape=2,count=3,position=2,word=1: count keeps its share of the question draw (30%) and the word is read in 10% of the key-word sequences' },
  'answer-form': flag.string({ placeholder: 'TYPES', description: `comma-separated question types whose key-word loss also falls on their answer-form words, the words that pick the reply's form before the key word: ${ANSWER_FORM_TYPES.map((t) => `${t} (${ANSWER_FORM_WORDS[t].join(' / ')})`).join(', ')}; e.g. position,count` }),
  'position-form': flag.boolean({ description: 'the same as --answer-form position (a position question\'s key-word loss also on the preposition before the place, which picks the axis: "on the" goes on only to left or right)' }),
  'qk-gain': flag.number({ above: 0, max: 8, default: 1, description: 'starting gain of the cross-attention q/k RMSNorms (logits start gain² wider)' }),
  'cross-before': flag.string({ placeholder: 'LAYERS', description: 'comma-separated core layers (0-based) the gated cross-attention layers run before, one each (default 1,3; e.g. 0,1,2,3: before every layer of the 4-layer mini core); stored in the checkpoint' }),
  'place-embeddings': { ...PLACE_EMBEDDINGS_FLAG, description: 'learned row / column place embeddings on a G×G grid over the image, added to the projected image tokens and trained with the adapter (0: none); stored in the checkpoint' },
  'place-init': { ...PLACE_INIT_FLAG, description: `with --place-embeddings: standard deviation of the fresh place tables' values (default ${MINI_PLACE_INIT}; 0: zero init, the run starts at the model without them)` },
  'caption-steps': flag.integer({ min: 0, default: 20, description: 'stage 1: caption pre-training steps' }),
  'zoom-steps': flag.integer({ min: 0, default: 0, description: 'stage 1b: QA steps on single-object scenes zoomed to the object (curriculum)' }),
  'single-steps': flag.integer({ min: 0, default: 0, description: 'stage 2a: QA steps on single-object scenes first (curriculum)' }),
  'qa-steps': flag.integer({ min: 0, default: 330, description: 'stage 2b: QA fine-tuning steps on all scenes (chat format)' }),
  'gate-init': flag.number({ min: 0, max: 3, default: 0.5, description: 'starting value of the cross-attention gates (the paper: 0)' }),
  'select-every': flag.integer({ min: 0, default: 0, description: 'checkpoint selection: every N steps of the last QA stage (and at its end) score the adapter on the validation scenes (train-split scenes kept out of training, never the held-out ones) and keep the step with the best mean accuracy over the five question types (0: keep the last step)' }),
  'select-per-type': flag.integer({ min: 1, placeholder: 'N', description: 'with --select-every: validation questions per question type (greedy; default 20)' }),
  batch: flag.integer({ min: 1, default: 16, description: 'sequences (images) per step' }),
  lr: flag.number({ above: 0, default: 4e-3, description: 'peak learning rate (re-warmed per stage)' }),
  seed: flag.integer({ min: 0, max: 0xffff_ffff, default: 1, description: 'initialisation and sampling seed' }),
  'eval-per-type': flag.integer({ min: 1, default: 20, description: 'held-out questions per question type' }),
  'train-on-labelled-noise': flag.boolean({ description: 'train also on the samples the generator labelled as noise (an uncurated baseline against a curated set; default: skipped). The eval scenes stay label-clean' }),
  ...DEVICE_FLAG,
} as const;

/** The card's Re-train line: the flags given, and the run's stages and schedule spelled out even at their defaults. */
export function visionRetrainCommand(values: FlagValues<typeof VISION_TRAIN_FLAGS>, given: ReadonlySet<string>): string {
  return formatCommandLine('herd vision train', VISION_TRAIN_FLAGS, values, (name) => !UNREPEATED.has(name) && (given.has(name) || SPELLED_OUT.has(name)));
}

export const visionTrainCommand = defineCommand({
  words: ['vision', 'train'],
  usesDevice: true,
  summary: 'train the mini vision encoder + adapter against the frozen mini core, evaluate, save (defaults: a short run; the committed run is `npx turbo run train --filter=@herd/vision`, the flags of packages/vision/package.json: 15 min on 2 cores incl. making the scenes)',
  flags: VISION_TRAIN_FLAGS,
  async run({ values, given, io, device }) {
    if (values['train-encoder-global'] && !values['freeze-encoder']) throw new UsageError('--train-encoder-global trains the global layers of a frozen encoder: give --freeze-encoder too (without it the whole encoder trains)');
    // The QA curriculum's phases: "/"-separated lists of key-word types (empty lists dropped).
    const keyWordPhases = values['key-word-types']?.split('/').map((phase) => phase.split(',').map((t) => t.trim()).filter(Boolean)).filter((phase) => phase.length > 0);
    const phases = keyWordPhases?.length ?? 1;
    if (values['train-projector-from-phase'] > 1 && !(values['train-projector'] && values['freeze-encoder'])) throw new UsageError('--train-projector-from-phase delays the projector of a frozen encoder: give --freeze-encoder and --train-projector too');
    if (values['train-projector-from-phase'] > phases) throw new UsageError(`--train-projector-from-phase ${values['train-projector-from-phase']}: the QA stage has ${phases} phase${phases === 1 ? '' : 's'} (phases are the "/"-separated lists of --key-word-types)`);
    if (values['select-per-type'] !== undefined && values['select-every'] === 0) throw new UsageError('--select-per-type sets the size of the checkpoint selection\'s validation: give --select-every N too');
    checkPlaceInitGiven(values['place-embeddings'], values['place-init'] !== undefined);
    const keyWordDraw = values['key-word-draw'];
    if (values['key-word-recolour'] > 0 && values['key-word-share'] === 0) throw new UsageError('--key-word-recolour recolours the key-word sequences: give --key-word-share above 0 too');
    if (values['key-word-reshape'] > 0 && values['key-word-share'] === 0) throw new UsageError('--key-word-reshape reshapes the key-word sequences: give --key-word-share above 0 too');
    if (values['image-stream-dropout'] > 0 && !values['silhouette-stream']) throw new UsageError('--image-stream-dropout shuts the image stream so the silhouette stream answers alone: give --silhouette-stream too');
    if (values['image-stream-dropout'] > 0 && values['key-word-share'] === 0) throw new UsageError('--image-stream-dropout applies to the key-word sequences: give --key-word-share above 0 too');
    // A --step-log that is a file would fail only at the first step, after the scenes are read.
    if (values['step-log'] !== undefined && existsSync(values['step-log']) && !statSync(values['step-log']).isDirectory()) throw new UsageError(`--step-log ${values['step-log']}: that is a file; give a folder (it is created if missing)`);
    if (values['look-weight'] > 0 && values['key-word-share'] === 0) throw new UsageError('--look-weight trains where the key-word sequences\' replies look: give --key-word-share above 0 too');
    if (values['look-types'] !== undefined && !(values['look-weight'] > 0)) throw new UsageError('--look-types says which sequences the look loss marks: give --look-weight W too');
    const lookTypes = values['look-types'] === undefined ? undefined : parseLookTypes(values['look-types']);
    if (values['key-word-count-balance'] && values['key-word-share'] === 0) throw new UsageError('--key-word-count-balance balances the key-word sequences\' count questions: give --key-word-share above 0 too');
    if (values['key-word-weights'] !== undefined && keyWordDraw !== 'type') throw new UsageError('--key-word-weights weighs the types of the type draw: give --key-word-draw type too');
    // --position-form is --answer-form position (round 21's name); the two together are their union.
    const answerForm = ANSWER_FORM_TYPES.filter((t) => (values['answer-form'] !== undefined && parseAnswerForm(values['answer-form']).includes(t)) || (t === 'position' && values['position-form'] === true));
    const core = loadLanguageCore(values.core); // before the scenes are generated: a wrong --core fails at once
    const crossBefore = values['cross-before'] === undefined ? undefined : parseCrossBefore(values['cross-before'], core.config.nLayers);
    if (values['vision-preset'] !== undefined) loadVisionPreset(values['vision-preset']); // so does a wrong --vision-preset
    // A wrong --encoder-from fails before any scene is generated.
    if (values['encoder-from'] !== undefined) readJsonObject(join(values['encoder-from'], 'config.json'), 'the --encoder-from encoder\'s config');
    const data = await sceneData(values.data, io);
    const out = values.out ?? MINI_VISION_DIR;
    const r = await runMiniVisionRecipe({
      core, tokenizer: await loadLlama3Tokenizer(), dataDir: data, outDir: out, command: visionRetrainCommand(values, given),
      ...(values['vision-preset'] !== undefined ? { visionPreset: values['vision-preset'] } : {}), clipSteps: values['clip-steps'], clipLr: values['clip-lr'], denseSteps: values['dense-steps'], denseLr: values['dense-lr'], denseObjectWeight: values['dense-object-weight'], freezeEncoder: values['freeze-encoder'] ?? false, trainProjector: values['train-projector'] ?? false, trainProjectorFromPhase: values['train-projector-from-phase'], trainEncoderGlobal: values['train-encoder-global'] ?? false, qkGain: values['qk-gain'], ...(crossBefore !== undefined ? { crossBefore } : {}), ...(values['place-embeddings'] > 0 ? { placeEmbeddings: values['place-embeddings'] } : {}), ...(values['place-init'] !== undefined ? { placeInit: values['place-init'] } : {}), keyWordShare: values['key-word-share'], ...(keyWordPhases !== undefined ? { keyWordTypes: keyWordPhases } : {}), ...(keyWordDraw !== undefined ? { keyWordDraw } : {}), ...(values['key-word-weights'] !== undefined ? { keyWordWeights: values['key-word-weights'] } : {}), ...(values['key-word-count-balance'] ? { keyWordCountBalance: true } : {}), ...(values['key-word-recolour'] > 0 ? { keyWordRecolour: values['key-word-recolour'] } : {}), ...(values['key-word-reshape'] > 0 ? { keyWordReshape: values['key-word-reshape'] } : {}), ...(values['silhouette-stream'] ? { silhouetteStream: true } : {}), ...(values['image-stream-dropout'] > 0 ? { imageStreamDropout: values['image-stream-dropout'] } : {}), ...(values['look-weight'] > 0 ? { lookWeight: values['look-weight'] } : {}), ...(lookTypes !== undefined ? { lookTypes } : {}), ...(values['step-log'] !== undefined ? { stepLogDir: values['step-log'] } : {}), ...(answerForm.length ? { answerForm } : {}), ...(values['encoder-from'] !== undefined ? { encoderFrom: values['encoder-from'] } : {}), captionSteps: values['caption-steps'], zoomSteps: values['zoom-steps'], singleSteps: values['single-steps'], qaSteps: values['qa-steps'], gateInit: values['gate-init'], selectEvery: values['select-every'], ...(values['select-per-type'] !== undefined ? { selectPerType: values['select-per-type'] } : {}), batch: values.batch, lr: values.lr, seed: values.seed, evalPerType: values['eval-per-type'], trainOnLabelledNoise: values['train-on-labelled-noise'] ?? false,
      dataDescription: values.data === undefined ? `The synthetic world's scene images (@herd/datasets generateImages, ${WORLD.images} images, seed ${WORLD.seed}, no noise; shards at ${data}): 1–4 coloured shapes, sometimes a written word, PNG/JPEG at 96–256 px, with captions and QA pairs.` : `The images dataset at ${data} (given with --data): the synthetic world's scenes, with captions and QA pairs.`,
      device: device().device,
      log: (line) => io.stderr.write(`${line}\n`),
    });
    if (r.selection) io.stdout.write(`kept QA step ${r.selection.step} (best validation mean ${(100 * r.selection.curve.find((c) => c.step === r.selection!.step)!.mean).toFixed(1)}%)\n`);
    io.stdout.write(`${vqaTable(r.eval)}\ntrain ${r.train.seconds.toFixed(0)} s, eval ${r.evalSeconds.toFixed(0)} s → ${out}\n`);
  },
});

export const visionEvalCommand = defineCommand({
  words: ['vision', 'eval'],
  usesDevice: true,
  summary: 'visual QA on held-out scenes: core alone, core + vision adapter, its blind (zeroed-pixel) control, core + scene in words',
  flags: {
    ...DATA_FLAG,
    vision: flag.string({ placeholder: 'DIR', description: 'the vision checkpoint (default: the built-in mini one)' }),
    ...EVAL_CORE_FLAG,
    'per-type': flag.integer({ min: 1, default: 20, description: 'held-out questions per question type' }),
    'count-balance': flag.boolean({ description: 'count questions balanced by the reference number (0, 1, 2, 3: an equal share each; default: the first count question of each scene, mostly "one")' }),
    'core-only': flag.boolean({ description: 'only the two rows that need no vision checkpoint (the core alone, the core given the scene in words), on the same items: a candidate core\'s ceiling before any adapter is fitted to it (--vision is not read)' }),
    json: flag.boolean({ description: 'print the whole report as JSON' }),
    answers: flag.string({ placeholder: 'FILE', output: 'file', description: 'also write every held-out item\'s answers to FILE (JSON lines: scene, its object groups, type, question, reference, each row\'s answer and grade — the vision oracle bench\'s lines), e.g. to read the wrong ones' }),
    ...DEVICE_FLAG,
  },
  async run({ values, io, device }) {
    const items = async (config: Pick<MllamaConfig, 'vision'>) => vqaItems(await readSceneExamples(await sceneData(values.data, io), config, { split: 'heldout' }), values['per-type'], { countBalance: values['count-balance'] ?? false });
    if (values['core-only']) {
      if (values.vision !== undefined) throw new UsageError('--core-only reads no vision checkpoint; drop --vision or --core-only');
      if (values.answers !== undefined) throw new UsageError('--answers writes every row\'s answers; --core-only has two rows — drop one of them');
      const core = loadLanguageCore(values.core);
      const report = await evaluateCoreRows({ core, tokenizer: await loadLlama3Tokenizer(), items: await items({ vision: loadVisionPreset('mini') }), device: device().device });
      io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : vqaCoreRowsTable(report));
      return;
    }
    const v = loadMiniVision(values.vision ?? MINI_VISION_DIR, loadLanguageCore(values.core)); // a wrong checkpoint or core fails before any scene is generated
    const answers: string[] = [];
    const report = await evaluateVqa({ config: v.config, core: v.core, vision: v.weights, tokenizer: await loadLlama3Tokenizer(), items: await items(v.config), device: device().device, ...(values.answers !== undefined ? { onItem: (item, a, hits) => answers.push(vqaAnswerLine(item, a, hits)) } : {}) });
    if (values.answers !== undefined) await writeFileAtomic(values.answers, answers.map((l) => `${l}\n`).join(''));
    io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${vqaTable(report)}\nby object groups in the scene (adapter / blind control):\n${vqaGroupTable(report)}\ncount by the reference number:\n${vqaCountTable(report)}`);
  },
});
