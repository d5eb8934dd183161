/**
 * The video curation pipeline (`curateVideos`, @herd/video) scored against the synthetic world's
 * labelled noise (datasets/, noise.ts): a seeded set of clips is generated into shards, curated
 * in-process with every stage (OCR optional), and each stage's drops are compared with the labels it
 * is meant to catch — precision, and recall over the labelled clips that reached it — plus the
 * issue's motion target (≥ 95 % of static clips removed, ≤ 3 % of moving clips lost) and the
 * runner's clips/s per stage (the first media stage pays for decoding the frames every later stage
 * shares). The CLIP alignment stages are not run: they need the trained CLIP-style model.
 *
 *   node bench/dist/video-curate-quality.js [--count 300] [--seed 7] [--noise 0.5] [--side 96,192] [--seconds 2,6] [--no-ocr] [--keep DIR]
 *
 * Prints tables and writes bench/results/video-curate-quality.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { iterateDataset, isUnreadable, writeDataset } from '@herd/data';
import { generateVideos } from '@herd/datasets';
import { clipLabel, curateVideos, readDrops, scoreCuration, scoreTable, type LabelledClip } from '@herd/video';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const pair = (s: string): [number, number] => {
  const [a, b] = s.split(',').map(Number);
  return [a!, b ?? a!];
};
const count = Number(flag('count', '300'));
const seed = Number(flag('seed', '7'));
const noiseRate = Number(flag('noise', '0.5'));
const side = pair(flag('side', '96,192'));
const seconds = pair(flag('seconds', '2,6'));
const useOcr = !args.includes('--no-ocr');
const keepDir = flag('keep', '');

const work = keepDir || (await mkdtemp(join(tmpdir(), 'herd-video-bench-')));
try {
  const input = join(work, 'in');
  const output = join(work, 'out');
  const t0 = performance.now();
  await writeDataset(input, generateVideos({ seed, count, noiseRate, side, duration: seconds, fps: 8 }), { samplesPerShard: 50, name: 'video-bench' });
  const genSeconds = (performance.now() - t0) / 1000;
  const labels: LabelledClip[] = [];
  for await (const s of iterateDataset(input)) if (!isUnreadable(s)) labels.push(clipLabel(s.key, s.meta));
  const load0 = loadavg()[0]!;
  const t1 = performance.now();
  const { report } = await curateVideos(input, output, { progress: null, ...(useOcr ? {} : { ocr: false }) });
  const curateSeconds = (performance.now() - t1) / 1000;
  const r = report!;
  const drops = await readDrops(output);
  const score = scoreCuration(labels, drops, r.stages.map((s) => s.name));

  const kinds = new Map<string, number>();
  for (const l of labels) kinds.set(l.noise ?? 'clean', (kinds.get(l.noise ?? 'clean') ?? 0) + 1);
  console.log(`\n${count} clips (seed ${seed}, noise ${noiseRate}, side ${side.join('–')} px, ${seconds.join('–')} s at 8 fps): ${[...kinds].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`generated in ${genSeconds.toFixed(0)} s; curated in ${curateSeconds.toFixed(0)} s (${r.samplesPerSecond.toFixed(2)} clips/s end to end, 1 thread, OCR ${useOcr ? 'on' : 'off'}); ${cpus().length} cores, load ${load0.toFixed(1)} at start\n`);
  console.log(scoreTable(score));
  console.log('\n| stage | in | kept | dropped | clips/s | drops by reason |\n|---|---|---|---|---|---|');
  for (const s of r.stages) console.log(`| ${s.name} | ${s.in} | ${s.kept} | ${s.dropped} | ${s.samplesPerSecond === null ? '–' : s.samplesPerSecond.toFixed(2)} | ${Object.entries(s.droppedByReason).map(([k, v]) => `${k} ${v}`).join(', ')} |`);
  console.log('\nwrong drops (stage → reason → label):');
  for (const s of score.stages) for (const [reason, labelsOf] of Object.entries(s.confusion)) {
    const wrong = Object.entries(labelsOf).filter(([l]) => !s.meantFor.includes(l));
    if (wrong.length) console.log(`  ${s.stage} ${reason}: ${wrong.map(([l, n]) => `${l} ${n}`).join(', ')}`);
  }

  const dir = join(here, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'video-curate-quality.json');
  writeFileSync(
    file,
    JSON.stringify(
      {
        when: new Date().toISOString(),
        machine: { cores: cpus().length, cpu: cpus()[0]?.model, loadAtStart: load0 },
        set: { count, seed, noiseRate, side, seconds, fps: 8, kinds: Object.fromEntries(kinds) },
        ocr: useOcr,
        generateSeconds: genSeconds,
        curateSeconds,
        clipsPerSecond: r.samplesPerSecond,
        score,
        stages: r.stages,
        pending: ['clip_frame / clip_video: need the trained CLIP-style model (packages/vision/weights/mini-clip)', ...r.pending],
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwrote ${file}`);
} finally {
  if (!keepDir) await rm(work, { recursive: true, force: true });
}
