#!/usr/bin/env node
// The vision sweep of a GPU session (round 29, issue 9): many trainings of the mini vision line side by side on
// one device, each started when its inputs exist and when the step rates measured so far say it (and every run
// already going) can finish before the deadline. A run still going at the deadline is stopped; the summary says so.
//
//   node bench/device/vision-sweep.mjs            (bench/device/gpu-session-5.sh runs it; every setting is an env)
//
// Env: DATA (the images dataset), WORK (outputs: WORK/ck/NAME checkpoints, WORK/enc/NAME encoders, WORK/logs),
// DEVICE (webgpu), DEADLINE (epoch seconds; default now + 480), QA_STEPS (2500: the shipped line's), MIN_QA_STEPS
// (1000: fewer is not worth starting), QA_BATCH (16), ENC_SECONDS (200: the patch-4 encoder's time box), CAL_STEPS (100: steps timed
// before that box is sized), I_DIR / EWI_DIR / E_DIR (encoders made elsewhere), P4_COST (0.6: a patch-4 adapter
// step's speed against a patch-8 one), EXTRA_QA / EXTRA_ENC (more flags for every adapter / encoder run),
// P4_GATE (65,72: the patch-4 encoder's word / shape probe %, either of which lets its adapters run), ONLY (names: a try).
// Writes WORK/summary.json: every run's command, steps, seconds, exit status and what stopped or skipped it.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (k, d) => process.env[k] ?? d;
const fail = (msg) => { console.error(`vision-sweep: ${msg}`); process.exit(2); };
const num = (k, d) => { const v = Number(env(k, String(d))); if (!Number.isFinite(v)) fail(`${k} must be a number, got '${process.env[k]}'`); return v; };
const DATA = env('DATA'); const WORK = env('WORK', '/tmp/vision-sweep');
if (!DATA || !existsSync(DATA)) fail(`DATA must name an images dataset folder, got '${DATA ?? ''}'`);
const DEVICE = env('DEVICE', 'webgpu');
const now = () => Date.now() / 1000;
const DEADLINE = num('DEADLINE', now() + 480);
const QA_STEPS = num('QA_STEPS', 2500); const MIN_QA_STEPS = num('MIN_QA_STEPS', 1000);
const ENC_SECONDS = num('ENC_SECONDS', 200); const CAL_STEPS = num('CAL_STEPS', 100);
const P4_COST = num('P4_COST', 0.6);
const START_S = 35; const END_S = 30; // an adapter run's start (scenes, graphs) and end (tiny eval, save)
const ALPHA = 0.7; // a new run slows each running one by (k / (k + 1)) ** ALPHA: between free (0) and a full GPU (1)
const EXTRA_QA = env('EXTRA_QA', '').split(' ').filter(Boolean);
const EXTRA_ENC = env('EXTRA_ENC', '').split(' ').filter(Boolean);
const GATE = env('P4_GATE', '65,72').split(',').map(Number); // word %, shape %: either
const ONLY = env('ONLY', '').split(',').filter(Boolean); // run only these (a try on the VM)
for (const d of ['ck', 'enc', 'logs']) mkdirSync(join(WORK, d), { recursive: true });

// The shipped line (packages/vision/weights/mini's card) with the encoder, seed and steps of each run.
const shipped = ['--clip-steps', '0', '--dense-steps', '0', '--dense-lr', '0.003', '--freeze-encoder', '--train-projector', '--qk-gain', '2',
  '--key-word-share', '0.75', '--key-word-types', 'colour,shape,count,position,word', '--caption-steps', '0', '--zoom-steps', '0',
  '--single-steps', '0', '--gate-init', '0.5', '--batch', env('QA_BATCH', '16'), '--lr', '0.003', '--position-form', '--place-embeddings', '6',
  '--key-word-count-balance', '--eval-per-type', '1'];
const encoderHeads = ['--object-weight', '3', '--object-colour-weight', '2'];
const I = env('I_DIR'); const EWI = env('EWI_DIR'); const E = env('E_DIR', 'packages/vision/weights/mini-shape-encoder');
// In order of priority; `start`: at once, before any rate is known; `after`: not before that run has ended.
const plan = [
  { name: 'I-s1', kind: 'adapter', encoder: I, seed: 1, fixed: true, start: true },
  { name: 'I-s2', kind: 'adapter', encoder: I, seed: 2, fixed: true, start: true },
  { name: 'I-s3', kind: 'adapter', encoder: I, seed: 3, fixed: true, start: true },
  { name: 'enc-P4', kind: 'encoder', preset: 'mini-patch4', start: true, timeBox: ENC_SECONDS,
    args: [...encoderHeads, '--object-word-weight', '2', '--colour-augment', 'ink', '--seed', '1'],
    // Worth an adapter only if it codes the word or shape better than the patch-8 encoders (EWI 58.8 / 67.6 %; I 72.3 % shape).
    gate: (p) => p.word >= GATE[0] || p.shape >= GATE[1] },
  { name: 'EWI-s2', kind: 'adapter', encoder: EWI, seed: 2, fixed: true, start: true },
  { name: 'P4-s1', kind: 'adapter', encoder: 'enc-P4', preset: 'mini-patch4', seed: 1 },
  { name: 'P4-s2', kind: 'adapter', encoder: 'enc-P4', preset: 'mini-patch4', seed: 2 },
  { name: 'EWI-s3', kind: 'adapter', encoder: EWI, seed: 3, fixed: true },
  { name: 'E-s1', kind: 'adapter', encoder: E, seed: 1, fixed: true },
  { name: 'P4-s3', kind: 'adapter', encoder: 'enc-P4', preset: 'mini-patch4', seed: 3 },
].filter((j) => (j.kind !== 'adapter' || j.encoder) && (ONLY.length === 0 || ONLY.includes(j.name)));
const byName = Object.fromEntries(plan.map((j) => [j.name, j]));
for (const j of plan) Object.assign(j, { status: 'pending', samples: [] });

const log = (msg) => console.log(`[${Math.round(now() - START)} s] ${msg}`);
const START = now();

function launch(j, args, label = j.name) {
  const out = createWriteStream(join(WORK, 'logs', `${label}.log`));
  const child = spawn(args[0], args.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HERD_THREADS: '1' } });
  let rest = '';
  const onData = (buf) => {
    const lines = (rest + buf.toString()).split('\n');
    rest = lines.pop();
    for (const line of lines) {
      out.write(`${now().toFixed(1)} ${line}\n`);
      const m = /^(?:qa: batch|dense: step) (\d+)\//.exec(line);
      if (m) j.samples.push([now(), Number(m[1])]);
      j.lastLines = [...(j.lastLines ?? []).slice(-40), line];
    }
  };
  child.stdout.on('data', onData); child.stderr.on('data', onData);
  j.child = child; j.started = now(); j.samples = []; j.command = args.join(' ');
  return new Promise((resolve) => child.on('close', (code, signal) => { out.end(); resolve({ code, signal }); }));
}

// Steps per second over the last ~20 s of a run's progress lines (null until there are 10 s of them).
function rate(j) {
  const s = j.samples; if (s.length < 2) return null;
  const last = s[s.length - 1]; const first = s.find(([t]) => t >= last[0] - 20) ?? s[0];
  return last[0] - first[0] >= 10 ? (last[1] - first[1]) / (last[0] - first[0]) : null;
}
const running = () => plan.filter((j) => j.status === 'running');
const stepsLeft = (j) => j.steps - (j.samples.at(-1)?.[1] ?? 0);

async function runEncoder(j) {
  const base = ['node', 'bench/dist/vision-dense-encoder.js', '--device', DEVICE, '--data', DATA, '--preset', j.preset, ...j.args, ...EXTRA_ENC];
  // Time the steps first (a long run, stopped after CAL_STEPS), then size the run to the box.
  const cal = launch(j, [...base, '--out', join(WORK, 'enc', `${j.name}-calibration`), '--steps', '1000000'], `${j.name}-calibration`);
  while (!j.samples.some(([, n]) => n >= CAL_STEPS) && j.child.exitCode === null && now() < DEADLINE) await sleep(500);
  const a = j.samples.find(([, n]) => n >= CAL_STEPS / 2); const b = j.samples.find(([, n]) => n >= CAL_STEPS);
  try { process.kill(-j.child.pid, 'SIGKILL'); } catch { /* gone */ }
  await cal;
  if (!a || !b || b[0] <= a[0]) return { status: 'failed', reason: 'calibration gave no step time' };
  const secondsPerStep = (b[0] - a[0]) / (b[1] - a[1]);
  j.steps = Math.max(100, Math.floor((0.9 * j.timeBox) / secondsPerStep / 50) * 50);
  j.secondsPerStep = secondsPerStep;
  log(`${j.name}: ${secondsPerStep.toFixed(3)} s a step → ${j.steps} steps in its ${j.timeBox} s box`);
  const { code, signal } = await launch(j, [...base, '--out', join(WORK, 'enc', j.name), '--steps', String(j.steps)]);
  if (code !== 0) return { status: 'failed', reason: `exit ${code ?? signal}` };
  const probe = (k) => Number(/probe (\w+): ([\d.]+) %/.exec((j.lastLines ?? []).find((l) => l.startsWith(`probe ${k}:`)) ?? '')?.[2] ?? NaN);
  j.probe = { word: probe('word'), shape: probe('shape'), colour: probe('colour') };
  const pass = j.gate ? j.gate(j.probe) : true;
  return { status: pass ? 'done' : 'gated', reason: pass ? undefined : `probe word ${j.probe.word} %, shape ${j.probe.shape} %: below the gate` };
}

async function runAdapter(j) {
  const encoder = byName[j.encoder] ? join(WORK, 'enc', j.encoder) : j.encoder;
  const args = ['node', 'apps/cli/dist/main.js', 'vision', 'train', '--device', DEVICE, '--data', DATA, '--encoder-from', encoder,
    ...(j.preset ? ['--vision-preset', j.preset] : []), ...shipped, '--qa-steps', String(j.steps), '--seed', String(j.seed), ...EXTRA_QA,
    '--out', join(WORK, 'ck', j.name)];
  const { code, signal } = await launch(j, args);
  return code === 0 ? { status: 'done' } : { status: 'failed', reason: `exit ${code ?? signal}` };
}

// Whether j can start now, and with how many steps (null: not now).
function admit(j) {
  if (j.kind === 'encoder') return j.start ? j.timeBox : null;
  const dep = byName[j.encoder];
  if (dep && dep.status !== 'done') return null;
  if (j.after && ['pending', 'running'].includes(byName[j.after]?.status)) return null;
  if (j.start) return QA_STEPS;
  let rates = running().filter((r) => r.kind === 'adapter').map(rate).filter((r) => r !== null);
  if (rates.length === 0 && !running().some((r) => r.kind === 'adapter') && lastRate !== null) rates = [lastRate];
  if (rates.length === 0) return null;
  const k = running().length;
  const after = (rates.reduce((x, y) => x + y, 0) / rates.length) * (k === 0 ? 1 : (k / (k + 1)) ** ALPHA);
  const left = DEADLINE - now() - END_S;
  for (const r of running().filter((r) => r.kind === 'adapter')) if (stepsLeft(r) / after > left) return null; // would sink a running one
  const fit = Math.floor((after * (j.preset === 'mini-patch4' ? P4_COST : 1) * (left - START_S)) / 100) * 100;
  if (j.fixed) return fit >= QA_STEPS ? QA_STEPS : null;
  const steps = Math.min(QA_STEPS, fit);
  return steps >= MIN_QA_STEPS ? steps : null;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let lastRate = null; // the last adapter rate measured, for a start when none is running
const jobsDone = [];
let lastLaunch = 0;
log(`device ${DEVICE}, deadline in ${Math.round(DEADLINE - now())} s; ${plan.length} runs planned`);
while (now() < DEADLINE) {
  for (const j of plan.filter((j) => j.status === 'pending')) {
    const dep = byName[j.encoder];
    if (dep && ['failed', 'gated', 'skipped', 'stopped'].includes(dep.status)) Object.assign(j, { status: 'skipped', reason: `${dep.name} ${dep.status}` });
  }
  const pending = plan.filter((j) => j.status === 'pending');
  if (pending.length === 0 && running().length === 0) break;
  // Nothing more can start if every pending run waits on a rate and none is running to give one.
  if (running().length === 0 && pending.every((j) => admit(j) === null)) { for (const j of pending) Object.assign(j, { status: 'skipped', reason: 'could not be fitted' }); break; }
  for (const j of pending) {
    if (!j.start && now() - lastLaunch < 15) break; // let the rates settle after each start
    const steps = admit(j);
    if (steps === null) continue;
    j.status = 'running'; j.steps = steps; lastLaunch = now();
    log(`start ${j.name}${j.kind === 'adapter' ? ` (${steps} steps, seed ${j.seed}, encoder ${j.encoder})` : ''}`);
    jobsDone.push((j.kind === 'encoder' ? runEncoder(j) : runAdapter(j)).then((r) => {
      const s = j.samples;
      if (j.kind === 'adapter' && s.length > 1 && s.at(-1)[0] - s[0][0] >= 5) lastRate = (s.at(-1)[1] - s[0][1]) / (s.at(-1)[0] - s[0][0]);
      Object.assign(j, r, { ended: now() }); j.child = undefined;
      log(`${j.name}: ${j.status}${j.reason ? ` (${j.reason})` : ''} after ${Math.round(j.ended - j.started)} s`);
    }));
    if (!j.start) break;
  }
  await sleep(2000);
}
for (const j of running()) { try { process.kill(-j.child.pid, 'SIGTERM'); } catch { /* gone */ } j.stoppedAtDeadline = true; }
await sleep(3000);
for (const j of running()) { try { process.kill(-j.child.pid, 'SIGKILL'); } catch { /* gone */ } }
await Promise.all(jobsDone);
for (const j of plan) if (j.stoppedAtDeadline) Object.assign(j, { status: 'stopped', reason: `still running at the deadline (${j.samples.at(-1)?.[1] ?? 0} of ${j.steps} steps)` });
for (const j of plan.filter((j) => j.status === 'pending')) Object.assign(j, { status: 'skipped', reason: 'never fitted before the deadline' });

const summary = plan.map((j) => ({
  name: j.name, kind: j.kind, status: j.status, reason: j.reason, encoder: j.encoder, preset: j.preset ?? 'mini', seed: j.seed, steps: j.steps,
  seconds: j.ended && j.started ? Math.round(j.ended - j.started) : undefined, stepsPerSecond: j.samples.length > 1 ? (j.samples.at(-1)[1] - j.samples[0][1]) / (j.samples.at(-1)[0] - j.samples[0][0]) : undefined,
  secondsPerStep: j.secondsPerStep, probe: j.probe, command: j.command,
}));
writeFileSync(join(WORK, 'summary.json.tmp'), JSON.stringify({ device: DEVICE, seconds: Math.round(now() - START), runs: summary }, null, 2));
renameSync(join(WORK, 'summary.json.tmp'), join(WORK, 'summary.json'));
for (const s of summary) console.log(`${s.name.padEnd(8)} ${s.status.padEnd(8)} ${String(s.steps ?? '').padStart(6)} steps ${String(s.seconds ?? '').padStart(4)} s ${s.stepsPerSecond?.toFixed(2) ?? ''}/s ${s.reason ?? ''}${s.probe ? ` probe ${JSON.stringify(s.probe)}` : ''}`);
