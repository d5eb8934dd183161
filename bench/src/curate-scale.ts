/**
 * The curation runner at scale: samples/s and peak memory (RSS) of a two-pass pipeline (a
 * per-sample caption check, then a global exact-duplicate stage) over small meta-only samples, at growing
 * dataset sizes in one process, and with 1, 2 and 4 queue workers on a local redis-server.
 *
 *   node bench/dist/curate-scale.js [--sizes 10k,100k,1M] [--queue-size 100k] [--queue-workers 1,2,4]
 *     [--per-shard 10000] [--dir /tmp/herd-curate-scale] [--heap-mib N] [--results name] [--keep]
 *
 * Every run happens in a fresh child process, whose peak RSS (getrusage maxrss) is reported; input
 * generation is a separate child and not counted. The queue runs count the coordinator's RSS and the
 * largest worker's. Prints tables and writes bench/results/curate-scale.json. Asserts nothing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { benchArgs } from './bench-args.js';
import { freeLoopbackPort } from '@herd/core';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: 'The curation runner at scale: samples/s and peak RSS of a two-pass pipeline over small meta-only samples at growing sizes, each run in a fresh child process, and with queue workers on a local redis-server.',
  writes: 'bench/results/<results>.json',
  flags: {
    sizes: { value: 'N,N,…', default: '10k,100k,1M', help: 'in-process runs, one per size (k and M suffixes)' },
    'queue-size': { value: 'N', default: '100k', help: 'samples of the queue runs' },
    'queue-workers': { value: 'K,K,…', default: '1,2,4', help: 'queue workers of each queue run (none: no queue runs)' },
    'per-shard': { value: 'N', default: '10000', help: 'samples per generated shard' },
    dir: { value: 'DIR', default: '/tmp/herd-curate-scale', help: 'where inputs (reused) and outputs go' },
    'heap-mib': { value: 'N', default: '0', help: "the curation children's --max-old-space-size (0: node's default)" },
    results: { value: 'NAME', default: 'curate-scale', help: "the result file's name" },
    keep: { help: 'keep the curated outputs' },
  },
  spawnsItself: true,
});
const count = (s: string): number => {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(s.trim());
  if (!m) throw new Error(`bad size ${s}`);
  return Math.round(Number(m[1]) * (m[2]?.toLowerCase() === 'k' ? 1e3 : m[2]?.toLowerCase() === 'm' ? 1e6 : 1));
};

interface ChildReport {
  seconds: number;
  maxRssMiB: number;
  in?: number;
  out?: number;
  processed?: number;
}

// ---- child modes -------------------------------------------------------------------------------

async function generate(dir: string, n: number, perShard: number): Promise<ChildReport> {
  const { writeDataset } = await import('@herd/data');
  const t0 = performance.now();
  // Meta-only samples (one tar member each). Every 10th caption repeats an earlier one (for the
  // dedup stage); every 50th is too short.
  async function* samples() {
    for (let i = 0; i < n; i++) {
      const caption = i % 50 === 49 ? 'ab' : i % 10 === 9 ? `a small red circle number ${i - 5}` : `a small red circle number ${i}`;
      yield { key: `s${String(i).padStart(9, '0')}`, files: {}, meta: { i, caption } };
    }
  }
  await writeDataset(dir, samples(), { samplesPerShard: perShard, name: `scale-${n}` });
  return { seconds: (performance.now() - t0) / 1000, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
}

async function curate(input: string, output: string, queue: string | undefined): Promise<ChildReport> {
  const { runPipeline } = await import('@herd/data');
  const t0 = performance.now();
  const res = await runPipeline({
    input,
    output,
    pipeline: { module: join(here, 'curate-scale-pipeline.js'), export: 'pipeline' },
    progress: null,
    ...(queue ? { queue: { url: queue } } : {}),
  });
  return { seconds: (performance.now() - t0) / 1000, maxRssMiB: process.resourceUsage().maxRSS / 1024, in: res.stats.in, out: res.stats.out };
}

async function queueWorker(url: string): Promise<ChildReport> {
  const { runQueueWorker } = await import('@herd/data');
  const ctl = new AbortController();
  process.on('SIGTERM', () => ctl.abort());
  const t0 = performance.now();
  const r = await runQueueWorker({ url, signal: ctl.signal, onReady: () => process.stdout.write('READY\n') });
  return { seconds: (performance.now() - t0) / 1000, maxRssMiB: process.resourceUsage().maxRSS / 1024, processed: r.processed };
}

if (cli.child) {
  const [mode, a, b, c] = cli.child as [string, string, string, string];
  // A line a minute on stderr, so that memory can be watched during long runs.
  const t0 = performance.now();
  setInterval(() => {
    const m = process.memoryUsage();
    process.stderr.write(`[${mode} ${b ?? ''}] ${((performance.now() - t0) / 1000).toFixed(0)} s: rss ${(m.rss / 2 ** 20).toFixed(0)} MiB, heap ${(m.heapUsed / 2 ** 20).toFixed(0)} MiB, peak rss ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB\n`);
  }, 60_000).unref();
  const report = mode === 'generate' ? await generate(a, Number(b), Number(c)) : mode === 'curate' ? await curate(a, b, c === '-' ? undefined : c) : await queueWorker(a);
  process.stdout.write(`REPORT ${JSON.stringify(report)}\n`);
  process.exit(0);
}

// ---- parent ------------------------------------------------------------------------------------

function runChild(childArgs: string[]): { proc: ChildProcess; report: Promise<ChildReport>; ready: Promise<void> } {
  // Generation keeps every key (the writer refuses duplicates): give it room. Curation runs under
  // --heap-mib when given, so that memory growing with the dataset would end the run, not hide in RSS.
  const heap = childArgs[0] === 'generate' ? 16384 : heapMiB;
  const proc = spawn(process.execPath, [...(heap ? [`--max-old-space-size=${heap}`] : []), fileURLToPath(import.meta.url), ...cli.childArgs(childArgs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let readyResolve: () => void = () => undefined;
  const ready = new Promise<void>((r) => (readyResolve = r));
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('READY')) readyResolve();
  });
  const report = new Promise<ChildReport>((resolve, reject) =>
    proc.on('exit', (code) => {
      const m = /REPORT (.*)/.exec(out);
      if (code === 0 && m) resolve(JSON.parse(m[1] as string) as ChildReport);
      else reject(new Error(`child ${childArgs.join(' ')} exited ${code}: ${out}`));
    }),
  );
  return { proc, report, ready };
}

const sizes = cli.flag('sizes').split(',').map(count);
const queueSize = count(cli.flag('queue-size'));
const queueWorkers = cli.flag('queue-workers').split(',').map(Number).filter((x) => x > 0);
const perShard = cli.number('per-shard');
const base = cli.flag('dir');
const keep = cli.has('keep');
const heapMiB = cli.number('heap-mib');
mkdirSync(base, { recursive: true });

async function inputOf(n: number): Promise<{ dir: string; genSeconds: number }> {
  const dir = join(base, `input-${n}`);
  if (existsSync(join(dir, 'manifest.json'))) return { dir, genSeconds: 0 };
  const r = await runChild(['generate', dir, String(n), String(perShard)]).report;
  process.stderr.write(`generated ${n} samples in ${r.seconds.toFixed(1)} s\n`);
  return { dir, genSeconds: r.seconds };
}

const results: Record<string, unknown>[] = [];
const table: string[][] = [['samples', 'workers', 'seconds', 'samples/s', 'samples/s/worker', 'peak RSS coord MiB', 'peak RSS worker MiB', 'kept']];
const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const save = (): void => {
  const file = join(here, '..', 'results', `${cli.flag('results')}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGiB: totalmem() / 2 ** 30, node: process.version }, perShard, heapMiB: heapMiB || null, results }, null, 2) + '\n');
};
const print = (): void => {
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  process.stdout.write('\n' + table.map((r) => r.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ')).join('\n') + '\n');
};

for (const n of sizes) {
  const { dir } = await inputOf(n);
  const output = join(base, `out-${n}`);
  rmSync(output, { recursive: true, force: true });
  const r = await runChild(['curate', dir, output, '-']).report;
  results.push({ mode: 'in-process', samples: n, seconds: r.seconds, samplesPerSecond: n / r.seconds, peakRssMiB: r.maxRssMiB, kept: r.out });
  table.push([String(n), 'in-process', fmt(r.seconds), fmt(n / r.seconds), '-', fmt(r.maxRssMiB), '-', String(r.out)]);
  print();
  save();
  if (!keep) rmSync(output, { recursive: true, force: true });
}

const redis = spawnSync('redis-server', ['--version']).status === 0;
if (!redis) process.stderr.write('redis-server not installed: queue runs skipped\n');
if (redis && queueWorkers.length > 0) {
  const { dir } = await inputOf(queueSize);
  const port = await freeLoopbackPort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const url = `redis://127.0.0.1:${port}`;
  try {
    for (const k of queueWorkers) {
      const workers = Array.from({ length: k }, () => runChild(['worker', url]));
      await Promise.all(workers.map((w) => w.ready));
      const output = join(base, `out-queue-${k}`);
      rmSync(output, { recursive: true, force: true });
      const r = await runChild(['curate', dir, output, url]).report;
      for (const w of workers) w.proc.kill('SIGTERM');
      const reports = await Promise.all(workers.map((w) => w.report));
      const workerRss = Math.max(...reports.map((x) => x.maxRssMiB));
      results.push({ mode: 'queue', workers: k, samples: queueSize, seconds: r.seconds, samplesPerSecond: queueSize / r.seconds, samplesPerSecondPerWorker: queueSize / r.seconds / k, coordinatorPeakRssMiB: r.maxRssMiB, workerPeakRssMiB: workerRss, shardsPerWorker: reports.map((x) => x.processed), kept: r.out });
      table.push([String(queueSize), `queue ${k}`, fmt(r.seconds), fmt(queueSize / r.seconds), fmt(queueSize / r.seconds / k), fmt(r.maxRssMiB), fmt(workerRss), String(r.out)]);
      print();
      save();
      if (!keep) rmSync(output, { recursive: true, force: true });
    }
  } finally {
    server.kill('SIGKILL');
  }
}
process.stdout.write(`\nmachine: ${cpus().length} × ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; ${perShard} samples per shard\n`);
