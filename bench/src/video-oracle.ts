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
 *     [--motion-weight 3] [--qa-repeat direction=4]
 *
 * Prints the QA table and writes bench/results/video-oracle.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, decodeF16, encodeF16 } from '@herd/core';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { MOTION_CLASSES, type QaRepeat, type VideoExample, evaluateVideoQa, miniVideoConfig, motionClass, readVideoExamples, trainMiniVideo, videoQaItems, videoQaTable, videoTokenSpread } from '@herd/video';
import { loadMiniVision } from '@herd/vision';
import { CORE_FLAG, FEATURES_FLAG, benchArgs, videoFeaturesDir } from './bench-args.js';

const cli = benchArgs({
  about: "A diagnostic: every clip's frozen frame features get a fixed random code of its motion class added, then the video recipe (stage 0 + QA) trains and is scored on held-out clips coded the same way — can the language-model stage use a plain direction signal?",
  writes: 'bench/results/video-oracle.json',
  flags: {
    ...FEATURES_FLAG,
    ...CORE_FLAG,
    vision: { value: 'DIR', help: 'the frozen image checkpoint (default: the committed mini one); the features must be its encoder and projector\'s' },
    scale: { value: 'X', default: '1', help: "the codes' scale" },
    'qa-steps': { value: 'N', default: '250', help: 'QA training steps' },
    'aggregator-steps': { value: 'N', default: '200', help: 'stage 0 (aggregator) steps' },
    'motion-weight': { value: 'X', default: '3', help: "stage 0's motion-head weight (0: none)" },
    'qa-repeat': { value: 'KIND=N,…', default: '', help: 'QA items of a kind repeated N times (e.g. direction=4)' },
  },
});
const here = dirname(fileURLToPath(import.meta.url));
const core = loadLanguageCore(cli.flag('core')); // before the features are read: a wrong --core fails at once
const dir = videoFeaturesDir(cli.flag('features'));
const scale = cli.number('scale');
const qaSteps = cli.number('qa-steps');
const aggregatorSteps = cli.number('aggregator-steps');
const motionWeight = cli.number('motion-weight');
const qaRepeat = Object.fromEntries(cli.flag('qa-repeat').split(',').filter(Boolean).map((kv) => kv.split('=')).map(([k, v]) => [k!, Number(v)])) as QaRepeat;
const tokenizer = await loadLlama3Tokenizer();
const vision = loadMiniVision(cli.flag('vision'), core);
const D = vision.config.text.dim;
const rng = new Rng(77);
const codes = MOTION_CLASSES.map(() => Float32Array.from({ length: D }, () => scale * rng.normal()));

function coded(x: VideoExample): VideoExample {
  const c = motionClass(x.objects);
  if (c < 0) return x;
  const f = decodeF16(x.clip.features);
  for (let i = 0; i < f.length; i++) f[i]! += codes[c]![i % D]!;
  return { ...x, clip: { ...x.clip, features: encodeF16(f) } };
}

const all = (await readVideoExamples(dir, vision.config)).map(coded);
const train = all.filter((x) => x.split === 'train');
const heldout = all.filter((x) => x.split === 'heldout');
console.log(`${dir}: ${train.length} train, ${heldout.length} held-out clips, oracle code scale ${scale}`);
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
writeFileSync(join(here, '..', 'results', 'video-oracle.json'), JSON.stringify({ features: dir, scale, qaSteps, aggregatorSteps, motionWeight, qaRepeat, readout: r.aggregatorReadout ?? null, evalLoss: r.evalLoss, tokenCosine: spread.cosine.mean, report }, null, 2) + '\n');
