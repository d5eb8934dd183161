/**
 * Can the language-model stage of the video recipe turn a clip-level direction signal into answers at
 * all? A diagnostic, not a model: every clip's frozen frame features get a fixed random vector of its
 * motion class added to every token of every frame (`motionClass`: the one direction its moving shapes
 * share, or still; clips with none get nothing) — direction then sits in the tokens' content, plain to
 * any mean. The recipe (stage 0 + QA) then trains and is scored on held-out clips coded the same way.
 * If direction stays at the blind level here, the language-model stage is what loses it; if it rises,
 * the real features' direction signal is too weak by the time it reaches the video layers.
 *
 *   node bench/dist/video-oracle.js --features DIR [--core DIR] [--vision DIR] [--scale 1] [--qa-steps 250] [--aggregator-steps 200]
 *     [--motion-weight 3] [--qa-repeat direction=4] [--identity-code colour,shape] [--clips DIR] [--write-features DIR]
 *
 * Prints the QA table and writes bench/results/video-oracle.json. Asserts nothing.
 *
 * Round 25: `--identity-code colour,shape` (or `shape`, or `colour`) replaces the motion-class code with the clip's
 * IDENTITY at its objects' places (`video-identity-code.ts`): at each frame and each patch an object covers there, a
 * fixed random code of its colour and one of its shape — no direction. Does the recipe bind a direction to the named
 * shape once the tokens carry identity? `--write-features DIR` then writes the coded cache (DIR/<the --features
 * folder's name>, the same samples with only `features` changed) instead of training here, so that the committed
 * line's recipe trains on it unchanged: `herd video train --features DIR …` (its checkpoint the probe reads).
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError, Rng, decodeF16, encodeF16, readJsonFile } from '@herd/core';
import { type Sample, isUnreadable, iterateDataset, writeDataset } from '@herd/data';
import { type MotionObject } from '@herd/datasets';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { type ClipTiming, MINI_VIDEO_IMAGE_DIR, MOTION_CLASSES, type QaRepeat, type VideoExample, evaluateVideoQa, frameTokens, miniVideoConfig, motionClass, readClipTimings, readVideoExamples, trainMiniVideo, videoQaItems, videoQaTable, videoTokenSpread } from '@herd/video';
import { loadMiniVision } from '@herd/vision';
import { CORE_FLAG, FEATURES_FLAG, benchArgs, videoFeaturesDir } from './bench-args.js';
import { IDENTITY_PARTS, addIdentityCodes, identityCodes } from './video-identity-code.js';

const cli = benchArgs({
  about: "A diagnostic: every clip's frozen frame features get a fixed random code of its motion class added, then the video recipe (stage 0 + QA) trains and is scored on held-out clips coded the same way — can the language-model stage use a plain direction signal?",
  writes: 'bench/results/video-oracle.json',
  flags: {
    ...FEATURES_FLAG,
    ...CORE_FLAG,
    vision: { value: 'DIR', help: 'the frozen image checkpoint (default: the video model\'s own, packages/video/weights/mini-image); the features must be its encoder and projector\'s' },
    scale: { value: 'X', default: '1', help: "the codes' scale" },
    'qa-steps': { value: 'N', default: '250', help: 'QA training steps' },
    'aggregator-steps': { value: 'N', default: '200', help: 'stage 0 (aggregator) steps' },
    'motion-weight': { value: 'X', default: '3', help: "stage 0's motion-head weight (0: none)" },
    'qa-repeat': { value: 'KIND=N,…', default: '', help: 'QA items of a kind repeated N times (e.g. direction=4)' },
    'identity-code': { value: 'PARTS', default: '', help: "instead of the motion-class code: at each frame and patch an object covers, a fixed random code of its colour and/or shape (colour,shape | shape | colour; no direction)" },
    clips: { value: 'DIR', help: "with --identity-code: the clips dataset the features were made from (its index: each clip's frame count, fps, size, objects; default: the one the cache's manifest names)" },
    'write-features': { value: 'DIR', help: "write the coded cache to DIR/<the --features folder's name> instead of training here (then: herd video train --features DIR …); DIR must exist, the cache must not" },
  },
});
const here = dirname(fileURLToPath(import.meta.url));
const identity = cli.words('identity-code', IDENTITY_PARTS);
if (cli.flag('clips') !== undefined && identity.length === 0) cli.refuse('--clips says where the objects are for --identity-code; give that too');
const writeRoot = cli.flag('write-features');
const core = loadLanguageCore(cli.flag('core')); // before the features are read: a wrong --core fails at once
const dir = videoFeaturesDir(cli.flag('features'));
if (writeRoot !== undefined && (!existsSync(writeRoot) || !statSync(writeRoot).isDirectory())) throw new HerdError('invalid_argument', `--write-features ${writeRoot}: not an existing folder`);
const target = writeRoot !== undefined ? join(writeRoot, basename(resolve(dir))) : undefined;
if (target !== undefined && existsSync(target)) throw new HerdError('invalid_argument', `--write-features: ${target} exists already (a coded cache is written once, never over another)`);
const scale = cli.number('scale');
const qaSteps = cli.number('qa-steps');
const aggregatorSteps = cli.number('aggregator-steps');
const motionWeight = cli.number('motion-weight');
const qaRepeat = Object.fromEntries(cli.flag('qa-repeat').split(',').filter(Boolean).map((kv) => kv.split('=')).map(([k, v]) => [k!, Number(v)])) as QaRepeat;
const tokenizer = await loadLlama3Tokenizer();
const vision = loadMiniVision(cli.flag('vision') ?? MINI_VIDEO_IMAGE_DIR, core);
const D = vision.config.text.dim;
const S = frameTokens(vision.config);
const rng = new Rng(77);
const codes = MOTION_CLASSES.map(() => Float32Array.from({ length: D }, () => scale * rng.normal()));
/** The identity codes' own seed: independent of the motion codes' (77). */
const IDENTITY_SEED = 25;
const idCodes = identity.length ? identityCodes(identity, D, scale, IDENTITY_SEED) : undefined;
const info = (readJsonFile(join(dir, 'manifest.json'), { what: 'feature cache manifest' }) as { info?: Record<string, unknown> }).info ?? {};
const clipsDir = cli.flag('clips') ?? (typeof info['clips'] === 'string' ? info['clips'] : undefined);
if (idCodes && clipsDir === undefined) throw new HerdError('invalid_argument', `${dir}: its manifest names no clips dataset; give --clips DIR`);
/** Each clip's frame count, fps and size (the clips' index), for where its objects are at each sampled frame. */
const clipMeta = idCodes ? await readClipTimings(clipsDir!) : new Map<string, ClipTiming & { readonly objects: readonly MotionObject[] }>();

/** One clip's features [F, S, D] (f32, changed in place) with the code: the motion class's everywhere, or the objects' identity where they are. */
function code(f: Float32Array, key: string, objects: readonly MotionObject[], frames: number): Float32Array {
  if (idCodes) {
    const c = clipMeta.get(key);
    if (!c) throw new HerdError('invalid_argument', `${clipsDir}: no clip '${key}' (the features were made from other clips?)`);
    if (JSON.stringify(c.objects) !== JSON.stringify(objects)) throw new HerdError('invalid_argument', `${clipsDir}: clip '${key}' holds other objects than the features' (another dataset?)`);
    return addIdentityCodes(f, c, frames, S, idCodes, vision.config.vision);
  }
  const m = motionClass(objects);
  if (m >= 0) for (let i = 0; i < f.length; i++) f[i]! += codes[m]![i % D]!;
  return f;
}

function coded(x: VideoExample): VideoExample {
  if (!idCodes && motionClass(x.objects) < 0) return x;
  return { ...x, clip: { ...x.clip, features: encodeF16(code(decodeF16(x.clip.features), x.key, x.objects, x.frames)) } };
}

if (target !== undefined) {
  // The coded cache: every sample as it is, its `features` coded; the manifest's info keeps the clips it was made
  // from (so `herd video train` takes it for them) and says what was added.
  const t0 = performance.now();
  let n = 0;
  async function* samples(): AsyncGenerator<Sample> {
    for await (const s of iterateDataset(dir)) {
      if (isUnreadable(s)) throw new HerdError('io_error', `${dir}: unreadable sample ${JSON.stringify(s)}`);
      const b = s.files['features']!;
      const f = code(decodeF16(new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))), s.key, s.meta['objects'] as MotionObject[], s.meta['frames'] as number);
      n++;
      yield { ...s, files: { ...s.files, features: new Uint8Array(encodeF16(f).buffer) } };
    }
  }
  const oracle = { code: idCodes ? 'identity' : 'motion-class', ...(idCodes ? { parts: identity, seed: IDENTITY_SEED, clips: clipsDir } : { seed: 77 }), scale, from: dir };
  await writeDataset(target, samples(), { samplesPerShard: 250, name: 'video-features', info: { ...info, oracle } });
  console.log(`${target}: ${n} clips coded (${JSON.stringify(oracle)}) in ${((performance.now() - t0) / 1000).toFixed(0)} s; train on it with herd video train --features ${writeRoot} (and the --data it was made from)`);
  process.exit(0);
}

const all = (await readVideoExamples(dir, vision.config)).map(coded);
const train = all.filter((x) => x.split === 'train');
const heldout = all.filter((x) => x.split === 'heldout');
console.log(`${dir}: ${train.length} train, ${heldout.length} held-out clips, oracle code ${idCodes ? `identity (${identity.join(', ')})` : 'motion class'}, scale ${scale}`);
const t0 = performance.now();
const r = await trainMiniVideo({
  core, tokenizer, image: vision.config, vision: vision.weights, examples: train, heldout, workDir: join(tmpdir(), `herd-video-oracle-${process.pid}`),
  captionSteps: 0, qaSteps, batch: 8, lr: 0.005, seed: 1, aggregatorSteps, aggregatorLr: 0.02, ...(motionWeight ? { motionWeight } : {}), ...(Object.keys(qaRepeat).length ? { qaRepeat } : {}),
});
const m = miniVideoConfig(vision.config);
const report = await evaluateVideoQa({ config: m, clip: m.video.finetune, core, vision: vision.weights, video: r.weights, tokenizer, items: videoQaItems(heldout, 40) });
const spread = await videoTokenSpread(m, m.video.finetune, r.weights, heldout.slice(0, 24).map((x) => x.clip));
console.log(videoQaTable(report));
console.log(`stage 0 readout: ${JSON.stringify(r.aggregatorReadout)}; held-out QA loss ${r.evalLoss.qa?.toFixed(3)}; token cosine ${spread.cosine.mean.toFixed(3)}; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
mkdirSync(join(here, '..', 'results'), { recursive: true });
writeFileSync(join(here, '..', 'results', 'video-oracle.json'), JSON.stringify({ features: dir, code: idCodes ? { identity } : 'motion-class', scale, qaSteps, aggregatorSteps, motionWeight, qaRepeat, readout: r.aggregatorReadout ?? null, evalLoss: r.evalLoss, tokenCosine: spread.cosine.mean, report }, null, 2) + '\n');
