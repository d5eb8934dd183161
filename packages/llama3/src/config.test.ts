import { isHerdError, type HerdErrorCode } from '@herd/core';
import { describe, expect, it } from 'vitest';
import { fromHfConfig, parameterCount, parseLlamaConfig, ropeFrequencies, ropeFrequenciesFor } from './config.js';
import { PRESET_NAMES, loadPreset } from './presets/index.js';

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

function expectCode(fn: () => unknown, code: HerdErrorCode, ...fragments: (string | RegExp)[]): void {
  const e = thrown(fn);
  expect(isHerdError(e, code), `${code} expected, got ${e.message}`).toBe(true);
  for (const f of fragments) expect(e.message).toMatch(f);
}

const tiny = { dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 100, ffnDim: 128, maxSeqLen: 32 };

describe('parseLlamaConfig', () => {
  it('fills defaults, derives headDim, and freezes', () => {
    const c = parseLlamaConfig(tiny);
    expect(c).toEqual({
      ...tiny,
      headDim: 16,
      normEps: 1e-5,
      ropeTheta: 500000,
      ropeScaling: null,
      tieEmbeddings: false,
      crossAttentionEvery: null,
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(parseLlamaConfig(c)).toEqual(c); // a parsed config parses again unchanged
    expect(parseLlamaConfig({ ...tiny, nKvHeads: undefined }).nKvHeads).toBe(4);
  });

  it('rejects unknown keys, suggesting the near one and listing the valid keys', () => {
    expectCode(() => parseLlamaConfig({ ...tiny, nKVHeads: 2, hidden_size: 3 }), 'unknown_config_key', "'nKVHeads' (did you mean 'nKvHeads'?)", "'hidden_size'", /valid keys: dim, nLayers, nHeads, nKvHeads/);
    expectCode(
      () => parseLlamaConfig({ ...tiny, ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192, kind: 'x' } }),
      'unknown_config_key',
      'ropeScaling',
      "'kind'",
    );
  });

  it('checks invariants and reports every bad field at once', () => {
    expectCode(() => parseLlamaConfig({ ...tiny, dim: 66 }), 'invalid_config', 'dim (66) must be divisible by nHeads (4)');
    expectCode(() => parseLlamaConfig({ ...tiny, nKvHeads: 3 }), 'invalid_config', 'nHeads (4) must be a multiple of nKvHeads (3)');
    expectCode(() => parseLlamaConfig({ ...tiny, dim: 60 }), 'invalid_config', 'head dim dim/nHeads = 15 must be even');
    expectCode(() => parseLlamaConfig({ ...tiny, headDim: 32 }), 'invalid_config', 'headDim (32) must equal dim / nHeads = 64 / 4 = 16');
    expectCode(
      () => parseLlamaConfig({ ...tiny, vocabSize: undefined, nLayers: 0, normEps: -1, tieEmbeddings: 'yes', crossAttentionEvery: 5 }),
      'invalid_config',
      /nLayers must be a positive integer[\s\S]*vocabSize is required[\s\S]*normEps[\s\S]*tieEmbeddings/,
    );
    expectCode(() => parseLlamaConfig({ ...tiny, crossAttentionEvery: 3 }), 'invalid_config', 'crossAttentionEvery (3) must be at most nLayers (2)');
    expectCode(
      () => parseLlamaConfig({ ...tiny, ropeScaling: { factor: 0.5, lowFreqFactor: 4, highFreqFactor: 1, originalMaxPositionEmbeddings: 8192 } }),
      'invalid_config',
      /factor must be >= 1[\s\S]*highFreqFactor \(1\) must be greater than lowFreqFactor \(4\)/,
    );
    expectCode(() => parseLlamaConfig([]), 'invalid_config', 'must be an object');
  });
});

describe('fromHfConfig', () => {
  // The shape of meta-llama/Llama-3.2-1B's config.json (numbers as published).
  const hf1b = {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 128000,
    eos_token_id: 128001,
    head_dim: 64,
    hidden_act: 'silu',
    hidden_size: 2048,
    initializer_range: 0.02,
    intermediate_size: 8192,
    max_position_embeddings: 131072,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: 32,
    num_hidden_layers: 16,
    num_key_value_heads: 8,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    rope_theta: 500000.0,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    transformers_version: '4.45.0.dev0',
    use_cache: true,
    vocab_size: 128256,
  };

  it('reads a Llama 3.2 1B config.json into the same config as the preset', () => {
    expect(fromHfConfig(hf1b)).toEqual(loadPreset('llama3.2-1b'));
  });

  it('handles a Llama 3.0 style config without rope_scaling or head_dim', () => {
    const c = fromHfConfig({ ...hf1b, rope_scaling: null, head_dim: undefined, tie_word_embeddings: false, max_position_embeddings: 8192 });
    expect(c.ropeScaling).toBeNull();
    expect(c.headDim).toBe(64);
    expect(c.tieEmbeddings).toBe(false);
    expect(c.maxSeqLen).toBe(8192);
  });

  it('rejects what the core cannot run and names the missing fields', () => {
    expectCode(
      () => fromHfConfig({ ...hf1b, hidden_act: 'gelu', attention_bias: true, rope_scaling: { rope_type: 'yarn', factor: 4 }, model_type: 'mistral' }),
      'invalid_config',
      /model_type[\s\S]*hidden_act[\s\S]*attention_bias[\s\S]*"yarn"/,
    );
    expectCode(() => fromHfConfig({ model_type: 'llama', hidden_size: 64 }), 'invalid_config', /num_hidden_layers is required[\s\S]*vocab_size is required[\s\S]*intermediate_size is required/);
    expectCode(() => fromHfConfig({ ...hf1b, head_dim: 128 }), 'invalid_config', /headDim \(128\)[\s\S]*hidden_size=dim/);
  });
});

describe('presets', () => {
  it('have the paper numbers (§3, Table 3) and the right parameter counts', () => {
    const c8 = loadPreset('llama3-8b');
    expect([c8.nLayers, c8.dim, c8.ffnDim, c8.nHeads, c8.nKvHeads, c8.vocabSize, c8.ropeTheta]).toEqual([32, 4096, 14336, 32, 8, 128256, 500000]);
    expect(c8.ropeScaling).toEqual({ factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    const c70 = loadPreset('llama3-70b');
    expect([c70.nLayers, c70.dim, c70.ffnDim, c70.nHeads, c70.nKvHeads]).toEqual([80, 8192, 28672, 64, 8]);
    const c405 = loadPreset('llama3-405b');
    expect([c405.nLayers, c405.dim, c405.ffnDim, c405.nHeads, c405.nKvHeads]).toEqual([126, 16384, 53248, 128, 8]);
    // Published sizes: 8.03B, 70.6B, 405.9B, 1.24B, 3.21B.
    expect(parameterCount(c8)).toBe(8_030_261_248);
    expect(parameterCount(c70)).toBe(70_553_706_496);
    expect(parameterCount(c405)).toBe(405_853_388_800);
    expect(parameterCount(loadPreset('llama3.2-1b'))).toBe(1_235_814_400);
    expect(parameterCount(loadPreset('llama3.2-3b'))).toBe(3_212_749_824);
    expect(loadPreset('llama3.2-3b')).toMatchObject({ dim: 3072, nLayers: 28, nHeads: 24, nKvHeads: 8, headDim: 128, ffnDim: 8192, tieEmbeddings: true });
  });

  it('mini needs its vocabSize from the pruned vocabulary', () => {
    expectCode(() => loadPreset('mini'), 'invalid_config', "vocabSize: prunedVocab.size");
    const mini = loadPreset('mini', { vocabSize: 4321 });
    expect(mini).toMatchObject({ dim: 256, nLayers: 4, nHeads: 8, nKvHeads: 2, headDim: 32, ffnDim: 768, vocabSize: 4321, tieEmbeddings: true });
  });

  it('all parse; unknown names and override keys are refused', () => {
    expect(PRESET_NAMES).toEqual(['llama3-8b', 'llama3-70b', 'llama3-405b', 'llama3.2-1b', 'llama3.2-3b', 'mini']);
    for (const name of PRESET_NAMES) expect(loadPreset(name, { vocabSize: 128256 }).vocabSize).toBe(128256);
    expectCode(() => loadPreset('llama3-7b'), 'invalid_config', 'valid presets: llama3-8b, llama3-70b');
    expectCode(() => loadPreset('mini', { vocabSize: 10, dimm: 3 }), 'unknown_config_key', "'dimm' (did you mean 'dim'?)");
  });
});

describe('ropeFrequencies', () => {
  it('without scaling is theta^(-2i/d)', () => {
    expect(Array.from(ropeFrequencies(8, 10000))).toEqual([1, 0.1, 0.01, 0.001].map(Math.fround));
  });

  it('with Llama 3.1 scaling keeps high frequencies, divides low ones, blends between (hand-computed)', () => {
    // theta 1e6, d 8: freqs 1, 1e6^-0.25, 1e-3, 1e6^-0.75; wavelengths 6.28, 198.7, 6283.2, 198692.
    // With originalMax 8192: high-frequency cutoff 8192/4 = 2048, low-frequency cutoff 8192/1 = 8192.
    // i=2 is between: smooth = (8192/6283.185307 - 1)/3 = 0.101265764602935,
    //   f = (1 - smooth)·1e-3/8 + smooth·1e-3 = 2.1360754402756864e-4.
    const f8 = ropeFrequencies(8, 1e6, { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(Array.from(f8)).toEqual([1, 0.03162277660168379, 0.00021360754402756864, 3.952847075210474e-6].map(Math.fround));
    const f32 = ropeFrequencies(8, 1e6, { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(Array.from(f32)).toEqual([1, 0.03162277660168379, 0.00012935120945909383, 9.882117688026186e-7].map(Math.fround));
  });

  it('for the 8B preset: 64 frequencies, monotone, first kept and last divided by 8', () => {
    const c = loadPreset('llama3-8b');
    const f = ropeFrequenciesFor(c);
    expect(f.length).toBe(64);
    expect(f[0]).toBe(1);
    expect(f[63]).toBe(Math.fround(500000 ** (-126 / 128) / 8));
    for (let i = 1; i < f.length; i++) expect(f[i] as number).toBeLessThan(f[i - 1] as number);
    expect(() => ropeFrequencies(7, 1e4)).toThrow(/even/);
  });
});
