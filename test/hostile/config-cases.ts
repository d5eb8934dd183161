/**
 * Hostile Hugging Face model folders for the config reader (`readHfLlamaConfig`) and the model loader
 * (`loadHfLlama`, which adds the weights): refused naming config.json and its folder, or accepted with
 * a warning where issue 14 asks for one.
 */
import { mkdirSync, truncateSync } from 'node:fs';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { castFloat, hostTensor, writeSafetensorsSync } from '@herd/core';
import { type LlamaConfig, initWeights, loadHfLlama, parseLlamaConfig, readHfLlamaConfig, toHfConfig } from '@herd/llama3';
import { deepJson, makeFifo, write } from './build.js';
import { type HostileTable } from './cases.js';

const TINY: LlamaConfig = parseLlamaConfig({ dim: 16, nLayers: 1, nHeads: 2, vocabSize: 24, ffnDim: 32, maxSeqLen: 16 });
const GOOD = toHfConfig(TINY);
const GOOD_TEXT = JSON.stringify(GOOD, null, 2);

/** `text` as dir/config.json; the reader is given the folder. */
function config(dir: string, text: string | Uint8Array): { input: string; names: string } {
  return { input: dir, names: write(join(dir, 'config.json'), text) };
}

const withKey = (k: string, v: unknown): string => JSON.stringify({ ...GOOD, [k]: v });

interface ConfigResult {
  readonly config: LlamaConfig;
  readonly warnings: readonly string[];
}

const warned = (...fragments: (string | RegExp)[]) => (r: unknown): void => {
  const { config: c, warnings } = r as ConfigResult;
  assert.deepEqual(c, TINY);
  const text = warnings.join('\n');
  for (const f of fragments) assert.ok(typeof f === 'string' ? text.includes(f) : f.test(text), `warnings ${JSON.stringify(text)} lack ${String(f)}`);
};

export const CONFIG_CASES: HostileTable = {
  reader: 'config.json',
  read: (dir) => {
    const warnings: string[] = [];
    const c = readHfLlamaConfig(dir, warnings);
    return { config: c, warnings } satisfies ConfigResult;
  },
  cases: [
    { name: 'not JSON', build: (d) => config(d, 'hidden_size = 16\n'), expect: { code: 'invalid_config', says: ['config file', 'not acceptable JSON', 'line 1 column 1'] } },
    { name: 'empty', build: (d) => config(d, ''), expect: { code: 'invalid_config', says: ['is empty; expected a JSON object'] } },
    { name: 'only whitespace', build: (d) => config(d, '  \n\t\n'), expect: { code: 'invalid_config', says: ['is empty'] } },
    {
      name: 'a UTF-8 byte-order mark',
      build: (d) => config(d, `\ufeff${GOOD_TEXT}`),
      expect: { accept: 'editors on Windows write a BOM; it carries no meaning', check: warned() },
    },
    {
      name: 'config.json is a directory',
      build: (d) => {
        mkdirSync(join(d, 'config.json'));
        return { input: d, names: join(d, 'config.json') };
      },
      expect: { code: 'invalid_config', says: ['is a directory, not a file'] },
    },
    {
      name: 'config.json is a FIFO (must not hang)',
      build: (d) => {
        const p = makeFifo(join(d, 'config.json'));
        return p === undefined ? undefined : { input: d, names: p };
      },
      expect: { code: 'invalid_config', says: ['FIFO'] },
    },
    {
      name: 'an extra key nested 100000 deep',
      build: (d) => config(d, `${GOOD_TEXT.slice(0, -1)}, "extra": ${deepJson(100_000)}}`),
      expect: { code: 'invalid_config', says: ['nesting deeper than 64 levels'] },
    },
    {
      name: 'a file far larger than any config',
      build: (d) => {
        const r = config(d, GOOD_TEXT);
        truncateSync(r.names, 17 * 1024 * 1024); // sparse: cheap to make
        return r;
      },
      expect: { code: 'invalid_config', says: ['is 17825792 bytes, more than the 16777216 accepted'] },
    },
    {
      name: 'bytes that are not UTF-8',
      build: (d) => config(d, Uint8Array.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])),
      expect: { code: 'invalid_config', says: ['not valid UTF-8'] },
    },
    { name: 'a key given twice', build: (d) => config(d, `${GOOD_TEXT.slice(0, -1)}, "hidden_size": 32}`), expect: { code: 'invalid_config', says: ['key "hidden_size" appears twice'] } },
    { name: 'a JSON array', build: (d) => config(d, '[]'), expect: { code: 'invalid_config', says: ['must be a JSON object'] } },
    {
      name: 'architectures as a string',
      build: (d) => config(d, withKey('architectures', 'LlamaForCausalLM')),
      expect: { code: 'invalid_config', says: ['architectures must be a list of strings, got "LlamaForCausalLM" (write ["LlamaForCausalLM"])'] },
    },
    {
      name: 'a missing field and an unsupported activation, reported together',
      build: (d) => {
        const { vocab_size: _drop, ...rest } = GOOD;
        return config(d, JSON.stringify({ ...rest, hidden_act: 'gelu' }));
      },
      expect: { code: 'invalid_config', says: [/hidden_act must be "silu"[\s\S]*vocab_size is required/] },
    },
    {
      name: 'a number given as text and an unsupported activation, reported together',
      build: (d) => config(d, JSON.stringify({ ...GOOD, hidden_size: '16', hidden_act: 'gelu' })),
      expect: { code: 'invalid_config', says: [/hidden_act must be "silu"[\s\S]*dim must be a positive integer, got "16"[\s\S]*hidden_size=dim/] },
    },
    {
      name: 'an unknown torch_dtype',
      build: (d) => config(d, withKey('torch_dtype', 'bfloat61')),
      expect: { accept: "herd reads each tensor's own dtype, so this only earns a warning", check: warned(/torch_dtype "bfloat61" is not one of .* \(did you mean 'bfloat16'\?\)/) },
    },
    {
      name: 'a misspelt key',
      build: (d) => config(d, withKey('rope_thetta', 1e6)),
      expect: { accept: 'a Hugging Face config carries keys herd has no use for: warned, with the closest known key', check: warned("ignoring unknown key in", "'rope_thetta' (did you mean 'rope_theta'?)") },
    },
    {
      name: 'architectures naming another model',
      build: (d) => config(d, withKey('architectures', ['MistralForCausalLM'])),
      expect: { accept: 'model_type and the numbers decide; the class name only earns a warning', check: warned('names no Llama class') },
    },
    {
      name: 'no config.json in the folder',
      build: (d) => ({ input: d, names: d }),
      expect: { code: 'io_error', says: ['no config.json (expected a Hugging Face model folder)'] },
    },
  ],
};

/** A tiny valid model folder whose model.norm.weight is `norm`. */
function modelFolder(dir: string, norm: number, dtype: 'bf16' | 'f32' = 'bf16'): { input: string; names: string } {
  write(join(dir, 'config.json'), GOOD_TEXT);
  const w = initWeights(TINY, 1);
  const tensors = Object.fromEntries(Object.entries(w).map(([k, t]) => [k, castFloat(k === 'model.norm.weight' ? hostTensor('f32', t.shape, new Float32Array(t.data.length).fill(norm)) : t, dtype)]));
  const path = join(dir, 'model.safetensors');
  writeSafetensorsSync(path, tensors);
  return { input: dir, names: path };
}

export const MODEL_FOLDER_CASES: HostileTable<{ dir: string; checkFinite?: boolean; external?: true }> = {
  reader: 'Llama model folder',
  read: ({ dir, checkFinite, external }) => {
    const o = checkFinite === undefined ? {} : { checkFinite };
    return external ? loadHfLlama(dir, { ...o, external }) : loadHfLlama(dir, o);
  },
  cases: [
    {
      name: 'an all-NaN model.norm.weight (bf16)',
      build: (d) => {
        const r = modelFolder(d, NaN);
        return { input: { dir: r.input }, names: r.names };
      },
      expect: { code: 'non_finite', says: [`tensor 'model.norm.weight' holds ${TINY.dim} non-finite values (NaN or ±Infinity) of ${TINY.dim}`] },
    },
    {
      name: 'an Infinity model.norm.weight left in the file (external f32 weights are scanned too)',
      build: (d) => {
        const r = modelFolder(d, Infinity, 'f32');
        return { input: { dir: r.input, external: true }, names: r.names };
      },
      expect: { code: 'non_finite', says: [`tensor 'model.norm.weight' holds ${TINY.dim} non-finite values`] },
    },
    {
      name: 'an all-NaN model.norm.weight with the check off',
      build: (d) => {
        const r = modelFolder(d, NaN);
        return { input: { dir: r.input, checkFinite: false }, names: r.names };
      },
      expect: {
        accept: 'checkFinite: false skips the scan for trusted checkpoints',
        check: (r) => assert.ok(Number.isNaN((r as { weights: Record<string, { data: Float32Array }> }).weights['model.norm.weight']?.data[0])),
      },
    },
    {
      name: 'a healthy folder',
      build: (d) => {
        const r = modelFolder(d, 1);
        return { input: { dir: r.input }, names: r.names };
      },
      expect: { accept: 'the control case: nothing wrong, nothing warned', check: (r) => assert.deepEqual((r as { warnings: string[] }).warnings, []) },
    },
  ],
};
