/**
 * Can the video path fit a handful of clips that only their frames tell apart? Picks `--clips` train
 * clips (default 4) with one moving shape whose direction question is worded the same ("Which way
 * does the red circle move?") but whose answers differ, so the question text cannot carry the answer;
 * trains the video group on their QA only (`trainMiniVideo`, no caption stage) with the real frames
 * and, beside it, blind (frames zeroed); then asks the same clips. A path that can carry frame
 * information reaches every direction answer; the blind run cannot beat the most common answer.
 *
 *   node bench/dist/video-overfit.js [--features out/video/features-<sha>-700] [--clips 4] [--steps 150] [--lr 0.005]
 *
 * Prints a table and writes bench/results/video-overfit.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FEATURES_FLAG, benchArgs, videoFeaturesDir } from './bench-args.js';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { MINI_VIDEO_IMAGE_DIR, type VideoExample, blindClip, evaluateVideoQa, miniVideoConfig, readVideoExamples, trainMiniVideo, videoQaItems, videoTokenSpread } from '@herd/video';
import { loadMiniVision } from '@herd/vision';

const cli = benchArgs({
  about: 'Can the video path fit a handful of clips that only their frames tell apart? Trains the video group on their direction QA with the real frames and, beside it, blind (frames zeroed), then asks the same clips.',
  writes: 'bench/results/video-overfit.json',
  flags: {
    ...FEATURES_FLAG,
    clips: { value: 'N', default: '4', help: 'train clips with one moving shape, same question, different answers' },
    steps: { value: 'N', default: '150', help: 'training steps' },
    lr: { value: 'X', default: '0.005', help: 'learning rate' },
  },
});
const here = dirname(fileURLToPath(import.meta.url));
const dir = videoFeaturesDir(cli.flag('features'));
const want = cli.number('clips');
const steps = cli.number('steps');
const lr = cli.number('lr');
const core = loadLanguageCore();
const tokenizer = await loadLlama3Tokenizer();
const vision = loadMiniVision(MINI_VIDEO_IMAGE_DIR, core);
const m = miniVideoConfig(vision.config);
const all = (await readVideoExamples(dir, vision.config)).filter((x) => x.split === 'train');

// Clips with exactly one shape, moving, grouped by that shape: the group with the most distinct directions.
const groups = new Map<string, VideoExample[]>();
for (const x of all) {
  const o = x.objects;
  if (o.length !== 1 || o[0]!.motion.kind !== 'move') continue;
  const id = `${o[0]!.colour} ${o[0]!.shape}`;
  groups.set(id, [...(groups.get(id) ?? []), x]);
}
const dirOf = (x: VideoExample) => (x.objects[0]!.motion.kind === 'move' ? x.objects[0]!.motion.direction : '');
let chosen: VideoExample[] = [];
let chosenId = '';
for (const [id, xs] of groups) {
  const byDir = new Map<string, VideoExample>();
  for (const x of xs) if (!byDir.has(dirOf(x))) byDir.set(dirOf(x), x);
  const pick = [...byDir.values()].slice(0, want);
  if (pick.length > chosen.length) (chosen = pick), (chosenId = id);
}
console.log(`${chosen.length} clips of the ${chosenId}: ${chosen.map((x) => `${x.key} ${dirOf(x)}`).join(', ')}`);

const rows: Record<string, unknown>[] = [];
for (const blind of [false, true]) {
  const t0 = performance.now();
  const r = await trainMiniVideo({ core, tokenizer, image: vision.config, vision: vision.weights, examples: chosen, workDir: join(tmpdir(), `herd-video-overfit-${blind ? 'blind' : 'frames'}-${process.pid}`), captionSteps: 0, qaSteps: steps, batch: 4, lr, seed: 1, ...(blind ? { blind: true } : {}) });
  const clips = blind ? chosen.map((x) => ({ ...x, clip: blindClip(x.clip) })) : chosen;
  const report = await evaluateVideoQa({ config: m, clip: m.video.finetune, core, vision: vision.weights, video: r.weights, tokenizer, items: videoQaItems(clips, want) });
  const spread = await videoTokenSpread(m, m.video.finetune, r.weights, chosen.map((x) => x.clip));
  const gates = Object.entries(r.weights).filter(([k]) => /gate$/.test(k)).map(([k, v]) => `${k.replace(/^video\./, '')} ${Math.tanh((v.data as Float32Array)[0]!).toFixed(3)}`);
  const tail = r.losses.qa.slice(-10).reduce((a, b) => a + b, 0) / Math.min(10, r.losses.qa.length);
  const row = { run: blind ? 'blind (frames zeroed)' : 'frames', direction: report.accuracy.video.direction, n: report.n.direction, lossFirst10: r.losses.qa.slice(0, 10).reduce((a, b) => a + b, 0) / 10, lossLast10: tail, tokenCosineMean: spread.cosine.mean, gates, seconds: (performance.now() - t0) / 1000, answers: report.examples.filter((e) => e.type === 'direction').map((e) => `${e.reference} → ${e.answers.video}`) };
  rows.push(row);
  console.log(JSON.stringify(row));
}
const out = join(here, '..', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'video-overfit.json'), JSON.stringify({ when: new Date().toISOString(), features: dir, clips: chosen.map((x) => ({ key: x.key, direction: dirOf(x) })), object: chosenId, steps, lr, rows }, null, 2) + '\n');
