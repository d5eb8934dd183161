/**
 * The image curation pipeline end to end on generated images (the issue's "curate 100k generated
 * images" proof, at whatever size is asked): generates N labelled images (20 % noise of every kind)
 * in one child process, curates them in another (`curateImages`: quality, language ID, mini CLIP
 * filter, verified-pHash near-duplicates (+ the copy-detection embedding with --copy-detect), resampling; OCR off unless --ocr: it runs at
 * ~4 images/s), and reports wall time, samples/s, the curation child's peak RSS, and how much of each
 * labelled noise kind the curated set still holds (and how many clean samples it lost).
 *
 *   HERD_THREADS=1 nice -n 10 node bench/dist/curate-images-run.js [--count 10000] [--workers 0] [--ocr] [--no-models] [--copy-detect] [--dir /tmp/herd-curate-images] [--resume]
 *
 * `--resume` keeps an interrupted run's output folder (the runner skips its finished shards); the
 * times then cover this invocation only. HERD_THREADS sets the models' ONNX threads (default: all cores).
 *
 * Prints a table and writes bench/results/curate-images-run-<count>.json. Asserts nothing.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, getPriority, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isUnreadable, iterateDataset, writeDataset } from '@herd/data';
import { generateImages } from '@herd/datasets';
import { setDefaultThreads } from '@herd/runtime';
import { curateImages } from '@herd/vision';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: 'The image curation pipeline end to end: generates N labelled images (20 % noise) in one child process, curates them in another (curateImages), and reports time, samples/s, peak RSS and the noise left per label (ONNX threads: HERD_THREADS, default all cores).',
  writes: 'bench/results/curate-images-run-<count>.json',
  flags: {
    count: { value: 'N', default: '10000', help: 'generated images' },
    workers: { value: 'N', default: '0', help: "curateImages' worker processes (0: in-process)" },
    ocr: { help: 'run the OCR stage too (~4 images/s)' },
    'no-models': { help: 'without the mini CLIP filter' },
    'copy-detect': { help: 'the near-duplicate stage also uses the copy-detection embedding' },
    dir: { value: 'DIR', default: '/tmp/herd-curate-images', help: 'where input and output datasets go (an existing input-<count> is reused)' },
    resume: { help: "keep an interrupted run's output (the runner skips finished shards; times cover this invocation)" },
  },
  spawnsItself: true,
});
const count = cli.number('count');
const workers = cli.number('workers');
const base = cli.flag('dir');
const useOcr = cli.has('ocr');
const models = !cli.has('no-models');
const copyDetect = cli.has('copy-detect');
const resume = cli.has('resume');
const threads = process.env['HERD_THREADS'] === undefined ? undefined : Number(process.env['HERD_THREADS']);
if (threads !== undefined) setDefaultThreads(threads);

if (cli.child) {
  const [mode, a, b] = cli.child as [string, string, string];
  const t0 = performance.now();
  let report: unknown;
  if (mode === 'generate') {
    await writeDataset(a, generateImages({ seed: 42, count: Number(b), noiseRate: 0.2 }), { samplesPerShard: 1000, name: 'images' });
    report = { seconds: (performance.now() - t0) / 1000 };
  } else {
    const res = await curateImages(a, b, {
      workers,
      progress: null,
      ocr: useOcr ? {} : false,
      resample: { threshold: Math.max(2, Math.round(count / 20)), n: 1, seed: 1 },
      ...(models ? { clipModel: {} } : {}),
      ...(copyDetect ? { dedup: { copyDetect: true as const } } : {}),
    });
    report = { seconds: (performance.now() - t0) / 1000, report: res.report };
  }
  const cpu = process.cpuUsage();
  process.stdout.write(`REPORT ${JSON.stringify({ ...(report as object), cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`);
  process.exit(0);
}

function child(childArgs: string[]): Promise<{ seconds: number; cpuSeconds: number; maxRssMiB: number; report?: { in: number; out: number; stages: { name: string; in: number; kept: number; dropped: number; samplesPerSecond: number | null }[] } }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), ...cli.childArgs(childArgs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('exit', (code) => {
      const m = /REPORT (.*)/.exec(out);
      if (code === 0 && m) resolve(JSON.parse(m[1]!));
      else reject(new Error(`child ${childArgs[0]} exited ${code}: ${out.slice(-2000)}`));
    });
  });
}

mkdirSync(base, { recursive: true });
const input = join(base, `input-${count}`);
let genSeconds = 0;
let genCpuSeconds = 0;
if (!existsSync(join(input, 'manifest.json'))) {
  rmSync(input, { recursive: true, force: true });
  const g = await child(['generate', input, String(count)]);
  genSeconds = g.seconds;
  genCpuSeconds = g.cpuSeconds;
}
const output = join(base, `out-${count}-w${workers}${models ? '' : '-nomodels'}${copyDetect ? '-cd' : ''}`);
if (!resume) rmSync(output, { recursive: true, force: true });
const load0 = loadavg()[0]!;
const cur = await child(['curate', input, output]);
const load1 = loadavg()[0]!;

// What the curated set still holds, by noise label.
const labels = new Map<string, number>();
for await (const s of iterateDataset(input)) if (!isUnreadable(s)) { const k = String(s.meta['noise'] ?? 'clean'); labels.set(k, (labels.get(k) ?? 0) + 1); }
const kept = new Map<string, number>();
for await (const s of iterateDataset(output)) if (!isUnreadable(s)) { const k = String(s.meta['noise'] ?? 'clean'); kept.set(k, (kept.get(k) ?? 0) + 1); }
const byLabel = [...labels].sort().map(([k, n]) => ({ label: k, in: n, kept: kept.get(k) ?? 0 }));
const r = cur.report!;
const result = {
  machine: `${cpus().length} × ${cpus()[0]?.model}`, niced: getPriority(), threads: threads ?? null, resumed: resume, loadAverage: { start: load0, end: load1 }, count, workers, ocr: useOcr, models, copyDetect,
  generateSeconds: genSeconds, generateCpuSeconds: genCpuSeconds, curateSeconds: cur.seconds, curateCpuSeconds: cur.cpuSeconds, samplesPerSecond: r.in / cur.seconds, samplesPerCoreSecond: r.in / cur.cpuSeconds, peakRssMiB: cur.maxRssMiB, in: r.in, out: r.out,
  stages: r.stages.map((s) => ({ name: s.name, in: s.in, kept: s.kept, dropped: s.dropped, samplesPerSecond: s.samplesPerSecond })), byLabel,
};
console.log(`${count} images (generated in ${genSeconds.toFixed(0)} s, ${genCpuSeconds.toFixed(0)} CPU-s), curated in ${cur.seconds.toFixed(0)} s = ${result.samplesPerSecond.toFixed(1)} images/s (${cur.cpuSeconds.toFixed(0)} CPU-s = ${result.samplesPerCoreSecond.toFixed(1)} images/s per core), peak RSS ${cur.maxRssMiB.toFixed(0)} MiB, workers ${workers}, load ${load0.toFixed(1)}→${load1.toFixed(1)} on ${result.machine} (nice ${getPriority()}${resume ? ', resumed: this invocation only' : ''})`);
console.log('\n| stage | in | kept | dropped | samples/s |\n|---|---|---|---|---|');
for (const s of result.stages) console.log(`| ${s.name} | ${s.in} | ${s.kept} | ${s.dropped} | ${s.samplesPerSecond?.toFixed(1) ?? '–'} |`);
console.log('\n| label | in | still in the curated set |\n|---|---|---|');
for (const l of byLabel) console.log(`| ${l.label} | ${l.in} | ${l.kept} (${((100 * l.kept) / l.in).toFixed(1)} %) |`);
mkdirSync(join(here, '..', 'results'), { recursive: true });
writeFileSync(join(here, '..', 'results', `curate-images-run-${count}.json`), JSON.stringify(result, null, 2) + '\n');
