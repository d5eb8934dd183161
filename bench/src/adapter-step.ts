/**
 * Training-step time of the mini adapter recipes on the CPU, WebGPU or CUDA, herd against the same model
 * in PyTorch in the same run (bench/pytorch/adapter_step.py: same shapes, layer kinds and trained/frozen split):
 * - vision: the committed mini core (frozen) + the mini image encoder, projector and gated
 *   cross-attention adapter (trained), batch 16 × 48 tokens, one 48-px tile per image — the step
 *   `herd vision train` runs;
 * - speech: the mini core (frozen) + the mini Conformer encoder and adapter (trained), batch 8 ×
 *   144 tokens, 6 s of audio (600 log-mel frames) per utterance spliced between the markers — the
 *   step `herd speech train` runs at its defaults;
 * - video: the mini core, the committed mini image adapter (frozen; the middle frame's image
 *   keys/values fed, as the cached features are) + the temporal aggregator and the video
 *   cross-attention layers (trained) on cached frame features, batch 8 × 40 tokens, 8 frames of a
 *   2×2-tile frame (148 tokens) merged 4→1 — the step `herd video train --train-aggregator` runs
 *   (with the aggregator frozen after stage 0 the recipe's step is smaller: only the cross-attention).
 * AdamW (decay 0.01, clip 1) on the trained groups, as the recipes. On a GPU the parameters and
 * optimizer moments stay on the device between steps (TrainingRun, as the recipes run there); the batch is
 * fed from the host each step, as the recipes feed it. The peer runs on CUDA when herd's device is not the
 * CPU (--torch-device overrides).
 *
 * The peer's BLAS decides its speed: Debian's python3-torch 1.13 links the generic reference libblas
 * (~1 GFLOP/s here, 12× slower than with OpenBLAS on the video step). For a fair peer run with
 * LD_LIBRARY_PATH at an OpenBLAS libblas.so.3 (Debian's libopenblas0-pthread) and OPENBLAS_NUM_THREADS=1.
 *
 *   node bench/dist/adapter-step.js [--model vision|speech|video] [--device cpu|webgpu|cuda] [--torch-device cpu|cuda]
 *                                   [--steps N] [--warmup N] [--threads N] [--no-torch]
 *
 * Prints a table and writes bench/results/adapter-step-<model>-<device>.json. Asserts nothing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, encodeF16 } from '@herd/core';
import { type LmGraphSpec, buildLmTraining, headDim, loadLanguageCore } from '@herd/llama3';
import { DEFAULT_DEVICE, DEVICE_REQUESTS, type HostTensor, TrainingRun, hostTensor, isDeviceRequest, resolveDevice } from '@herd/runtime';
import { AUDIO_END, AUDIO_START, KEEP_TOKEN, SPEECH_ADAPTER_GROUP, SPEECH_ENCODER_GROUP, audioTokens, featureFeeds, loadSpeechPreset, miniSpeechModel, speechAdapterSpecs, speechEncoderSpecs, speechSpec } from '@herd/speech';
import { ADAPTER_GROUP, ENCODER_GROUPS, adapterBatch, coreAttachPoints, type VisionWeights, freshMiniVision, loadMiniVision, miniVisionConfig, tileImage, visionTrainingExtension } from '@herd/vision';
import { type ClipFeatures, VIDEO_GROUPS, frameTokens, miniVideoConfig, videoBatch, videoLayers, videoModelSpec, videoParamSpecs } from '@herd/video';
import * as G from '@herd/graph';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: 'Training-step time of a mini adapter recipe (vision, speech or video) on the CPU, WebGPU or CUDA, herd against the same model in PyTorch (bench/pytorch/adapter_step.py) in the same run.',
  writes: 'bench/results/adapter-step-<model>-<device>.json',
  flags: {
    model: { value: 'vision|speech|video', default: 'vision', help: "the recipe whose step is timed" },
    device: { value: DEVICE_REQUESTS.join('|'), default: DEFAULT_DEVICE, help: "herd's device" },
    'torch-device': { value: 'cpu|cuda', help: "the peer's device (default: cpu when herd's is cpu, else cuda)" },
    steps: { value: 'N', default: '10', help: 'timed steps (the median is reported)' },
    warmup: { value: 'N', default: '3', help: 'untimed steps first' },
    threads: { value: 'N', default: String(cpus().length), help: "herd's and the peer's CPU threads" },
    python: { value: 'PATH', default: existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', help: 'the python with torch that runs the peer' },
    'no-torch': { help: 'skip the PyTorch peer' },
    'peer-config': { value: 'PATH', help: "write the peer's model config (JSON: shapes, no device or step counts) to PATH and exit, for running bench/pytorch/adapter_step.py alone" },
  },
});
const model = cli.flag('model');
if (model !== 'vision' && model !== 'speech' && model !== 'video') throw new Error(`--model must be vision, speech or video, got '${model}'`);
const deviceFlag = cli.flag('device');
if (!isDeviceRequest(deviceFlag)) throw new Error(`--device must be one of ${DEVICE_REQUESTS.join(', ')}, got '${deviceFlag}'`);
const device = resolveDevice(deviceFlag).device;
const torchDevice = cli.flag('torch-device') ?? (device === 'cpu' ? 'cpu' : 'cuda');
if (torchDevice !== 'cpu' && torchDevice !== 'cuda') throw new Error(`--torch-device must be cpu or cuda, got '${torchDevice}'`);
const steps = cli.number('steps');
const warmup = cli.number('warmup');
const threads = cli.number('threads');
const python = cli.flag('python');

const core = loadLanguageCore();
const c = core.config;
const rng = new Rng(1);
const OPT = { weightDecay: 0.01, clipNorm: 1 };

function hostValues(v: Readonly<Record<string, { readonly shape: readonly number[]; readonly data: unknown }>>): Record<string, HostTensor> {
  return Object.fromEntries(Object.entries(v).map(([k, t]) => [k, hostTensor('f32', t.shape, Float32Array.from(t.data as Float32Array))]));
}

/** The spec, trained groups, starting values (and frozen weights beyond the core's), one batch and the peer's config. */
function setup(): { spec: LmGraphSpec; train: string[]; values: Record<string, HostTensor>; frozen?: VisionWeights; batch: Record<string, HostTensor>; B: number; T: number; peer: Record<string, unknown> } {
  const coreShape = { dim: c.dim, nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: headDim(c), ffnDim: c.ffnDim, vocabSize: c.vocabSize, ropeTheta: c.ropeTheta };
  if (model === 'vision') {
    const m = miniVisionConfig(c);
    const B = 16, T = 48;
    const tokens = () => [1, m.imageTokenId, ...Array.from({ length: T - 2 }, () => rng.int(c.vocabSize))];
    const samples = Array.from({ length: B }, () => {
      const image = tileImage({ data: Uint8Array.from({ length: 48 * 48 * 3 }, () => rng.int(256)), width: 48, height: 48 }, m.vision);
      const t = tokens();
      return { image, tokens: t, targets: t.map((x, i) => (i >= T / 2 && i + 1 < T ? t[i + 1]! : -100)) };
    });
    return {
      spec: { config: c, extension: visionTrainingExtension(m) }, train: [...ENCODER_GROUPS, ADAPTER_GROUP], values: hostValues(freshMiniVision(m, 1, 0.5)), batch: adapterBatch(m, samples, T), B, T,
      peer: { model, core: coreShape, vision: m.vision, crossAt: coreAttachPoints(m.crossAttentionLayers), learnable: m.nLearnableTokens, batch: B, seqLen: T },
    };
  }
  if (model === 'video') return videoSetup(coreShape);
  const sm = miniSpeechModel(loadSpeechPreset('mini'), c);
  const B = 8, T = 144, F = 600;
  const A = audioTokens(sm.encoder, F);
  const tokens = new Int32Array(B * T).map(() => rng.int(c.vocabSize));
  const targets = new Int32Array(B * T).map((_, i) => (i % T >= T / 2 && i % T < T - 1 ? tokens[i + 1]! : -100));
  const index = new Int32Array(B * T).fill(KEEP_TOKEN);
  for (let b = 0; b < B; b++) {
    index[b * T + 8] = AUDIO_START;
    for (let a = 0; a < A; a++) index[b * T + 9 + a] = b * A + a;
    index[b * T + 9 + A] = AUDIO_END;
  }
  const utterances = Array.from({ length: B }, (_, b) => ({ frames: b < B / 2 ? F : (F * 3) / 4, features: Float32Array.from({ length: F * 80 }, () => rng.normal()) }));
  const values = hostValues(G.initParams([...speechEncoderSpecs(sm), ...speechAdapterSpecs(sm)], 1, { layers: sm.encoder.nLayers }));
  return {
    spec: speechSpec(c, sm, F), train: [SPEECH_ENCODER_GROUP, SPEECH_ADAPTER_GROUP], values, B, T,
    batch: {
      tokens: hostTensor('i32', [B, T], tokens), targets: hostTensor('i32', [B, T], targets),
      positions: hostTensor('i32', [B, T], Int32Array.from({ length: B * T }, (_, i) => i % T)), docIds: hostTensor('i32', [B, T]),
      ...featureFeeds(sm.encoder, utterances, F), audioIndex: hostTensor('i32', [B, T], index),
    },
    peer: { model, core: coreShape, encoder: sm.encoder, adapter: sm.adapter, frames: F, batch: B, seqLen: T },
  };
}

/** The video step's setup: random cached features (f16, as the feature table holds them) and middle-frame keys/values of a 2×2-tile clip. */
function videoSetup(coreShape: Record<string, unknown>): ReturnType<typeof setup> {
  const vision = loadMiniVision(undefined, core);
  const m = miniVideoConfig(vision.config);
  const clip = m.video.finetune;
  const B = 8, T = 40;
  const S = frameTokens(m.image), D = c.dim, K = c.nKvHeads, dh = headDim(c);
  const clips = new Map<string, ClipFeatures>(Array.from({ length: B }, (_, b) => [`clip-${b}`, {
    features: encodeF16(Float32Array.from({ length: clip.frames * S * D }, () => rng.normal())),
    frameMask: new Uint8Array(S).fill(1),
    aspectRatioId: m.image.vision.supportedAspectRatios.findIndex(([r, c]) => r * c === m.image.vision.maxTiles) + 1,
    kv: Object.fromEntries(m.image.crossAttentionLayers.flatMap((_, j) => [`xattn.k.${j}`, `xattn.v.${j}`]).map((n) => [n, Float32Array.from({ length: K * S * dh }, () => rng.normal())])),
  }]));
  const seqs = [...clips.keys()].map((key) => {
    const t = [1, m.image.imageTokenId, ...Array.from({ length: T - 2 }, () => rng.int(c.vocabSize))];
    return { clip: key, tokens: t, targets: t.map((x, i) => (i >= T / 2 && i + 1 < T ? t[i + 1]! : -100)) };
  });
  const r = m.video.resampler;
  return {
    spec: videoModelSpec(m, clip, 'frames'), train: [...VIDEO_GROUPS], values: hostValues(G.initParams(videoParamSpecs(m), 1, { layers: c.nLayers })), frozen: vision.weights, batch: videoBatch(m, clip, clips, seqs, T), B, T,
    peer: {
      model, core: coreShape, batch: B, seqLen: T, frames: clip.frames, groupFrames: clip.groupFrames, frameTokens: S,
      resampler: { latents: r.latents, layers: r.layers, heads: r.heads, ffnDim: r.ffnDim, frameDifference: r.frameDifference, positionTokens: r.positionTokens },
      imageAt: coreAttachPoints(m.image.crossAttentionLayers), videoAt: videoLayers(m).map((l) => l.coreLayer), crossFfnDim: m.video.crossFfnDim || c.ffnDim, imageFfnDim: c.ffnDim, learnable: m.image.nLearnableTokens,
    },
  };
}

const s = setup();
const peerConfig = cli.flag('peer-config');
if (peerConfig !== undefined) {
  writeFileSync(peerConfig, JSON.stringify(s.peer));
  process.exit(0);
}

async function herd() {
  const t0 = performance.now();
  const graphs = buildLmTraining(s.spec, { ...core.weights, ...s.frozen, ...s.values }, { batch: s.B, seqLen: s.T, train: s.train, optimizer: OPT });
  const run = await TrainingRun.create(graphs, s.values, { device, threads, modelDir: core.dir });
  const compileMs = performance.now() - t0;
  for (let i = 0; i < warmup; i++) await run.trainStep(s.batch, 1e-3);
  const times: number[] = [];
  let loss = 0;
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    // The step returns the loss on the host, so a timed step includes the device's work.
    loss = (await run.trainStep(s.batch, 1e-3)).loss;
    times.push(performance.now() - t);
  }
  const ranOn = run.device;
  await run.release();
  times.sort((a, b) => a - b);
  return { impl: 'herd (onnxruntime-node 1.30, f32)', device: ranOn, threads, msPerStep: times[Math.floor(times.length / 2)]!, minMs: times[0]!, peakRssMiB: process.resourceUsage().maxRSS / 1024, trainedParams: graphs.layout.size, compileMs, finalLoss: loss };
}

function torch(): Record<string, unknown> | { error: string } {
  const script = join(here, '..', 'pytorch', 'adapter_step.py');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'OPENBLAS_CORETYPE' && k !== 'OPENBLAS_L2_SIZE'));
  const r = spawnSync(python, [script, JSON.stringify({ ...s.peer, device: torchDevice, steps, warmup, threads })], { encoding: 'utf8', env });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || 'failed').trim().split('\n').slice(-3).join(' ') };
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

const ours = await herd();
const peer = cli.has('no-torch') ? { error: 'skipped (--no-torch)' } : torch();
const ratio = 'msPerStep' in peer ? ours.msPerStep / (peer['msPerStep'] as number) : undefined;
const result = {
  benchmark: `adapter-step-${model}`,
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30) },
  shape: s.peer,
  steps,
  herd: ours,
  pytorch: peer,
  ratioOursOverPytorch: ratio,
};
const fmt = (v: unknown) => (typeof v === 'number' ? v.toFixed(1) : String(v ?? '-'));
console.log(`\nadapter-step (${model}): mini recipe training step, batch ${s.B} × ${s.T} tokens, frozen mini core (median of ${steps} steps)`);
console.log('| impl | device | threads | ms/step | min ms | peak RSS MiB | trained params |');
console.log('|---|---|---|---|---|---|---|');
console.log(`| ${ours.impl} | ${ours.device} | ${ours.threads} | ${fmt(ours.msPerStep)} | ${fmt(ours.minMs)} | ${fmt(ours.peakRssMiB)} | ${ours.trainedParams} |`);
if ('msPerStep' in peer) console.log(`| ${String(peer['impl'])} | ${String(peer['device'])} | ${String(peer['threads'])} | ${fmt(peer['msPerStep'])} | ${fmt(peer['minMs'])} | ${fmt(peer['peakRssMiB'])} | ${String(peer['trainedParams'])} |`);
else console.log(`| pytorch | - | | ${peer.error} | | | |`);
console.log(`ratio herd/pytorch: ${ratio !== undefined ? ratio.toFixed(2) : 'n/a'}`);
const outDir = join(here, '..', 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `adapter-step-${model}-${ours.device}.json`), JSON.stringify(result, null, 2));
