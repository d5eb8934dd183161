/**
 * Generation throughput of the language core on CPU, batch 1, greedy: a 128-token prompt, then 128
 * generated tokens, for herd's decoder (ONNX on onnxruntime-node) and for llama.cpp (through
 * node-llama-cpp's prebuilt CPU binary) on the same weights, written as a GGUF by our own writer.
 * Models: `mini` (the mini preset's shape with vocab 2048, random weights unless --weights names a
 * Hugging Face folder) and `100m` (a 100M-parameter Llama 3 shape, random weights).
 *
 * llama.cpp is a bench-only install: `npm run bench:setup` first (see bench/src/llama-cpp.ts).
 *
 *   node bench/dist/generate-throughput.js [--models mini,100m] [--weights <hf-dir for mini>]
 *     [--prompt 128] [--gen 128] [--runs 3] [--warmup 1] [--threads 1,N] [--llama f32,f16]
 *     [--flash-attn off|on|auto] [--max-seconds 30] [--no-llama]
 *
 * llama.cpp variants: `f32` = f32 weights and KV cache, the same arithmetic as ours (the ratio the
 * issue asks for, and the greedy-token agreement check); `f16` = f16 weights and KV cache,
 * llama.cpp's usual setting, to show the peer at its best.
 * Prefill = prompt tokens / time to the first generated token; decode = the other generated tokens /
 * their time; total = generated tokens / whole request. Each a median over --runs after --warmup, at
 * each thread count (both engines get the same counts). Ratios ours/llama.cpp are given per thread
 * count and with each engine at its fastest count. The engines take turns run by run, so load from
 * other jobs on a shared machine falls on both alike. Prints tables and writes
 * bench/results/generate-throughput.json. Asserts nothing.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@herd/core';
import { Generator, type LlamaConfig, type Weights, buildDecoder, initWeights, loadHfLlama, loadPreset, parameterCount, parseLlamaConfig, writeLlamaGguf } from '@herd/llama3';
import { type LlamaContext, type LlamaModel, type Token, importLlamaCpp } from './llama-cpp.js';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
// Default 1 and all cores: ggml's spinning thread barriers lose badly when its threads take every
// core of a small machine (measured on 2 cores), so its best count may be below ours.
const all = availableParallelism();
const cli = benchArgs({
  about: "Generation throughput of the language core on CPU, batch 1, greedy (prefill, decode, total tokens/s): herd's decoder against llama.cpp (node-llama-cpp, `npm run bench:setup` first) on the same weights.",
  writes: 'bench/results/generate-throughput.json',
  flags: {
    models: { value: 'M,M', default: 'mini,100m', help: 'mini (the mini preset, vocab 2048) and/or 100m (a 100M Llama 3 shape), random weights' },
    weights: { value: 'HF_DIR', help: "a Hugging Face folder whose weights the mini model uses instead of random ones" },
    prompt: { value: 'N', default: '128', help: 'prompt tokens' },
    gen: { value: 'N', default: '128', help: 'generated tokens' },
    runs: { value: 'N', default: '3', help: 'timed runs (the median is reported)' },
    warmup: { value: 'N', default: '1', help: 'untimed runs first' },
    threads: { value: 'N,N,…', default: all > 1 ? `1,${all}` : '1', help: 'thread counts, both engines' },
    llama: { value: 'f32,f16', default: 'f32,f16', help: "llama.cpp's variants (f32: our arithmetic; f16: weights and KV cache in f16)" },
    // Off by default: on CPU it was no faster for decode here (and slower with an f32 KV cache).
    'flash-attn': { value: 'off|on|auto', default: 'off', help: "llama.cpp's flash attention" },
    // Per engine × thread count: ggml's spinning threads can slow down a hundredfold when they take
    // every core of a machine shared with other jobs, so each generation (warmup or timed) stops at
    // budget / (warmup + runs) and is recorded with the tokens it got (at least two).
    'max-seconds': { value: 'S', default: '30', help: 'time budget per engine and thread count' },
    'no-llama': { help: 'measure herd alone' },
  },
});
const models = cli.flag('models').split(',');
const weightsDir = cli.flag('weights') ?? '';
const promptLen = cli.number('prompt');
const genLen = cli.number('gen');
const runs = cli.number('runs');
const warmup = cli.number('warmup');
const threadList = [...new Set(cli.flag('threads').split(',').map(Number))];
const variants = cli.flag('llama').split(',') as ('f32' | 'f16')[];
const flashAttn = cli.flag('flash-attn');
const withLlama = !cli.has('no-llama');
const budgetMs = cli.number('max-seconds') * 1000;

interface Timing {
  prefillMs: number;
  decodeMs: number;
  totalMs: number;
  tokens: number[];
}

type Rate = 'prefillTokPerS' | 'decodeTokPerS' | 'totalTokPerS';
const RATES = { prefill: 'prefillTokPerS', decode: 'decodeTokPerS', total: 'totalTokPerS' } as const satisfies Record<string, Rate>;

interface Measured {
  engine: 'herd' | 'llama.cpp';
  /** llama.cpp: weight/KV dtype; herd: always f32. */
  variant: 'f32' | 'f16';
  threads: number;
  impl: string;
  loadMs: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  totalTokPerS: number;
  /** Per timed run; `generated` < --gen where the --max-seconds deadline stopped it. */
  runs: { prefillMs: number; decodeMs: number; totalMs: number; generated: number }[];
  tokens: number[];
}

interface Comparison {
  against: string;
  /** "n" for the same count, "best" for each engine at its fastest count. */
  threads: string;
  ratioOursOverLlamaCpp: Record<keyof typeof RATES, number>;
  greedyAgreement: { equal: number; of: number; identicalPrefix: number };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Times one streamed generation: the first token ends the prefill. */
async function timeStream(start: () => AsyncIterable<number>, deadlineMs: number): Promise<Timing> {
  const tokens: number[] = [];
  const t0 = performance.now();
  let t1 = t0;
  for await (const t of start()) {
    tokens.push(t);
    if (tokens.length === 1) t1 = performance.now();
    if (tokens.length >= genLen || (tokens.length >= 2 && performance.now() - t0 > deadlineMs)) break;
  }
  const t2 = performance.now();
  return { prefillMs: t1 - t0, decodeMs: t2 - t1, totalMs: t2 - t0, tokens };
}

type Head = Pick<Measured, 'engine' | 'variant' | 'threads' | 'impl' | 'loadMs'>;

function summarize(head: Head, timed: readonly Timing[]): Measured {
  const cut = timed.filter((t) => t.tokens.length < genLen).length;
  if (cut > 0) console.error(`  ${head.engine} ${head.variant} ×${head.threads}: ${cut} of ${timed.length} runs stopped early at the deadline`);
  const m: Measured = {
    ...head,
    prefillTokPerS: promptLen / (median(timed.map((t) => t.prefillMs)) / 1000),
    decodeTokPerS: median(timed.map((t) => (t.tokens.length - 1) / (t.decodeMs / 1000))),
    totalTokPerS: median(timed.map((t) => t.tokens.length / (t.totalMs / 1000))),
    runs: timed.map(({ prefillMs, decodeMs, totalMs, tokens }) => ({ prefillMs, decodeMs, totalMs, generated: tokens.length })),
    tokens: timed.reduce((a, t) => (t.tokens.length > a.length ? t.tokens : a), [] as number[]),
  };
  console.error(`  ${m.engine} ${m.variant} ×${m.threads}: prefill ${m.prefillTokPerS.toFixed(0)} tok/s, decode ${m.decodeTokPerS.toFixed(1)} tok/s, total ${m.totalTokPerS.toFixed(1)} tok/s`);
  return m;
}

/**
 * Runs the engines in turn (A B C, A B C, …) rather than one after another, so that load from other
 * jobs on a shared machine falls on all of them alike; the first `warmup` rounds are not timed.
 */
async function measureInterleaved(engines: readonly { head: Head; start: () => AsyncIterable<number> }[]): Promise<Measured[]> {
  const deadline = budgetMs / (warmup + runs);
  const timed = engines.map((): Timing[] => []);
  for (let round = 0; round < warmup + runs; round++) {
    for (const [i, e] of engines.entries()) {
      const t = await timeStream(e.start, deadline);
      if (round >= warmup) timed[i]!.push(t);
    }
  }
  return engines.map((e, i) => summarize(e.head, timed[i]!));
}

function compare(against: string, threads: string, ours: Measured, peer: Measured): Comparison {
  // Over the tokens both produced (a run stopped at the deadline has fewer).
  const n = Math.min(ours.tokens.length, peer.tokens.length);
  const firstDiff = ours.tokens.slice(0, n).findIndex((x, i) => x !== peer.tokens[i]);
  return {
    against,
    threads,
    ratioOursOverLlamaCpp: { prefill: ours.prefillTokPerS / peer.prefillTokPerS, decode: ours.decodeTokPerS / peer.decodeTokPerS, total: ours.totalTokPerS / peer.totalTokPerS },
    greedyAgreement: { equal: ours.tokens.slice(0, n).filter((x, i) => x === peer.tokens[i]).length, of: n, identicalPrefix: firstDiff < 0 ? n : firstDiff },
  };
}

const fastest = (xs: readonly Measured[]): Measured | undefined => xs.reduce<Measured | undefined>((b, x) => (b === undefined || x.totalTokPerS > b.totalTokPerS ? x : b), undefined);

function modelFor(name: string): { cfg: LlamaConfig; weights: Weights; source: string } {
  if (name === 'mini') {
    if (weightsDir) {
      const { config, weights } = loadHfLlama(weightsDir);
      return { cfg: config, weights, source: weightsDir };
    }
    const cfg = loadPreset('mini', { vocabSize: 2048 });
    return { cfg, weights: initWeights(cfg, 0), source: 'random weights, preset mini with vocab 2048' };
  }
  if (name === '100m') {
    const cfg = parseLlamaConfig({ dim: 768, nLayers: 12, nHeads: 12, nKvHeads: 4, ffnDim: 2048, vocabSize: 32000, maxSeqLen: 2048, tieEmbeddings: true });
    return { cfg, weights: initWeights(cfg, 0), source: 'random weights' };
  }
  throw new Error(`unknown model '${name}'; valid: mini, 100m`);
}

function version(pkg: string): string {
  try {
    let dir = dirname(createRequire(import.meta.url).resolve(pkg));
    for (let i = 0; i < 5; i++, dir = dirname(dir)) {
      try {
        const j = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (j.name === pkg) return j.version ?? '?';
      } catch {
        /* keep walking up */
      }
    }
  } catch {
    /* not installed */
  }
  return '?';
}

// build 'never' + skipDownload: use the prebuilt binary from npm, never compile or fetch anything.
const llamaCpp = withLlama ? await importLlamaCpp() : null;
const llama = llamaCpp
  ? await llamaCpp.getLlama({ gpu: false, build: 'never', skipDownload: true, maxThreads: Math.max(...threadList), logLevel: llamaCpp.LlamaLogLevel.error, progressLogs: false })
  : null;
const llamaSystemInfo = llama?.systemInfo;
// Other jobs on the machine change every figure here; the 1-minute load average is kept beside them.
const loadBefore = loadavg()[0];
const ggufDir = join(tmpdir(), `herd-bench-gguf-${process.pid}`);
const herdImpl = `herd (onnxruntime-node ${version('onnxruntime-node')})`;

interface ModelResult {
  model: string;
  source: string;
  config: LlamaConfig;
  params: number;
  gguf: Record<string, { bytes: number; writeMs: number }>;
  measured: Omit<Measured, 'tokens'>[];
  comparisons: Comparison[];
  llamaCppErrors: string[];
  tokens: Record<string, number[]>;
}
const results: ModelResult[] = [];

for (const name of models) {
  const { cfg, weights, source } = modelFor(name);
  const params = parameterCount(cfg);
  const rng = new Rng(1234);
  // Ids ≥ 3 skip the GGUF's <unk>/<s>/</s>; herd does not care.
  const prompt = Array.from({ length: promptLen }, () => 3 + rng.int(cfg.vocabSize - 3));
  console.error(`[${name}] ${(params / 1e6).toFixed(1)}M parameters`);
  let t = performance.now();
  const decoder = buildDecoder(cfg, weights);
  const buildMs = performance.now() - t;

  const gguf: ModelResult['gguf'] = {};
  const errors: string[] = [];
  const llamaModels: { variant: 'f32' | 'f16'; model: LlamaModel; loadMs: number }[] = [];
  for (const variant of llama ? variants : []) {
    const path = join(ggufDir, `${name}-${variant}.gguf`);
    try {
      mkdirSync(ggufDir, { recursive: true });
      t = performance.now();
      const { bytes } = await writeLlamaGguf(path, cfg, weights, { dtype: variant, name: `herd-${name}` });
      gguf[variant] = { bytes, writeMs: performance.now() - t };
      t = performance.now();
      llamaModels.push({ variant, model: await llama!.loadModel({ modelPath: path, gpuLayers: 0 }), loadMs: performance.now() - t });
    } catch (e) {
      errors.push(`${variant}: ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`);
    } finally {
      rmSync(path, { force: true }); // loaded (or failed): the file is no longer needed
    }
  }
  const impl = (variant: string): string =>
    `llama.cpp ${llama?.llamaCppRelease.release} (node-llama-cpp ${llamaCpp?.version ?? '?'}, ${variant} weights + KV, flash-attn ${flashAttn})`;

  const herd: Measured[] = [];
  const peers: Measured[] = [];
  for (const threads of threadList) {
    t = performance.now();
    const gen = await Generator.create(cfg, decoder, { device: 'cpu', threads });
    const engines = [{ head: { engine: 'herd', variant: 'f32', threads, impl: herdImpl, loadMs: buildMs + performance.now() - t } as Head, start: () => gen.generate(prompt, { maxNewTokens: genLen, temperature: 0 }) }];
    const contexts: LlamaContext[] = [];
    for (const { variant, model, loadMs } of llamaModels) {
      t = performance.now();
      const kv = variant === 'f32' ? 'F32' : 'F16';
      const ctx = await model.createContext({
        contextSize: promptLen + genLen,
        sequences: 1,
        threads: { ideal: threads, min: threads },
        flashAttention: flashAttn === 'auto' ? 'auto' : flashAttn === 'on',
        experimentalKvCacheKeyType: kv,
        experimentalKvCacheValueType: kv,
      });
      contexts.push(ctx);
      const seq = ctx.getSequence();
      engines.push({
        head: { engine: 'llama.cpp', variant, threads, impl: impl(variant), loadMs: loadMs + performance.now() - t },
        start: async function* () {
          await seq.clearHistory();
          // EOG ids of the synthetic vocab are ordinary ids to herd: keep generating through them.
          yield* seq.evaluate(prompt as Token[], { temperature: 0, yieldEogToken: true });
        },
      });
    }
    const [h, ...ps] = await measureInterleaved(engines);
    herd.push(h!);
    peers.push(...ps);
    await gen.release();
    for (const c of contexts) await c.dispose();
  }
  for (const m of llamaModels) await m.model.dispose();

  const comparisons: Comparison[] = [];
  for (const variant of variants) {
    const mine = peers.filter((p) => p.variant === variant);
    for (const p of mine) comparisons.push(compare(`llama.cpp ${variant}`, String(p.threads), herd.find((h) => h.threads === p.threads)!, p));
    const [h, l] = [fastest(herd), fastest(mine)];
    if (h && l) comparisons.push(compare(`llama.cpp ${variant}`, `best (${h.threads} vs ${l.threads})`, h, l));
  }
  const strip = ({ tokens: _t, ...rest }: Measured): Omit<Measured, 'tokens'> => rest;
  results.push({
    model: name,
    source,
    config: cfg,
    params,
    gguf,
    measured: [...herd, ...peers].map(strip),
    comparisons,
    llamaCppErrors: errors,
    tokens: Object.fromEntries([...herd, ...peers].map((m) => [`${m.engine} ${m.variant} x${m.threads}`, m.tokens])),
  });
}
await llama?.dispose();
rmSync(ggufDir, { recursive: true, force: true });

const fmt = (v: number | undefined, d = 1): string => (v === undefined ? '-' : v.toFixed(d));
console.log(`\ngenerate-throughput: batch 1, prompt ${promptLen} + ${genLen} generated, greedy, CPU, ${cpus().length} cores, load average ${fmt(loadBefore, 2)} → ${fmt(loadavg()[0], 2)} (median of ${runs} runs after ${warmup} warmup)`);
console.log('| model | params | threads | impl | prefill tok/s | decode tok/s | total tok/s | load ms |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of results) {
  for (const m of r.measured) {
    console.log(`| ${r.model} | ${fmt(r.params / 1e6)}M | ${m.threads} | ${m.impl} | ${fmt(m.prefillTokPerS, 0)} | ${fmt(m.decodeTokPerS)} | ${fmt(m.totalTokPerS)} | ${fmt(m.loadMs, 0)} |`);
  }
  for (const e of r.llamaCppErrors) console.log(`| ${r.model} | ${fmt(r.params / 1e6)}M | - | llama.cpp failed: ${e} | | | | |`);
}
console.log('\n| model | vs | threads | ours/llama.cpp prefill | decode | total | greedy tokens equal | identical prefix |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of results) {
  for (const c of r.comparisons) {
    const q = c.ratioOursOverLlamaCpp;
    const a = c.greedyAgreement;
    console.log(`| ${r.model} | ${c.against} | ${c.threads} | ${fmt(q.prefill, 2)} | ${fmt(q.decode, 2)} | ${fmt(q.total, 2)} | ${a.equal}/${a.of} | ${a.identicalPrefix} |`);
  }
}
const outDir = join(here, '..', 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(
  join(outDir, 'generate-throughput.json'),
  JSON.stringify(
    {
      benchmark: 'generate-throughput',
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), loadAvg1m: { before: loadBefore, after: loadavg()[0] }, llamaCppSystemInfo: llamaSystemInfo },
      settings: { promptLen, genLen, runs, warmup, maxSecondsPerEngineAndThreads: budgetMs / 1000, threads: threadList, llamaVariants: variants, flashAttn },
      results,
    },
    null,
    2,
  ),
);
