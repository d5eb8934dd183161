/**
 * Stage 0 of the video recipe on its own (no language model): how well does the aggregator, trained
 * with the caption-words head (and, with `--motion-weight`, the motion head — a stand-in target from
 * the synthetic world's labels), carry direction and moving-vs-static to held-out clips? Trains
 * `trainMiniVideo` with only stage 0 for each setting given and prints its held-out readout: direction
 * (right word of four, caption-words head; right class, motion head) on clips with one moving shape,
 * moving-vs-static ROC AUC, and the token cosine between clips. `--blind` adds each setting's blind
 * control (frames zeroed). Cheap next to the full recipe: use it to choose stage 0's settings.
 *
 *   node bench/dist/video-stage0.js --features DIR [--vision DIR] [--steps 200] [--lr 0.02] [--batch 8]
 *     [--settings "fd=3,mw=0;fd=3,mw=1,pos=1"] [--blind]
 *
 * Prints a table and writes bench/results/video-stage0.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FEATURES_FLAG, benchArgs, videoFeaturesDir } from './bench-args.js';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { MINI_VIDEO_IMAGE_DIR, blindClip, frameTokens, miniVideoConfig, readVideoExamples, trainMiniVideo, videoTokenSpread } from '@herd/video';
import { loadMiniVision } from '@herd/vision';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: "Stage 0 of the video recipe alone: the aggregator trained with the caption-words head (and the motion head) for each setting, and its held-out readout — direction, moving-vs-static ROC AUC, token cosine between clips.",
  writes: 'bench/results/video-stage0.json',
  flags: {
    ...FEATURES_FLAG,
    vision: { value: 'DIR', help: 'the image checkpoint (default: the video model\'s own, packages/video/weights/mini-image)' },
    steps: { value: 'N', default: '200', help: 'stage 0 steps' },
    lr: { value: 'X', default: '0.02', help: 'learning rate' },
    batch: { value: 'N', default: '8', help: 'clips per step' },
    settings: { value: 'S;S;…', default: 'fd=3,mw=0;fd=3,mw=1', help: 'settings, each k=v,… of fd (frame difference), mw (motion-head weight), pos (position tokens)' },
    blind: { help: "add each setting's blind control (frames zeroed)" },
  },
});
const dir = videoFeaturesDir(cli.flag('features'));
const steps = cli.number('steps');
const lr = cli.number('lr');
const batch = cli.number('batch');
const settings = cli.flag('settings').split(';').map((s) => Object.fromEntries(s.split(',').map((kv) => kv.split('=')).map(([k, v]) => [k!, Number(v)])) as { fd?: number; mw?: number; pos?: number });
const core = loadLanguageCore();
const tokenizer = await loadLlama3Tokenizer();
const vision = loadMiniVision(cli.flag('vision') || MINI_VIDEO_IMAGE_DIR, core);
const all = await readVideoExamples(dir, vision.config);
const train = all.filter((x) => x.split === 'train');
const heldout = all.filter((x) => x.split === 'heldout');
console.log(`${dir}: ${train.length} train, ${heldout.length} held-out clips; stage 0 ${steps} steps, LR ${lr}, batch ${batch}`);

const rows: Record<string, unknown>[] = [];
for (const s of settings) {
  for (const blind of cli.has('blind') ? [false, true] : [false]) {
    const t0 = performance.now();
    // pos=1: the position embedding scaling each token's frame difference (resampler.positionTokens).
    const resampler = { ...(s.fd !== undefined ? { frameDifference: s.fd } : {}), ...(s.pos ? { positionTokens: frameTokens(vision.config) } : {}) };
    const r = await trainMiniVideo({
      core, tokenizer, image: vision.config, vision: vision.weights, examples: train, heldout, workDir: join(tmpdir(), `herd-video-stage0-${process.pid}`),
      captionSteps: 0, qaSteps: 0, aggregatorSteps: steps, aggregatorLr: lr, batch, seed: 1, resampler, ...(s.mw ? { motionWeight: s.mw } : {}), ...(blind ? { blind: true } : {}),
    });
    const m = miniVideoConfig(vision.config, resampler);
    const spread = await videoTokenSpread(m, m.video.finetune, r.weights, heldout.slice(0, 24).map((x) => (blind ? blindClip(x.clip) : x.clip)));
    const ro = r.aggregatorReadout;
    const tail = (xs: readonly number[] = []) => xs.slice(-10).reduce((a, b) => a + b, 0) / Math.max(1, Math.min(10, xs.length));
    const row = {
      frameDifference: m.video.resampler.frameDifference, position: m.video.resampler.positionTokens ? 'difference' : 'none', motionWeight: s.mw ?? 0, blind,
      direction: ro ? `${ro.direction.right}/${ro.direction.n}` : '—', motionHead: ro?.motionHead ? `${ro.motionHead.right}/${ro.motionHead.n}` : '—',
      movingAuc: ro?.movingAuc, tokenCosine: spread.cosine.mean, lossLast10: tail(r.losses.aggregator), seconds: (performance.now() - t0) / 1000,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
console.log('\n| frameDifference | position | motion weight | blind | direction (words) | direction (motion head) | moving AUC | token cosine | loss (last 10) | s |\n|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r['frameDifference']} | ${r['position']} | ${r['motionWeight']} | ${r['blind'] ? 'yes' : 'no'} | ${r['direction']} | ${r['motionHead']} | ${(r['movingAuc'] as number | undefined)?.toFixed(3) ?? '—'} | ${(r['tokenCosine'] as number).toFixed(3)} | ${(r['lossLast10'] as number).toFixed(3)} | ${(r['seconds'] as number).toFixed(0)} |`);
mkdirSync(join(here, '..', 'results'), { recursive: true });
writeFileSync(join(here, '..', 'results', 'video-stage0.json'), JSON.stringify({ features: dir, steps, lr, batch, rows }, null, 2) + '\n');
