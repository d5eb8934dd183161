/**
 * `herd video train` / `herd video eval`: the mini video recipe (aggregator + video cross-attention
 * trained on top of the frozen mini image model and core) on the synthetic world's clips of moving
 * shapes, and its held-out video QA (core alone, image model on the middle frame, + video adapter).
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type FlagValues, HerdError, UsageError, flag, formatCommandLine, readJsonFile, writeFileAtomic } from '@herd/core';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { hostTensor } from '@herd/runtime';
import { LOOK_ROWS, type LookRow, MINI_VIDEO_DIR, MINI_VIDEO_IMAGE_DIR, type ResamplerOverrides, type VideoLookLoss, checkFrameImage, miniVideoConfig, VIDEO_QA_TYPES, blindClip, frameTokens, evaluateVideoQa, frameFeaturesSha, loadMiniVideo, videoImageDir, runMiniVideoRecipe, videoFeatures, videoQaAnswerLine, videoQaItems, videoLayers, videoQaTable, videoTokenSpread, writeClipWorld } from '@herd/video';
import { loadMiniVision } from '@herd/vision';
import { CORE_FLAG, DEVICE_FLAG, EVAL_CORE_FLAG, type Io, defineCommand } from '../command.js';

/**
 * The clips `--data` defaults to, generated here when missing: the world the committed checkpoint was trained
 * on (`writeClipWorld({ count: 800, seed: 12 })`; which clips are static depends on the count, so a larger world's
 * first 800 are other clips — hence the count in the folder's name).
 */
const WORLD = { seed: 12, clips: 800 } as const;
export const DEFAULT_VIDEO_DATA = join('out', 'video', `clips${WORLD.clips}`);

async function clipData(given: string | undefined, io: Io): Promise<string> {
  const data = given ?? DEFAULT_VIDEO_DATA;
  if (existsSync(join(data, 'manifest.json'))) return data;
  if (given !== undefined) throw new HerdError('invalid_argument', `--data ${data}: no clips dataset there (expected ${join(data, 'manifest.json')}); leave --data out to generate the default one at ${DEFAULT_VIDEO_DATA}`);
  io.stderr.write(`no clips at ${data}: generating ${WORLD.clips} clips of moving shapes (seed ${WORLD.seed}, 25% static)\n`);
  await writeClipWorld({ out: data, count: WORLD.clips, seed: WORLD.seed, onClip: (i) => { if (i % 100 === 0) io.stderr.write(`  ${i} clips\n`); } });
  return data;
}

/** Samples in a dataset (its manifest's shard counts). */
function datasetCount(dir: string): number {
  const m = readJsonFile(join(dir, 'manifest.json'), { what: 'clips dataset manifest' }) as { shards?: { count?: number }[] };
  return (m.shards ?? []).reduce((a, s) => a + (s.count ?? 0), 0);
}

const COMMON = {
  data: flag.string({ placeholder: 'DIR', description: `a clips dataset of the synthetic world (default ${DEFAULT_VIDEO_DATA}, generated when missing)` }),
  vision: flag.string({ placeholder: 'DIR', description: 'the frozen image model the frames go through, one without place embeddings (train: default the video model\'s own, packages/video/weights/mini-image — not packages/vision/weights/mini, whose place embeddings the video line does not feed to frames; eval: only for a video checkpoint that records no image.dir, same default)' }),
  features: flag.string({ placeholder: 'DIR', description: 'an existing folder that holds the frozen frame-feature caches (features-<digest of the image encoder + projector>-<clips>, one per image checkpoint, read when there, made when not; default: the folder above --data): so clips in a read-only place need no copy' }),
  'look-vision': flag.string({ placeholder: 'DIR', description: 'a second image checkpoint whose frame features give the object-motion tokens their look (colour, shape): a learned map of them (zeros at start) is added to each motion token, the motion itself still from --vision\'s features (video config look; its cache keyed and kept as --vision\'s; train: needs --motion-tokens, not with --init; eval: the one the checkpoint was trained with)' }),
} as const;

/**
 * Frame features depend only on the image checkpoint's encoder and projector (`frameFeaturesSha`), not on its
 * cross-attention: one cache per encoder + projector and clip count, in `root` (--features, default beside the
 * clips), shared by image checkpoints re-fitted on them.
 */
const featuresDir = (root: string, visionDir: string, clips: number) => join(root, `features-${frameFeaturesSha(visionDir).slice(0, 12)}-${clips}`);

/** --features: an existing folder (checked before anything runs), else the folder above the clips. */
export function featuresRoot(given: string | undefined, data: string | undefined): string {
  if (given === undefined) return join(data ?? DEFAULT_VIDEO_DATA, '..');
  if (!existsSync(given) || !statSync(given).isDirectory()) throw new UsageError(`--features ${given}: not an existing folder (it holds the feature caches, features-<digest>-<clips>; create it or leave --features out to keep them beside the clips)`);
  return given;
}

/**
 * A feature cache's key is the image checkpoint's encoder + projector and the clip count, not the clips
 * folder: one read from elsewhere (--features) must have been made from these clips (its manifest's
 * `clips`, compared as real paths, so a link to the clips matches), else it would silently be another world's.
 */
export function checkFeatureCache(dir: string, data: string): void {
  if (!existsSync(join(dir, 'manifest.json'))) return;
  const made = (readJsonFile(join(dir, 'manifest.json'), { what: 'feature cache manifest' }) as { info?: { clips?: unknown } }).info?.clips;
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : p);
  if (typeof made !== 'string' || real(made) !== real(data)) throw new HerdError('invalid_argument', `feature cache ${dir} was made from the clips at ${String(made)}, not ${data}: give another --features folder`);
}

/** Train flags the Re-train line leaves out (where a run writes, where it ran), and those it names even at their defaults. */
const UNREPEATED: ReadonlySet<string> = new Set(['out', 'work', 'device']);
const SPELLED_OUT: ReadonlySet<string> = new Set(['clips', 'caption-steps', 'qa-steps', 'batch', 'lr', 'seed', 'eval-per-type']);

export const VIDEO_TRAIN_FLAGS = {
  ...COMMON,
  ...CORE_FLAG,
  out: flag.string({ placeholder: 'DIR', output: 'folder', description: 'where the checkpoint is written (default: the built-in one, packages/video/weights/mini)' }),
  work: flag.string({ placeholder: 'DIR', description: 'scratch folder for the stages\' text datasets and logs (default: train/ beside the clips; give each concurrent run its own)' }),
  'caption-steps': flag.integer({ min: 0, default: 100, description: 'stage 1: clip–caption pre-training steps' }),
  'qa-steps': flag.integer({ min: 0, default: 260, description: 'stage 2: QA fine-tuning steps (chat format)' }),
  batch: flag.integer({ min: 1, default: 12, description: 'sequences (clips) per step' }),
  lr: flag.number({ above: 0, default: 5e-3, description: 'peak learning rate (re-warmed per stage)' }),
  seed: flag.integer({ min: 0, max: 0xffff_ffff, default: 1, description: 'initialisation and sampling seed' }),
  'eval-per-type': flag.integer({ min: 1, default: 25, description: 'held-out questions per question type' }),
  clips: flag.integer({ min: 1, default: WORLD.clips, description: 'clips of the dataset to use (frozen features are computed once per clip and cached: 800 took 212 s on 2 cores)' }),
  blind: flag.boolean({ description: 'the blind control: train and evaluate with every clip\'s frame features zeroed (measures what QA training teaches without frames; use with --out)' }),
  'aggregator-steps': flag.integer({ min: 0, default: 0, description: 'stage 0: pre-train the temporal aggregator alone with a caption-words head before the language-model stages (0 = none)' }),
  'aggregator-lr': flag.number({ above: 0, description: 'stage 0 peak learning rate (default: --lr)' }),
  'motion-weight': flag.number({ min: 0, default: 0, description: 'stage 0: weight of a motion head (left/right/up/down/still from the synthetic world\'s labels — a stand-in target) beside the caption-words head (0 = none; needs --aggregator-steps)' }),
  'frame-difference': flag.number({ min: 0, description: 'weight of each frame\'s change since the first added to its tokens in the aggregator (default: the mini preset\'s resampler.frameDifference)' }),
  'qa-repeat': flag.counts(VIDEO_QA_TYPES, { placeholder: 'TYPE=N,…', min: 0, max: 20, description: "the QA stage's mix: each question of a type repeated N times in the training set (0 leaves the type out; default 1 each)" }),
  'position-embedding': flag.boolean({ description: 'a learned embedding of each token\'s place in the frame scaling its frame difference in the aggregator (resampler.positionTokens; default none)' }),
  'motion-query': flag.boolean({ description: 'the clip\'s motion features (the centroid of where its frames change: displacement, slope, amount) projected onto the aggregator\'s latent queries (resampler.motionQuery; default off)' }),
  'motion-tokens': flag.boolean({ description: 'object-motion tokens beside the aggregator\'s output: per half clip and token place, what changed there plus where and when, so the video cross-attention can read the asked shape\'s own motion (resampler.motionTokens; no parameters, so it goes with --init too; default off)' }),
  init: flag.string({ placeholder: 'DIR', description: 'start the video group from this video checkpoint (trained on an image checkpoint with the same encoder and projector; its aggregator settings kept): its aggregator stays frozen unless --train-aggregator; no stage 0' }),
  'xattn-from-image': flag.boolean({ description: 'fresh video cross-attention layers start their query side and keys as the trained image cross-attention layers they precede (where a text row looks; values, output, FFN fresh, gates 0): for --motion-tokens, whose asked shape the image layers already find (not with --init)' }),
  'aggregator-from': flag.string({ placeholder: 'DIR', description: 'take the frozen aggregator from this video checkpoint (trained on the same encoder and projector, with the aggregator settings this run asks for) instead of running stage 0; the video cross-attention layers start fresh: variants of the cross-attention on one stage 0 (not with --init or --aggregator-steps)' }),
  'train-aggregator': flag.boolean({ description: 'keep training the aggregator in the language-model stages after stage 0 (default: frozen after stage 0)' }),
  'motion-readout': flag.boolean({ description: 'each video cross-attention layer also reads the object-motion tokens\' place term (where and when what changed) at the tokens its heads look at, and adds a learned projection of it (zeros at start) to its output, so the motion the asked shape\'s tokens carry reaches the answer row as an input (video config motionReadout; needs --motion-tokens; kept from an --init checkpoint that has it; default off)' }),
  'frame-layout': flag.choice(['slots', 'canvas'], { default: 'slots', description: 'where a frame\'s tiles lie for the aggregator\'s place terms (the motion features of --motion-query, the place of --motion-tokens): canvas, each clip on its own canvas (a tall clip\'s second tile below its first, as the image encoder tiled it); slots, every clip as if on the squarest canvas (2 × 2), the layout of checkpoints before round 39 (video config frameLayout; needs --motion-query or --motion-tokens; kept from an --init checkpoint)' }),
  'row-gates': flag.boolean({ description: 'each gate of the video cross-attention layers also depends on its text row: tanh(g + w · the normed row), w learned from zeros, so the rows that need the clip (the answer) can open the layer further than the rest (video config rowGates; kept from an --init checkpoint that has it; default: the paper\'s scalar gates)' }),
  'direction-named': flag.boolean({ description: 'the QA stage\'s direction answers name their mover: "The red circle moves up." instead of "It moves up." (the text corpus\'s --direction-named wording; the same key word, so the eval grades both alike), so the direction word follows the asked shape\'s name (default off)' }),
  'look-keys': flag.boolean({ description: 'with --look-vision: the look enters only the video cross-attention\'s keys (where a text row looks), its values (what the row reads) stay the motion tokens without it (video config lookKeys; default: keys and values)' }),
  'lookup-weight': flag.number({ min: 0, default: 0, description: 'weight of the look-up loss beside the answer loss in the language-model stages: on every direction question the rows ending the asked shape\'s name ("red circle") and saying the direction word must attend, in each video cross-attention layer (its query and keys only), to the object-motion tokens that moved that shape\'s way (needs --motion-tokens; no parameters; 0 = none)' }),
  'look-weight': flag.number({ min: 0, default: 0, description: 'weight of the look loss beside the answer loss in the language-model stages: on every direction question the rows ending the asked shape\'s name and saying the direction word must put their attention, in each video cross-attention layer (its query and keys only), on the object-motion tokens where that shape is in each half of the clip (the synthetic world\'s ground truth, from the clips dataset\'s index; needs --motion-tokens; not with --lookup-weight; no parameters; 0 = none)' }),
  'look-layers': flag.string({ placeholder: 'J,…', description: 'with --look-weight: the video cross-attention layers the look loss trains, 0-based in order (e.g. 0: the first looks at the asked shape, the later ones stay free to read the whole clip; default every one)' }),
  'look-movers': flag.integer({ min: 1, placeholder: 'N', description: 'with --look-weight: the look loss only on direction questions about clips where at least N shapes move (2: only where the name has to pick one of two movers; a one-mover clip is read from the clip-level code; default 1, every one)' }),
  'look-fewer': flag.string({ placeholder: 'latents', description: "with --look-movers N: direction questions about clips where fewer than N shapes move mark the aggregator's latents instead (the clip-level code such a clip is read from), so the layer learns where to look there too (default: unmarked)" }),
  'look-rows': flag.string({ placeholder: 'ROW,…', description: "with --look-weight: which rows the look loss marks, of name (the row ending the asked shape's name) and answer (the row before the direction word) (default both)" }),
  'look-latents': flag.boolean({ description: "with --look-weight: the aggregator's latents count as looked-at too, so the look loss only keeps the rows off the other shapes' and the background's tokens and the clip-level motion code stays readable (default off)" }),
  ...DEVICE_FLAG,
} as const;

/** The card's Re-train line: the flags given, and the run's size and schedule spelled out even at their defaults. */
export function videoRetrainCommand(values: FlagValues<typeof VIDEO_TRAIN_FLAGS>, given: ReadonlySet<string>): string {
  return formatCommandLine('herd video train', VIDEO_TRAIN_FLAGS, values, (name) => !UNREPEATED.has(name) && (given.has(name) || SPELLED_OUT.has(name)));
}

export const videoTrainCommand = defineCommand({
  words: ['video', 'train'],
  usesDevice: true,
  summary: 'train the mini video adapter (aggregator + video cross-attention) on the frozen mini image model, evaluate, save (defaults: a short run; the committed run is `npx turbo run train --filter=@herd/video`, the flags of packages/video/package.json: 15 min on 2 cores incl. making the clips and their features)',
  flags: VIDEO_TRAIN_FLAGS,
  async run({ values, given, io, device }) {
    if (values['motion-weight'] > 0 && values['aggregator-steps'] === 0) throw new UsageError('--motion-weight trains a head in stage 0: give --aggregator-steps N too');
    if (values.init !== undefined && (values['aggregator-steps'] > 0 || values['frame-difference'] !== undefined || values['position-embedding'] || values['motion-query'])) throw new UsageError('--init starts from a trained aggregator: leave out --aggregator-steps, --frame-difference, --position-embedding and --motion-query');
    if (values.init !== undefined && values['xattn-from-image']) throw new UsageError('--xattn-from-image sets fresh video cross-attention layers; --init starts from trained ones: give one of them');
    if (values['lookup-weight'] > 0 && !values['motion-tokens'] && values.init === undefined) throw new UsageError('--lookup-weight trains where the video layers look among the object-motion tokens: give --motion-tokens too');
    if (values['look-weight'] > 0 && !values['motion-tokens'] && values.init === undefined) throw new UsageError("--look-weight trains where the video layers look among the object-motion tokens: give --motion-tokens too");
    if (values['frame-layout'] === 'canvas' && !values['motion-query'] && !values['motion-tokens'] && values.init === undefined) throw new UsageError("--frame-layout canvas places the frame tokens for the motion features and the object-motion tokens: give --motion-query or --motion-tokens too");
    if (values['look-latents'] && !(values['look-weight'] > 0)) throw new UsageError("--look-latents widens the look loss's target: give --look-weight W too");
    const lookRows = values['look-rows'] === undefined ? undefined : values['look-rows'].split(',').map((r) => r.trim());
    if (lookRows !== undefined && !(values['look-weight'] > 0)) throw new UsageError('--look-rows says which rows the look loss marks: give --look-weight W too');
    if (lookRows !== undefined && (lookRows.some((r) => !(LOOK_ROWS as readonly string[]).includes(r)) || new Set(lookRows).size !== lookRows.length)) throw new UsageError(`--look-rows takes distinct ones of ${LOOK_ROWS.join(', ')}, got '${values['look-rows']}'`);
    if (values['look-fewer'] !== undefined && values['look-fewer'] !== 'latents') throw new UsageError(`--look-fewer takes 'latents', got '${values['look-fewer']}'`);
    if (values['look-fewer'] !== undefined && !((values['look-movers'] ?? 1) > 1)) throw new UsageError('--look-fewer marks the clips --look-movers leaves out: give --look-movers N (N > 1) too');
    if (values['look-movers'] !== undefined && !(values['look-weight'] > 0)) throw new UsageError('--look-movers says which clips the look loss marks: give --look-weight W too');
    if (values['look-layers'] !== undefined && !(values['look-weight'] > 0)) throw new UsageError('--look-layers says which video layers the look loss trains: give --look-weight W too');
    const lookLayers = values['look-layers'] === undefined ? undefined : values['look-layers'].split(',').map((x) => (/^\d+$/.test(x.trim()) ? Number(x.trim()) : NaN));
    if (lookLayers?.some((j) => !Number.isSafeInteger(j))) throw new UsageError(`--look-layers must be layer indices like 0 or 0,1, got '${values['look-layers']}'`);
    if (values['look-weight'] > 0 && values['lookup-weight'] > 0) throw new UsageError('--look-weight and --lookup-weight are two losses on the same rows: give one');
    if (values['motion-readout'] && !values['motion-tokens'] && values.init === undefined) throw new UsageError('--motion-readout reads the object-motion tokens: give --motion-tokens too');
    if (values['aggregator-from'] !== undefined && (values.init !== undefined || values['aggregator-steps'] > 0 || values['train-aggregator'])) throw new UsageError('--aggregator-from gives a trained, frozen aggregator: leave out --init, --aggregator-steps and --train-aggregator');
    if (values['look-vision'] !== undefined && (values.init !== undefined || !values['motion-tokens'])) throw new UsageError('--look-vision adds to the object-motion tokens of fresh video layers: give --motion-tokens, and not --init');
    if (values['look-keys'] && values['look-vision'] === undefined) throw new UsageError('--look-keys says where the look input goes: give --look-vision DIR too');
    const root = featuresRoot(values.features, values.data);
    const qaRepeat = values['qa-repeat'];
    if (values.blind && values.out === undefined) throw new UsageError('--blind trains a control, not a checkpoint to use: give --out DIR so the built-in checkpoint is not replaced');
    const visionDir = values.vision ?? MINI_VIDEO_IMAGE_DIR;
    const out = values.out ?? MINI_VIDEO_DIR;
    const core = loadLanguageCore(values.core);
    const vision = loadMiniVision(visionDir, core);
    checkFrameImage(vision.config, `${values.vision !== undefined ? '--vision' : 'the default image checkpoint'} ${visionDir}`); // before any clip is generated
    const from = values.init !== undefined ? loadMiniVideo(values.init, visionDir, core) : undefined;
    // The aggregator reads only the encoder's and projector's frame features: it carries over when those are
    // bit-identical, even if the image cross-attention was re-fitted (a new core); the video layers then re-train.
    if (from && !from.framesMatch) throw new HerdError('checkpoint_mismatch', `--init ${values.init}: that video checkpoint's aggregator was trained on the frame features of another image encoder or projector than ${visionDir}'s`);
    if (from && !from.imageMatches) io.stderr.write(`note: --init ${values.init} was trained on another image checkpoint with the same encoder and projector as ${visionDir}: its aggregator carries over\n`);
    if (from && values['motion-readout'] && !from.config.video.motionReadout) throw new UsageError(`--motion-readout: the --init checkpoint ${values.init} has no motion readout to continue; train one without --init`);
    if (from && values['row-gates'] && !from.config.video.rowGates) throw new UsageError(`--row-gates: the --init checkpoint ${values.init} has scalar gates; train one without --init`);
    const motionReadout = from ? from.config.video.motionReadout === true : values['motion-readout'];
    const rowGates = from ? from.config.video.rowGates === true : values['row-gates'];
    const frameLayout = from ? (from.config.video.frameLayout ?? 'slots') : values['frame-layout'];
    if (from && given.has('frame-layout') && values['frame-layout'] !== frameLayout) throw new UsageError(`--frame-layout ${values['frame-layout']}: the --init checkpoint ${values.init}'s aggregator was trained with frame layout ${frameLayout}; leave the flag out`);
    // The video layers follow the image checkpoint's cross-attention layers: --look-layers is checked against them before any clip loads.
    const nVideoLayers = videoLayers(miniVideoConfig(vision.config)).length;
    if (lookLayers?.some((j) => j >= nVideoLayers)) throw new UsageError(`--look-layers ${values['look-layers']}: the video model on ${visionDir} has ${nVideoLayers} video layers (0..${nVideoLayers - 1})`);
    const lookVision = values['look-vision'] !== undefined ? loadMiniVision(values['look-vision'], core) : undefined;
    if (lookVision) checkFrameImage(lookVision.config, `--look-vision ${lookVision.dir}`);
    const aggregatorFrom = values['aggregator-from'] !== undefined ? loadMiniVideo(values['aggregator-from'], visionDir, core) : undefined;
    if (aggregatorFrom && !aggregatorFrom.framesMatch) throw new HerdError('checkpoint_mismatch', `--aggregator-from ${values['aggregator-from']}: that video checkpoint's aggregator was trained on the frame features of another image encoder or projector than ${visionDir}'s`);
    const data = await clipData(values.data, io); // after the checkpoints: a wrong one fails before any clip is generated
    const features = featuresDir(root, visionDir, values.clips);
    const lookFeatures = lookVision ? featuresDir(root, lookVision.dir, values.clips) : undefined;
    for (const dir of [features, ...(lookFeatures ? [lookFeatures] : [])]) checkFeatureCache(dir, data);
    // The aggregator's settings: the --init checkpoint's, else the preset's with the flags' changes.
    const r0 = from?.config.video.resampler;
    const resampler: ResamplerOverrides | undefined = r0
      ? { frameDifference: r0.frameDifference, positionTokens: r0.positionTokens, motionQuery: r0.motionQuery, motionTokens: r0.motionTokens || values['motion-tokens'] }
      : values['frame-difference'] !== undefined || values['position-embedding'] || values['motion-query'] || values['motion-tokens']
        ? { ...(values['frame-difference'] !== undefined ? { frameDifference: values['frame-difference'] } : {}), ...(values['position-embedding'] ? { positionTokens: frameTokens(vision.config) } : {}), ...(values['motion-query'] ? { motionQuery: true } : {}), ...(values['motion-tokens'] ? { motionTokens: true } : {}) }
        : undefined;
    if (aggregatorFrom && JSON.stringify(aggregatorFrom.config.video.resampler) !== JSON.stringify(miniVideoConfig(vision.config, resampler).video.resampler)) throw new UsageError(`--aggregator-from ${values['aggregator-from']}: its aggregator settings ${JSON.stringify(aggregatorFrom.config.video.resampler)} are not this run's (give the same --motion-query, --motion-tokens, --frame-difference, --position-embedding)`);
    if (aggregatorFrom && (aggregatorFrom.config.video.frameLayout ?? 'slots') !== frameLayout) throw new UsageError(`--aggregator-from ${values['aggregator-from']}: its aggregator was trained with frame layout ${aggregatorFrom.config.video.frameLayout ?? 'slots'}, this run asks ${frameLayout} (give the same --frame-layout)`);
    const command = videoRetrainCommand(values, given);
    // The look loss's flags as one options object (the usage checks above already tie each to --look-weight).
    const lookLoss: VideoLookLoss | undefined = values['look-weight'] ? { weight: values['look-weight'], ...(lookLayers ? { layers: lookLayers } : {}), ...(values['look-latents'] ? { latents: true } : {}), ...(values['look-movers'] !== undefined ? { movers: values['look-movers'] } : {}), ...(values['look-fewer'] === 'latents' ? { fewer: 'latents' as const } : {}), ...(lookRows ? { rows: lookRows as LookRow[] } : {}) } : undefined;
    const r = await runMiniVideoRecipe({
      core, tokenizer: await loadLlama3Tokenizer(), vision, clipsDir: data, clips: values.clips, featuresDir: features, ...(lookVision ? { look: { vision: lookVision, featuresDir: lookFeatures! } } : {}), workDir: values.work ?? join(data, '..', 'train'), outDir: out,
      captionSteps: values['caption-steps'], qaSteps: values['qa-steps'], batch: values.batch, lr: values.lr, seed: values.seed, evalPerType: values['eval-per-type'],
      command, blind: values.blind,
      aggregatorSteps: values['aggregator-steps'], ...(values['aggregator-lr'] !== undefined ? { aggregatorLr: values['aggregator-lr'] } : {}), ...(values['motion-weight'] ? { motionWeight: values['motion-weight'] } : {}), ...(resampler ? { resampler } : {}), ...(motionReadout || rowGates || lookVision || frameLayout === 'canvas' ? { layers: { ...(motionReadout ? { motionReadout: true } : {}), ...(rowGates ? { rowGates: true } : {}), ...(lookVision ? { look: true } : {}), ...(values['look-keys'] ? { lookKeys: true } : {}), ...(frameLayout === 'canvas' ? { frameLayout: 'canvas' as const } : {}) } } : {}), ...(qaRepeat ? { qaRepeat } : {}), ...(values['train-aggregator'] ? { aggregator: 'train' as const } : from ? { aggregator: 'frozen' as const } : {}), ...(values['xattn-from-image'] ? { attentionFromImage: true } : {}), ...(values['lookup-weight'] ? { lookupWeight: values['lookup-weight'] } : {}), ...(lookLoss ? { lookLoss } : {}), ...(values['direction-named'] ? { directionNamed: true } : {}),
      ...(aggregatorFrom ? { aggregatorFrom: { dir: aggregatorFrom.dir, weights: aggregatorFrom.weights } } : {}),
      ...(from ? { init: Object.fromEntries(Object.entries(from.weights).map(([k, v]) => [k, hostTensor('f32', [...v.shape], v.data)])) } : {}),
      dataDescription: `Clips of moving shapes (${values.data === undefined ? `@herd/video writeClipWorld = @herd/datasets generateVideos, ${WORLD.clips} clips, seed ${WORLD.seed}` : `the dataset given with --data, ${datasetCount(data)} clips (the default, generated when --data is left out: @herd/video writeClipWorld = @herd/datasets generateVideos, ${WORLD.clips} clips, seed ${WORLD.seed})`}, 25% static clips, 64–112 px, 2–4 s at 12 fps, H.264; shards at ${data}): 1–2 shapes that move left/right/up/down, appear, disappear or stay still, with captions; questions from the ground truth (\`videoQuestions\`).`,
      device: device().device,
      log: (line) => io.stderr.write(`${line}\n`),
    });
    io.stdout.write(`${videoQaTable(r.eval)}\ntrain ${r.train.seconds.toFixed(0)} s, eval ${r.evalSeconds.toFixed(0)} s → ${out}\n`);
  },
});

export const videoEvalCommand = defineCommand({
  words: ['video', 'eval'],
  usesDevice: true,
  summary: 'video QA on held-out clips: core alone, image model on the middle frame, image model + video adapter',
  flags: {
    ...COMMON,
    video: flag.string({ placeholder: 'DIR', description: 'the video checkpoint (default: the built-in mini one)' }),
    ...EVAL_CORE_FLAG,
    'per-type': flag.integer({ min: 1, default: 25, description: 'held-out questions per question type' }),
    clips: flag.integer({ min: 1, default: WORLD.clips, description: 'clips of the dataset in use (as in training: the held-out ones among them are asked about)' }),
    json: flag.boolean({ description: 'print the whole report as JSON' }),
    blind: flag.boolean({ description: 'ask with every clip\'s frame features zeroed (the blind control\'s condition)' }),
    answers: flag.string({ placeholder: 'FILE', output: 'file', description: 'also write every held-out item\'s answers to FILE (JSON lines: clip, type, question, reference, each row\'s answer and grade — the line of herd vision eval --answers with the clip in the scene\'s place), e.g. to read the wrong ones' }),
    ...DEVICE_FLAG,
  },
  async run({ values, io, device }) {
    const root = featuresRoot(values.features, values.data);
    // The checkpoint's own image model (config image.dir); --vision only for a checkpoint that records none.
    const visionDir = videoImageDir(values.video ?? MINI_VIDEO_DIR, values.vision);
    const v = loadMiniVideo(values.video ?? MINI_VIDEO_DIR, visionDir, loadLanguageCore(values.core)); // a wrong checkpoint or core fails before any clip is generated
    const lookDir = values['look-vision'];
    if (v.config.video.look && lookDir === undefined) throw new UsageError(`the video checkpoint ${v.dir} takes a second feature input (look): give --look-vision DIR, the image checkpoint it was trained with`);
    if (!v.config.video.look && lookDir !== undefined) throw new UsageError(`--look-vision: the video checkpoint ${v.dir} has no look input`);
    const lookVision = lookDir !== undefined ? loadMiniVision(lookDir, v.core) : undefined;
    if (lookDir !== undefined && v.lookFeaturesSha !== frameFeaturesSha(lookDir)) throw new HerdError('checkpoint_mismatch', `--look-vision ${lookDir}: the video checkpoint ${v.dir} was trained on the look features of another image encoder or projector`);
    const data = await clipData(values.data, io);
    if (!v.imageMatches) io.stderr.write(`warning: the video checkpoint ${v.dir} was trained on another image checkpoint than ${visionDir}; re-train it with 'herd video train'\n`);
    const features = featuresDir(root, visionDir, values.clips);
    const lookFeatures = lookDir !== undefined ? featuresDir(root, lookDir, values.clips) : undefined;
    for (const dir of [features, ...(lookFeatures ? [lookFeatures] : [])]) checkFeatureCache(dir, data);
    const clips = await videoFeatures({ vision: v.vision, clipsDir: data, clips: values.clips, featuresDir: features, ...(lookVision ? { look: { vision: lookVision, featuresDir: lookFeatures! } } : {}), device: device().device, log: (l) => io.stderr.write(`${l}\n`) }, v.config.video.finetune.frames);
    const heldout = values.blind ? clips.heldout.map((x) => ({ ...x, clip: blindClip(x.clip) })) : clips.heldout;
    const answers: string[] = [];
    const report = await evaluateVideoQa({ config: v.config, clip: v.config.video.finetune, core: v.core, vision: v.vision.weights, video: v.weights, tokenizer: await loadLlama3Tokenizer(), items: videoQaItems(heldout, values['per-type']), device: device().device, ...(values.answers !== undefined ? { onItem: (item, a, hits) => answers.push(videoQaAnswerLine(item, a, hits)) } : {}) });
    if (values.answers !== undefined) await writeFileAtomic(values.answers, answers.map((l) => `${l}\n`).join(''));
    const spread = await videoTokenSpread(v.config, v.config.video.finetune, v.weights, clips.heldout.slice(0, 24).map((x) => x.clip), { device: device().device });
    const spreadLine = `video tokens of ${spread.clips} held-out clips: pairwise cosine mean ${spread.cosine.mean.toFixed(4)} (min ${spread.cosine.min.toFixed(4)}), relative difference ${spread.relativeDifference.toFixed(4)}`;
    io.stdout.write(values.json ? `${JSON.stringify({ ...report, tokenSpread: spread }, null, 2)}\n` : `${videoQaTable(report)}${spreadLine}\n`);
  },
});
