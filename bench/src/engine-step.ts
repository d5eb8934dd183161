/**
 * Training-step time of the reference model — a 4-layer Llama-style pre-norm transformer, d=256,
 * 8 heads, SwiGLU FFN 1024, vocab 512, seq 128, batch 16, AdamW with clipping — compiled by
 * herd to one ONNX step graph, against the same model in PyTorch in the same run.
 *
 *   node bench/dist/engine-step.js [--device cpu|webgpu|cuda] [--compute f32|f16] [--torch-device cpu|cuda] [--steps N] [--no-torch]
 *
 * Prints a table and writes bench/results/engine-step-<device>.json. Asserts nothing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_DEVICE, DEVICE_REQUESTS, isDeviceRequest, resolveDevice } from '@herd/runtime';
import { SHAPE as shape, referenceBatch, referenceRun } from './reference-model.js';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: "Training-step time of the reference model (4-layer Llama-style, d 256, seq 128 × batch 16, AdamW + clipping) compiled by herd to one ONNX step graph, against the same model in PyTorch in the same run.",
  writes: 'bench/results/engine-step-<device>[-f16].json',
  flags: {
    device: { value: DEVICE_REQUESTS.join('|'), default: DEFAULT_DEVICE, help: "herd's device" },
    compute: { value: 'f32|f16', default: 'f32', help: 'compute dtype (f16: f32 master weights)' },
    'torch-device': { value: 'cpu|cuda', help: "the peer's device (default: cpu when herd's is cpu, else cuda)" },
    steps: { value: 'N', default: '10', help: 'timed steps (the median is reported)' },
    warmup: { value: 'N', default: '3', help: 'untimed steps first' },
    threads: { value: 'N', default: String(cpus().length), help: "herd's and the peer's CPU threads" },
    // Debian's python3-torch lives with the system python, not a pyenv one earlier on PATH.
    python: { value: 'PATH', default: existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', help: 'the python with torch that runs the peer' },
    'no-torch': { help: 'skip the PyTorch peer' },
  },
});
const deviceFlag = cli.flag('device');
if (!isDeviceRequest(deviceFlag)) throw new Error(`--device must be one of ${DEVICE_REQUESTS.join(', ')}, got '${deviceFlag}'`);
const device = resolveDevice(deviceFlag).device;
const torchDevice = cli.flag('torch-device') ?? (device === 'cpu' ? 'cpu' : 'cuda');
const steps = cli.number('steps');
const warmup = cli.number('warmup');
const compute = cli.flag('compute') as 'f32' | 'f16';
const threads = cli.number('threads');
const python = cli.flag('python');

async function herd() {
  const t0 = performance.now();
  const { run, params } = await referenceRun(compute, { device, threads });
  const compileMs = performance.now() - t0;
  const batch = referenceBatch();
  for (let i = 0; i < warmup; i++) await run.trainStep(batch, 1e-3);
  const times: number[] = [];
  let loss = 0;
  for (let i = 0; i < steps; i++) {
    const s = performance.now();
    loss = (await run.trainStep(batch, 1e-3)).loss;
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  return { impl: `herd (onnxruntime-node 1.30, ${compute === 'f16' ? 'f16 compute + f32 masters' : 'f32'})`, device: run.device, threads, msPerStep: times[Math.floor(times.length / 2)]!, minMs: times[0]!, peakRssMiB: process.resourceUsage().maxRSS / 1024, params, compileMs, finalLoss: loss };
}

function torch(): Record<string, unknown> | { error: string } {
  const script = join(here, '..', 'pytorch', 'engine_step.py');
  // OPENBLAS_CORETYPE/L2_SIZE are set on our machines for old OpenBLAS builds and slow current ones: the peer runs without them.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'OPENBLAS_CORETYPE' && k !== 'OPENBLAS_L2_SIZE'));
  const r = spawnSync(python, [script, JSON.stringify({ ...shape, device: torchDevice, steps, warmup, threads })], { encoding: 'utf8', env });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || 'failed').trim().split('\n').slice(-3).join(' ') };
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

const ours = await herd();
const peer = cli.has('no-torch') ? { error: 'skipped (--no-torch)' } : torch();
const ratio = 'msPerStep' in peer ? ours.msPerStep / (peer['msPerStep'] as number) : undefined;
const result = {
  benchmark: 'engine-step',
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30) },
  shape,
  steps,
  herd: ours,
  pytorch: peer,
  ratioOursOverPytorch: ratio,
};
const fmt = (v: unknown) => (typeof v === 'number' ? v.toFixed(1) : String(v ?? '-'));
console.log(`\nengine-step: ${shape.nLayers}-layer d=${shape.dim} h=${shape.nHeads} seq=${shape.seqLen} batch=${shape.batch} AdamW (median of ${steps} steps)`);
console.log('| impl | device | threads | ms/step | min ms | peak RSS MiB |');
console.log('|---|---|---|---|---|---|');
console.log(`| ${ours.impl} | ${ours.device} | ${ours.threads} | ${fmt(ours.msPerStep)} | ${fmt(ours.minMs)} | ${fmt(ours.peakRssMiB)} |`);
if ('msPerStep' in peer) console.log(`| ${String(peer['impl'])} | ${String(peer['device'])} | ${String(peer['threads'])} | ${fmt(peer['msPerStep'])} | ${fmt(peer['minMs'])} | ${fmt(peer['peakRssMiB'])} |`);
else console.log(`| pytorch | - | | ${peer.error} | | |`);
console.log(`ratio herd/pytorch: ${ratio !== undefined ? ratio.toFixed(2) : 'n/a'}`);
const outDir = join(here, '..', 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `engine-step-${ours.device}${compute === 'f16' ? '-f16' : ''}.json`), JSON.stringify(result, null, 2));
