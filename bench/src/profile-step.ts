/**
 * Where the time of one training step goes: runs the engine-step model with ONNX Runtime profiling
 * and sums kernel time by operator type (and by our graph's role where the node name tells).
 *
 *   node bench/dist/profile-step.js [--device cpu|webgpu] [--steps N] [--compute f32|f16]
 *
 * Prints a table and writes bench/results/profile-step-<device>.json. On WebGPU the recorded times
 * are those of the CPU side of each kernel (dispatch), not GPU execution. Asserts nothing.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_DEVICE, DEVICE_REQUESTS, isDeviceRequest, resolveDevice } from '@herd/runtime';
import { referenceBatch, referenceRun } from './reference-model.js';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: "Where the time of one training step goes: the engine-step model run with ONNX Runtime profiling, kernel time summed by operator type (and by the graph's role where the node name tells).",
  writes: 'bench/results/profile-step-<device>[-f16].json',
  flags: {
    device: { value: DEVICE_REQUESTS.join('|'), default: DEFAULT_DEVICE, help: 'the device profiled (WebGPU: the CPU side of each kernel)' },
    steps: { value: 'N', default: '3', help: 'profiled steps (after one warm-up step)' },
    compute: { value: 'f32|f16', default: 'f32', help: 'compute dtype' },
  },
});
const deviceFlag = cli.flag('device');
if (!isDeviceRequest(deviceFlag)) throw new Error(`--device must be one of ${DEVICE_REQUESTS.join(', ')}, got '${deviceFlag}'`);
const device = resolveDevice(deviceFlag).device;
const steps = cli.number('steps');
const compute = cli.flag('compute') as 'f32' | 'f16';

const dir = join(tmpdir(), `herd-profile-${process.pid}`);
mkdirSync(dir, { recursive: true });
const { run } = await referenceRun(compute, { device, profilePrefix: join(dir, 'step') });
const batch = referenceBatch();
await run.trainStep(batch, 1e-3); // warm-up, kept out of the sums below by skipping the first run
for (let i = 0; i < steps; i++) await run.trainStep(batch, 1e-3);
run.endProfiling();
await run.release();

interface TraceEvent { cat?: string; name?: string; dur?: number; args?: { op_name?: string } }
const file = readdirSync(dir).find((f) => f.startsWith('step') && f.endsWith('.json'));
const events = JSON.parse(readFileSync(join(dir, file!), 'utf8')) as TraceEvent[];
rmSync(dir, { recursive: true, force: true });
const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
const kernels = events.filter((e) => e.cat === 'Node' && e.name?.endsWith('_kernel_time'));
// Only the timed runs: drop the share of the warm-up run (the first 1/(steps+1) of kernel events).
const perRun = Math.round(kernels.length / (steps + 1));
const timed = kernels.slice(perRun);
const byOp = new Map<string, { us: number; count: number }>();
for (const k of timed) {
  const op = k.args?.op_name ?? '?';
  const cur = byOp.get(op) ?? { us: 0, count: 0 };
  byOp.set(op, { us: cur.us + (k.dur ?? 0), count: cur.count + 1 });
}
const total = [...byOp.values()].reduce((a, b) => a + b.us, 0);
const rows = [...byOp].sort((a, b) => b[1].us - a[1].us);
const runMs = runs.slice(1).map((r) => (r.dur ?? 0) / 1000);
console.log(`\nprofile-step (${device}, ${compute}): ${steps} steps, ${perRun} kernels per step, model_run ${runMs.map((m) => m.toFixed(1)).join(' / ')} ms`);
console.log('| op | ms per step | share | kernels per step |');
console.log('|---|---|---|---|');
for (const [op, v] of rows.slice(0, 15)) console.log(`| ${op} | ${(v.us / 1000 / steps).toFixed(2)} | ${((100 * v.us) / total).toFixed(1)}% | ${(v.count / steps).toFixed(0)} |`);
const outDir = join(here, '..', 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `profile-step-${device}${compute === 'f16' ? '-f16' : ''}.json`), JSON.stringify({ benchmark: 'profile-step', date: new Date().toISOString(), device, compute, steps, kernelsPerStep: perRun, modelRunMs: runMs, byOp: Object.fromEntries(rows.map(([k, v]) => [k, { msPerStep: v.us / 1000 / steps, kernelsPerStep: v.count / steps }])) }, null, 2));
