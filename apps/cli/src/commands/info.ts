/**
 * `herd info [checkpoint]`: what this machine offers (devices and why, the ONNX Runtime version) and,
 * for a model folder, what it holds (config, parameter count, dtypes, vocabulary, model card) —
 * read from config.json and the safetensors headers, without loading the weights.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { isHerdError, openSafetensors } from '@herd/core';
import { PrunedVocab, checkVocabularyFits, fromHfConfig, loadLlama3Tokenizer, parameterCount } from '@herd/llama3';
import { DEVICE_REQUESTS, deviceAvailability, ortVersion, resolveDevice } from '@herd/runtime';
import { DEVICE_FLAG, type Io, defineCommand } from '../command.js';
import { checkModelFolder, readJsonObject } from '../model-folder.js';

export const infoCommand = defineCommand({
  words: ['info'],
  summary: 'devices (which can run here and why), ONNX Runtime version, and what a model folder holds',
  usesDevice: false,
  positionals: [{ name: 'checkpoint', optional: true }],
  flags: { ...DEVICE_FLAG },
  async run({ positionals, io, deviceRequest }) {
    const out = (line = '') => io.stdout.write(`${line}\n`);
    out(`node ${process.version} · ${process.platform} ${process.arch} · ${availableParallelism()} CPUs`);
    out(`onnxruntime-node ${ortVersion()}`);
    out('devices:');
    for (const d of deviceAvailability()) out(`  ${d.device.padEnd(7)} ${(d.available ? 'available' : 'unavailable').padEnd(12)} ${d.why}`);
    const auto = resolveDevice('auto');
    out(`  auto    → ${auto.device} (${auto.reason.replace(/^auto: /, '')})`);
    // Shown even when the requested device is unavailable: this is where a user learns why.
    const from = deviceRequest.source === 'default' ? `default; set --device or HERD_DEVICE to one of ${DEVICE_REQUESTS.join(', ')}` : deviceRequest.source;
    try {
      const c = resolveDevice(deviceRequest.request);
      out(`this run: ${deviceRequest.request} (${from}) → ${c.device}: ${c.reason}`);
    } catch (e) {
      if (!isHerdError(e)) throw e;
      out(`this run: ${deviceRequest.request} (${from}) → ${e.code}: ${e.message}`);
    }
    const dir = positionals[0];
    if (dir !== undefined) await describeCheckpoint(resolve(dir), io);
  },
});

async function describeCheckpoint(dir: string, io: Io): Promise<void> {
  const out = (line = '') => io.stdout.write(`${line}\n`);
  checkModelFolder(dir);
  const raw = readJsonObject(join(dir, 'config.json'), 'the model config');
  const c = fromHfConfig(raw);
  out(`checkpoint ${dir}`);
  out(
    `  config: ${c.nLayers} layers, dim ${c.dim}, ${c.nHeads} query / ${c.nKvHeads} KV heads (head ${c.headDim}), FFN ${c.ffnDim}, ` +
      `vocab ${c.vocabSize.toLocaleString('en-US')}, context ${c.maxSeqLen}, RoPE θ ${c.ropeTheta}${c.ropeScaling ? ' (scaled)' : ''}, ` +
      `${c.tieEmbeddings ? 'tied' : 'separate'} embeddings`,
  );
  const st = openSafetensors(dir);
  const dtypes = new Map<string, number>();
  let stored = 0;
  const files = new Set<string>();
  for (const name of st.names()) {
    const t = st.info(name);
    stored += t.numel;
    files.add(t.file);
    dtypes.set(t.dtype, (dtypes.get(t.dtype) ?? 0) + 1);
  }
  const bytes = [...files].reduce((a, f) => a + statSync(f).size, 0);
  out(`  parameters: ${parameterCount(c).toLocaleString('en-US')} by the config, ${stored.toLocaleString('en-US')} stored in ${files.size} file${files.size > 1 ? 's' : ''} (${(bytes / 1e6).toFixed(1)} MB)`);
  out(`  dtypes: ${[...dtypes].map(([d, n]) => `${d} × ${n} tensors`).join(', ')}`);
  const vocabFile = typeof raw['herd_vocab'] === 'string' ? join(dir, raw['herd_vocab']) : undefined;
  const vocab = vocabFile ? PrunedVocab.load(vocabFile) : undefined;
  let fits = 'fits the Llama 3 tokenizer';
  try {
    checkVocabularyFits(dir, (await loadLlama3Tokenizer()).numIds, c.vocabSize, vocab);
  } catch (e) {
    if (!isHerdError(e)) throw e;
    fits = `does NOT fit the tokenizer: ${e.message}`;
  }
  out(`  vocabulary: ${vocab ? `pruned view of ${vocab.size} Llama 3 ids (${raw['herd_vocab']})` : `${c.vocabSize.toLocaleString('en-US')} ids`}; ${fits}`);
  const card = join(dir, 'MODEL_CARD.md');
  if (existsSync(card)) {
    const lines = readFileSync(card, 'utf8').split('\n');
    const title = lines.find((l) => l.startsWith('# '))?.slice(2) ?? '(untitled)';
    const start = lines.findIndex((l) => l.startsWith('# ')) + 1;
    const para: string[] = [];
    for (const l of lines.slice(start)) {
      if (l.trim() === '' && para.length) break;
      if (l.startsWith('#')) break;
      if (l.trim() !== '') para.push(l.trim());
    }
    out(`  model card: ${title}${para.length ? ` — ${para.join(' ')}` : ''}`);
    const headline = lines.find((l) => /^\*\*.+\*\*/.test(l.trim()));
    if (headline) out(`    ${headline.trim().replaceAll('**', '')}`);
  } else out('  model card: none (no MODEL_CARD.md)');
  const evalPath = join(dir, 'eval-text.json');
  if (existsSync(evalPath)) {
    const r = readJsonObject(evalPath, 'the scene-QA results');
    const pct = (x: unknown) => (typeof x === 'number' ? `${(100 * x).toFixed(1)}%` : '?');
    out(`  scene QA (eval-text.json): n = ${String(r['n'])}, exact ${pct(r['exact'])}, key words ${pct(r['keywords'])}`);
  }
}
