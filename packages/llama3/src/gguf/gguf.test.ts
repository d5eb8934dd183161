/**
 * GGUF writing, checked by reading the file back with our own reader, and the q/k permutation
 * checked both on a known matrix and by what it is for: rotate-half RoPE on the Hugging Face rows
 * must equal llama.cpp's interleaved RoPE on the permuted rows. (That llama.cpp itself then produces
 * the same greedy tokens is measured in bench/src/generate-throughput.ts, not tested here.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isHerdError } from '@herd/core';
import { type LlamaConfig, parseLlamaConfig, ropeFrequencies } from '../config.js';
import { initWeights } from '../model/graphs.js';
import { GgufType } from './format.js';
import { readGguf, readGgufTensor } from './read.js';
import { llama3RopeFactors, permuteRopeRows, syntheticVocab, writeLlamaGguf } from './write.js';

const dir = mkdtempSync(join(tmpdir(), 'herd-gguf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// GQA, untied output, Llama 3.1 RoPE scaling: every branch of the writer. Head dim 8 has wavelengths
// 6.3, 167, 4443, 118k: with originalMax 400 they are kept, blended, scaled, scaled.
const gqa: LlamaConfig = parseLlamaConfig({
  dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 300, ffnDim: 48, maxSeqLen: 64, normEps: 1e-5, ropeTheta: 500000,
  ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 400 },
});
const tied: LlamaConfig = parseLlamaConfig({ dim: 16, nLayers: 1, nHeads: 2, vocabSize: 40, ffnDim: 24, maxSeqLen: 32, tieEmbeddings: true });

function scalar(file: ReturnType<typeof readGguf>, key: string): unknown {
  const v = file.metadata.get(key);
  if (v === undefined) throw new Error(`missing metadata ${key}`);
  return v.value;
}

describe('permuteRopeRows', () => {
  it('interleaves the two halves of each head (known matrix)', () => {
    // 2 heads × head dim 4, 2 columns; row r holds [10r, 10r + 1].
    const w = Float32Array.from({ length: 16 }, (_, i) => 10 * Math.floor(i / 2) + (i % 2));
    const rows = Array.from(permuteRopeRows(w, 2, 2).filter((_, i) => i % 2 === 0), (x) => x / 10);
    // head 0: [re0 re1 | im0 im1] → [re0 im0 re1 im1]; head 1 likewise.
    expect(rows).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });

  it('turns rotate-half RoPE into llama.cpp interleaved RoPE', () => {
    const nHeads = 3, dh = 8, cols = 5, pos = 7;
    const w = Float32Array.from({ length: nHeads * dh * cols }, (_, i) => Math.sin(i * 1.3) + 0.1 * i);
    const x = Float32Array.from({ length: cols }, (_, i) => Math.cos(i));
    const matvec = (m: Float32Array) => Array.from({ length: nHeads * dh }, (_, r) => x.reduce((a, xv, c) => a + m[r * cols + c]! * xv, 0));
    const inv = ropeFrequencies(dh, 10000);
    const hf = matvec(w);
    const ours = matvec(permuteRopeRows(w, nHeads, cols));
    for (let h = 0; h < nHeads; h++) {
      for (let i = 0; i < dh / 2; i++) {
        const cos = Math.cos(pos * inv[i]!), sin = Math.sin(pos * inv[i]!);
        // HF: pairs (i, i + dh/2); llama.cpp LLAMA_ROPE_TYPE_NORM: pairs (2i, 2i + 1).
        const [a, b] = [hf[h * dh + i]!, hf[h * dh + i + dh / 2]!];
        const [c, d] = [ours[h * dh + 2 * i]!, ours[h * dh + 2 * i + 1]!];
        expect(c * cos - d * sin).toBeCloseTo(a * cos - b * sin, 10);
        expect(c * sin + d * cos).toBeCloseTo(a * sin + b * cos, 10);
      }
    }
  });

  it('rejects a shape that is not heads × even head dim', () => {
    expect(() => permuteRopeRows(new Float32Array(12), 4, 1)).toThrow(/head dim/);
  });
});

describe('writeLlamaGguf', () => {
  it('writes a GGUF v3 header llama.cpp reads as arch llama (f32, GQA, RoPE scaling)', async () => {
    const w = initWeights(gqa, 3);
    const path = join(dir, 'gqa.gguf');
    const report = await writeLlamaGguf(path, gqa, w, { dtype: 'f32' });
    const bytes = readFileSync(path);
    expect(report.bytes).toBe(bytes.length);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('GGUF');
    const f = readGguf(path);
    expect(f.version).toBe(3);
    expect(f.alignment).toBe(32);
    expect(f.dataOffset % 32).toBe(0);

    expect(scalar(f, 'general.architecture')).toBe('llama');
    expect(scalar(f, 'general.file_type')).toBe(0);
    const u32s = {
      'llama.context_length': 64, 'llama.embedding_length': 32, 'llama.block_count': 2, 'llama.feed_forward_length': 48,
      'llama.attention.head_count': 4, 'llama.attention.head_count_kv': 2, 'llama.rope.dimension_count': 8, 'llama.vocab_size': 300,
    };
    for (const [k, v] of Object.entries(u32s)) {
      expect(f.metadata.get(k), k).toEqual({ type: 'u32', value: v });
    }
    expect(f.metadata.get('llama.rope.freq_base')).toEqual({ type: 'f32', value: 500000 });
    expect(scalar(f, 'llama.attention.layer_norm_rms_epsilon')).toBeCloseTo(1e-5, 10);
    expect(scalar(f, 'tokenizer.ggml.model')).toBe('llama');
    const tokens = f.metadata.get('tokenizer.ggml.tokens');
    expect(tokens?.type === 'array' && tokens.itemType === 'string' && tokens.value.length).toBe(300);
    expect(f.metadata.get('tokenizer.ggml.token_type')?.type).toBe('array');
    expect(GgufType[f.metadata.get('tokenizer.ggml.add_bos_token')!.type]).toBe(GgufType.bool);

    const names = f.tensors.map((t) => t.name);
    expect(names).toContain('rope_freqs.weight');
    expect(names).toContain('output.weight');
    for (const n of ['token_embd', 'output_norm']) expect(names).toContain(`${n}.weight`);
    for (const b of ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down']) {
      expect(names).toContain(`blk.1.${b}.weight`);
    }
    expect(f.tensors).toHaveLength(1 + 1 + 2 * 9 + 1 + 1);
    const info = (n: string) => f.tensors.find((t) => t.name === n)!;
    expect(info('token_embd.weight').ne).toEqual([32, 300]); // [V, D] → ne [D, V]
    expect(info('blk.0.attn_k.weight').ne).toEqual([32, 16]);
    expect(info('blk.0.ffn_down.weight').ne).toEqual([48, 32]);
    expect(info('blk.0.attn_norm.weight').ne).toEqual([32]);
    for (const t of f.tensors) {
      expect(t.type).toBe('F32');
      expect(t.offset % 32).toBe(0);
    }
    // Tensors tile the data section in order, each padded to 32 bytes, and fill the file.
    const last = f.tensors[f.tensors.length - 1]!;
    expect(f.dataOffset + Math.ceil((last.offset + 4 * last.ne.reduce((a, b) => a * b, 1)) / 32) * 32).toBe(bytes.length);

    expect(readGgufTensor(path, f, 'token_embd.weight')).toEqual(w['model.embed_tokens.weight']!.data);
    expect(readGgufTensor(path, f, 'blk.1.attn_v.weight')).toEqual(w['model.layers.1.self_attn.v_proj.weight']!.data);
    expect(readGgufTensor(path, f, 'blk.1.attn_q.weight')).toEqual(permuteRopeRows(w['model.layers.1.self_attn.q_proj.weight']!.data, 4, 32));
    expect(readGgufTensor(path, f, 'blk.1.attn_k.weight')).toEqual(permuteRopeRows(w['model.layers.1.self_attn.k_proj.weight']!.data, 2, 32));
    expect(readGgufTensor(path, f, 'rope_freqs.weight')).toEqual(llama3RopeFactors(gqa));
  });

  it('Llama 3.1 rope factors divide the base frequencies into ours', () => {
    const factors = llama3RopeFactors(gqa)!;
    const base = ropeFrequencies(8, gqa.ropeTheta);
    const scaled = ropeFrequencies(8, gqa.ropeTheta, gqa.ropeScaling);
    factors.forEach((f, i) => expect(Math.abs(base[i]! / f / scaled[i]! - 1)).toBeLessThan(1e-6)); // both rounded to f32
    expect(factors[0]).toBe(1);
    expect(factors[1]).toBeGreaterThan(1);
    expect(factors[1]).toBeLessThan(8);
    expect(factors[2]).toBe(8);
    expect(factors[3]).toBe(8);
  });

  it('f16 keeps 1-D tensors in f32 and leaves output.weight out when tied', async () => {
    const w = initWeights(tied, 5);
    const path = join(dir, 'tied-f16.gguf');
    await writeLlamaGguf(path, tied, w, { dtype: 'f16', name: 'tiny' });
    const f = readGguf(path);
    expect(scalar(f, 'general.file_type')).toBe(1);
    expect(scalar(f, 'general.name')).toBe('tiny');
    const names = f.tensors.map((t) => t.name);
    expect(names).not.toContain('output.weight');
    expect(names).not.toContain('rope_freqs.weight');
    for (const t of f.tensors) expect(t.type).toBe(t.ne.length === 1 ? 'F32' : 'F16');
    const embd = readGgufTensor(path, f, 'token_embd.weight');
    const src = w['model.embed_tokens.weight']!.data;
    embd.forEach((v, i) => expect(Math.abs(v - src[i]!)).toBeLessThan(1e-4));
    expect(readGgufTensor(path, f, 'output_norm.weight')).toEqual(w['model.norm.weight']!.data);
  });

  it('reports every mismatched parameter at once and writes nothing', async () => {
    const w: Record<string, { dtype: 'f32'; shape: number[]; data: Float32Array }> = initWeights(tied, 1);
    delete w['model.norm.weight'];
    w['model.layers.0.mlp.up_proj.weight'] = { dtype: 'f32', shape: [3, 3], data: new Float32Array(9) };
    const bits = w['model.layers.0.mlp.gate_proj.weight']!;
    const withBits = { ...w, 'model.layers.0.mlp.gate_proj.weight': { dtype: 'f16' as const, shape: bits.shape, data: new Uint16Array(bits.data.length) } };
    const path = join(dir, 'bad.gguf');
    const err = await writeLlamaGguf(path, tied, withBits, { dtype: 'f32' }).catch((e: unknown) => e);
    expect(isHerdError(err, 'checkpoint_mismatch')).toBe(true);
    expect((err as Error).message).toMatch(/missing 'model\.norm\.weight'/);
    expect((err as Error).message).toMatch(/up_proj\.weight' has shape \[3,3\]/);
    expect((err as Error).message).toMatch(/gate_proj\.weight' holds a Uint16Array/);
    expect(() => readGguf(path)).toThrow();
  });
});

describe('syntheticVocab', () => {
  it('has the SentencePiece specials, byte tokens when they fit, and exactly size tokens', () => {
    const v = syntheticVocab(300);
    expect(v.tokens).toHaveLength(300);
    expect(v.tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    expect(v.tokens[3 + 0x0a]).toBe('<0x0A>');
    expect(new Set(v.tokens).size).toBe(300);
    expect(syntheticVocab(40).tokens).toHaveLength(40);
    expect(syntheticVocab(40).tokens).not.toContain('<0x0A>');
  });
});
