/**
 * Real-time factor of the speech path on CPU: 80-bin log-mel features (herd's own FFT) and the mini
 * Conformer encoder's forward pass, on 60 s of deterministic test audio.
 *
 *   node bench/dist/speech-frontend.js [--seconds 60] [--repeats 5]
 *
 * Prints a table and writes bench/results/speech-frontend.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as G from '@herd/graph';
import { Graph } from '@herd/graph';
import { Session, hostTensor } from '@herd/runtime';
import { LogMel, conformerEncoder, conformerParamSpecs, initSpeechWeights, loadSpeechPreset } from '@herd/speech';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: "Real-time factor of the speech path on CPU: 80-bin log-mel features (herd's own FFT) and the mini Conformer encoder's forward pass on deterministic test audio.",
  writes: 'bench/results/speech-frontend.json',
  flags: {
    seconds: { value: 'S', default: '60', help: 'seconds of 16 kHz test audio' },
    repeats: { value: 'N', default: '5', help: 'timed repeats' },
  },
});
const seconds = cli.number('seconds');
const repeats = cli.number('repeats');
const SR = 16000;

const audio = new Float32Array(seconds * SR);
let s = 1;
for (let i = 0; i < audio.length; i++) {
  s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
  const t = i / SR;
  audio[i] = 0.3 * Math.sin(2 * Math.PI * (200 + 50 * Math.sin(t)) * t) + 0.05 * (s / 4294967296 - 0.5);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// 1. Log-mel.
const lm = new LogMel();
lm.compute(audio.subarray(0, SR)); // warm-up
const melTimes: number[] = [];
let feats = lm.compute(audio);
for (let r = 0; r < repeats; r++) {
  const t0 = performance.now();
  feats = lm.compute(audio);
  melTimes.push((performance.now() - t0) / 1000);
}

// 2. Mini encoder forward over the same features (one utterance, f32, CPU).
const cfg = loadSpeechPreset('mini');
const T = Math.floor(feats.frames / cfg.stack) * cfg.stack;
const S = T / cfg.stack;
const g = new Graph();
const w = initSpeechWeights(cfg, conformerParamSpecs(cfg), 1);
const p = G.declareParams(g, conformerParamSpecs(cfg), (name, shape) => g.param(name, 'f32', shape as number[], { value: w[name]!.data }));
const h = conformerEncoder(cfg, p, g.input('features', 'f32', [1, T, cfg.nMels]), g.input('valid', 'bool', [1, S]));
const session = await Session.create(G.toOnnx(g, { outputs: { h }, name: 'conformer' }));
const feed = { features: hostTensor('f32', [1, T, cfg.nMels], feats.data.subarray(0, T * cfg.nMels)), valid: hostTensor('bool', [1, S], new Uint8Array(S).fill(1)) };
await session.run(feed);
const encTimes: number[] = [];
for (let r = 0; r < repeats; r++) {
  const t0 = performance.now();
  await session.run(feed);
  encTimes.push((performance.now() - t0) / 1000);
}
await session.release();

const rows = [
  { what: 'log-mel 80 × 10 ms (own FFT)', seconds: median(melTimes), rtf: median(melTimes) / seconds },
  { what: `mini Conformer forward (${cfg.nLayers} × ${cfg.dim}, ${S} frames)`, seconds: median(encTimes), rtf: median(encTimes) / seconds },
];
console.log(`speech frontend, ${seconds} s of audio, ${cpus().length} CPU cores (${cpus()[0]?.model ?? '?'}), median of ${repeats}`);
console.log('| stage | seconds | real-time factor |\n|---|---|---|');
for (const r of rows) console.log(`| ${r.what} | ${r.seconds.toFixed(3)} | ${r.rtf.toExponential(2)} |`);
const out = join(here, '../results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'speech-frontend.json'), JSON.stringify({ seconds, repeats, cores: cpus().length, cpu: cpus()[0]?.model, rows }, null, 2) + '\n');
