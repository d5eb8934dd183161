/**
 * Writes a Llama decoder as a GGUF v3 file that llama.cpp loads as architecture `llama`, the way
 * llama.cpp's `convert_hf_to_gguf.py` (LlamaModel) converts a Hugging Face checkpoint: same metadata
 * keys, same tensor names, q/k rows permuted to Meta's interleaved RoPE layout, Llama 3.1 RoPE
 * scaling as a `rope_freqs.weight` tensor, `output.weight` left out when embeddings are tied.
 *
 * Legend: V vocab, D model dim, H query heads, K kv heads, Dh head dim, F FFN dim.
 */
import { endianness } from 'node:os';
import { HerdError, ProblemList, encodeF16, writeFileAtomic } from '@herd/core';
import { type LlamaConfig } from '../config.js';
import { type Weights } from '../model/graphs.js';
import { llamaParamSpecs } from '../model/weights.js';
import {
  FileType,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  GgmlType,
  type GgmlTypeName,
  GgufType,
  type GgufScalarType,
  type GgufTensorInfo,
  type GgufValue,
  TokenType,
  alignUp,
  bytesPerElement,
} from './format.js';

/** A tokenizer for the GGUF's `tokenizer.ggml.*` keys; llama.cpp refuses a model without one. */
export interface GgufVocab {
  /** `llama` = SentencePiece (needs no merges), `gpt2` = byte-level BPE (needs `merges`). */
  readonly model: 'llama' | 'gpt2';
  readonly tokens: readonly string[];
  readonly scores?: readonly number[];
  /** `TokenType` values, one per token. */
  readonly tokenTypes?: readonly number[];
  readonly merges?: readonly string[];
  /** `tokenizer.ggml.pre` (BPE pre-tokenizer name, e.g. `llama-bpe`). */
  readonly pre?: string;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly unkId?: number;
}

export interface WriteGgufOptions {
  /** Element type of the matrices; 1-D tensors (norms, rope factors) stay f32 as llama.cpp's converter keeps them. */
  readonly dtype: 'f32' | 'f16';
  /** Defaults to `syntheticVocab(cfg.vocabSize)`: enough for llama.cpp to run on token ids. */
  readonly vocab?: GgufVocab;
  /** `general.name`. */
  readonly name?: string;
}

export interface WriteGgufReport {
  readonly bytes: number;
  readonly tensors: number;
}

/**
 * A SentencePiece-style vocabulary of `size` placeholder tokens: `<unk>` 0, `<s>` 1, `</s>` 2, then
 * the 256 byte tokens `<0x00>`…`<0xFF>` when they fit (llama.cpp looks up `<0x0A>` as the newline
 * token and only warns when it is missing), then `t{i}`. It exists so that a model trained on its
 * own token ids can be run by llama.cpp on those ids; it does not tokenize text meaningfully.
 */
export function syntheticVocab(size: number): GgufVocab {
  if (!Number.isSafeInteger(size) || size < 3) throw new HerdError('invalid_argument', `syntheticVocab: size must be an integer ≥ 3, got ${size}`);
  const tokens = ['<unk>', '<s>', '</s>'];
  const types: number[] = [TokenType.unknown, TokenType.control, TokenType.control];
  if (size >= 3 + 256) {
    for (let b = 0; b < 256; b++) {
      tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      types.push(TokenType.byte);
    }
  }
  for (let i = tokens.length; i < size; i++) {
    tokens.push(`t${i}`);
    types.push(TokenType.normal);
  }
  return { model: 'llama', tokens, scores: tokens.map(() => 0), tokenTypes: types, bosId: 1, eosId: 2, unkId: 0 };
}

/**
 * Hugging Face q/k rows (rotate-half RoPE: each head is [real half | imaginary half]) reordered to
 * Meta's interleaved layout (pairs (2i, 2i+1)) that llama.cpp's `llama` architecture rotates; the
 * converter's `permute(w, n_head)`: w.reshape(n, 2, Dh/2, in).swapaxes(1, 2).reshape(n·Dh, in).
 * Row h·Dh + 2i + s of the result is row h·Dh + s·Dh/2 + i of `w` ([nHeads·Dh, cols], row-major).
 */
export function permuteRopeRows(w: ArrayLike<number>, nHeads: number, cols: number): Float32Array {
  const rows = w.length / cols;
  if (!Number.isInteger(rows) || rows % nHeads !== 0 || (rows / nHeads) % 2 !== 0) {
    throw new HerdError('shape_mismatch', `permuteRopeRows: ${w.length} values are not [nHeads=${nHeads} × even head dim, cols=${cols}]`);
  }
  const dh = rows / nHeads;
  const half = dh / 2;
  const src = w instanceof Float32Array ? w : Float32Array.from(w);
  const out = new Float32Array(src.length);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let s = 0; s < 2; s++) {
        const from = (h * dh + s * half + i) * cols;
        out.set(src.subarray(from, from + cols), (h * dh + 2 * i + s) * cols);
      }
    }
  }
  return out;
}

/**
 * Per-frequency divisors of Llama 3.1 RoPE scaling for llama.cpp's `rope_freqs.weight` (the
 * converter's `generate_extra_tensors`): 1 for short wavelengths, `factor` for long ones, blended
 * between. llama.cpp divides each base frequency by its factor.
 */
export function llama3RopeFactors(cfg: LlamaConfig): Float32Array | null {
  const s = cfg.ropeScaling;
  if (s === null) return null;
  const dh = cfg.dim / cfg.nHeads;
  const low = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const high = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  const out = new Float32Array(dh / 2);
  for (let i = 0; i < out.length; i++) {
    const wavelen = (2 * Math.PI) / (1 / cfg.ropeTheta ** ((2 * i) / dh));
    if (wavelen < high) out[i] = 1;
    else if (wavelen > low) out[i] = s.factor;
    else {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

/** GGUF name of each Hugging Face parameter (llama.cpp's `LLM_TENSOR_NAMES` for `llama`). */
export function ggufTensorName(hfName: string): string {
  const fixed: Record<string, string> = {
    'model.embed_tokens.weight': 'token_embd.weight',
    'model.norm.weight': 'output_norm.weight',
    'lm_head.weight': 'output.weight',
  };
  if (fixed[hfName] !== undefined) return fixed[hfName];
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hfName);
  const block: Record<string, string> = {
    'input_layernorm.weight': 'attn_norm.weight',
    'self_attn.q_proj.weight': 'attn_q.weight',
    'self_attn.k_proj.weight': 'attn_k.weight',
    'self_attn.v_proj.weight': 'attn_v.weight',
    'self_attn.o_proj.weight': 'attn_output.weight',
    'post_attention_layernorm.weight': 'ffn_norm.weight',
    'mlp.gate_proj.weight': 'ffn_gate.weight',
    'mlp.up_proj.weight': 'ffn_up.weight',
    'mlp.down_proj.weight': 'ffn_down.weight',
  };
  const tail = m ? block[m[2]!] : undefined;
  if (!m || tail === undefined) throw new HerdError('checkpoint_mismatch', `no GGUF name for parameter '${hfName}'`);
  return `blk.${m[1]}.${tail}`;
}

/** The `llama` architecture's metadata for a config (as convert_hf_to_gguf.py writes it). */
export function llamaGgufMetadata(cfg: LlamaConfig, vocab: GgufVocab, o: { dtype: 'f32' | 'f16'; name?: string }): [string, GgufValue][] {
  const u32 = (value: number): GgufValue => ({ type: 'u32', value });
  const f32 = (value: number): GgufValue => ({ type: 'f32', value });
  const str = (value: string): GgufValue => ({ type: 'string', value });
  const arr = (itemType: GgufScalarType, value: readonly (number | string)[]): GgufValue => ({ type: 'array', itemType, value });
  const kv: [string, GgufValue][] = [
    ['general.architecture', str('llama')],
    ['general.name', str(o.name ?? 'herd-llama')],
    ['general.file_type', u32(o.dtype === 'f32' ? FileType.allF32 : FileType.mostlyF16)],
    ['general.alignment', u32(GGUF_DEFAULT_ALIGNMENT)],
    ['llama.vocab_size', u32(cfg.vocabSize)],
    ['llama.context_length', u32(cfg.maxSeqLen)],
    ['llama.embedding_length', u32(cfg.dim)],
    ['llama.block_count', u32(cfg.nLayers)],
    ['llama.feed_forward_length', u32(cfg.ffnDim)],
    ['llama.attention.head_count', u32(cfg.nHeads)],
    ['llama.attention.head_count_kv', u32(cfg.nKvHeads)],
    ['llama.rope.dimension_count', u32(cfg.dim / cfg.nHeads)],
    ['llama.rope.freq_base', f32(cfg.ropeTheta)],
    ['llama.attention.layer_norm_rms_epsilon', f32(cfg.normEps)],
    // Llama 3.1 scaling has no rope.scaling.* keys: it travels as the rope_freqs.weight tensor.
    ['tokenizer.ggml.model', str(vocab.model)],
  ];
  if (vocab.pre !== undefined) kv.push(['tokenizer.ggml.pre', str(vocab.pre)]);
  kv.push(['tokenizer.ggml.tokens', arr('string', vocab.tokens)]);
  if (vocab.scores) kv.push(['tokenizer.ggml.scores', arr('f32', vocab.scores)]);
  if (vocab.tokenTypes) kv.push(['tokenizer.ggml.token_type', arr('i32', vocab.tokenTypes)]);
  if (vocab.merges) kv.push(['tokenizer.ggml.merges', arr('string', vocab.merges)]);
  if (vocab.bosId !== undefined) kv.push(['tokenizer.ggml.bos_token_id', u32(vocab.bosId)]);
  if (vocab.eosId !== undefined) kv.push(['tokenizer.ggml.eos_token_id', u32(vocab.eosId)]);
  if (vocab.unkId !== undefined) kv.push(['tokenizer.ggml.unknown_token_id', u32(vocab.unkId)]);
  // Callers feed token ids; nothing should be prepended behind their back.
  kv.push(['tokenizer.ggml.add_bos_token', { type: 'bool', value: false }]);
  kv.push(['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }]);
  return kv;
}

/** Little-endian byte builder for the header. */
class Bytes {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.reserve(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number | bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  scalar(type: GgufScalarType, v: number | bigint | boolean | string): void {
    this.reserve(8);
    const at = this.length;
    switch (type) {
      case 'u8': this.view.setUint8(at, Number(v)); this.length += 1; break;
      case 'i8': this.view.setInt8(at, Number(v)); this.length += 1; break;
      case 'u16': this.view.setUint16(at, Number(v), true); this.length += 2; break;
      case 'i16': this.view.setInt16(at, Number(v), true); this.length += 2; break;
      case 'u32': this.view.setUint32(at, Number(v), true); this.length += 4; break;
      case 'i32': this.view.setInt32(at, Number(v), true); this.length += 4; break;
      case 'f32': this.view.setFloat32(at, Number(v), true); this.length += 4; break;
      case 'bool': this.view.setUint8(at, v ? 1 : 0); this.length += 1; break;
      case 'u64': this.view.setBigUint64(at, BigInt(v), true); this.length += 8; break;
      case 'i64': this.view.setBigInt64(at, BigInt(v), true); this.length += 8; break;
      case 'f64': this.view.setFloat64(at, Number(v), true); this.length += 8; break;
      case 'string': this.string(String(v)); break;
    }
  }
  value(v: GgufValue): void {
    this.u32(GgufType[v.type]);
    if (v.type !== 'array') return this.scalar(v.type, v.value);
    this.u32(GgufType[v.itemType]);
    this.u64(v.value.length);
    for (const x of v.value) this.scalar(v.itemType, x);
  }
  pad(alignment: number): void {
    const n = alignUp(this.length, alignment) - this.length;
    for (let i = 0; i < n; i++) this.u8(0);
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

interface PlannedTensor extends GgufTensorInfo {
  /** Produces the bytes when written (conversion happens one tensor at a time). */
  readonly encode: () => Uint8Array;
}

/** Serialises a GGUF header (magic … padding) for these metadata and tensor infos. */
export function encodeGgufHeader(metadata: readonly [string, GgufValue][], tensors: readonly GgufTensorInfo[], alignment = GGUF_DEFAULT_ALIGNMENT): Uint8Array {
  const b = new Bytes();
  b.u32(GGUF_MAGIC);
  b.u32(GGUF_VERSION);
  b.u64(tensors.length);
  b.u64(metadata.length);
  for (const [key, v] of metadata) {
    b.string(key);
    b.value(v);
  }
  for (const t of tensors) {
    b.string(t.name);
    b.u32(t.ne.length);
    for (const d of t.ne) b.u64(d);
    b.u32(GgmlType[t.type]);
    b.u64(t.offset);
  }
  b.pad(alignment);
  return b.bytes();
}

function asBytes(a: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Writes `weights` (Hugging Face names and layout, f32 values) as a llama.cpp-loadable GGUF at
 * `path`, atomically (temporary file, then rename). Checks every parameter against the config first
 * and reports all mismatches at once.
 */
export async function writeLlamaGguf(path: string, cfg: LlamaConfig, weights: Weights, o: WriteGgufOptions): Promise<WriteGgufReport> {
  if (endianness() !== 'LE') throw new HerdError('invalid_argument', 'writeLlamaGguf: GGUF is little-endian and this host is not');
  const vocab = o.vocab ?? syntheticVocab(cfg.vocabSize);
  const problems = new ProblemList();
  if (vocab.tokens.length !== cfg.vocabSize) problems.add(`vocab has ${vocab.tokens.length} tokens, the config's vocabSize is ${cfg.vocabSize}`);
  for (const [k, v] of [['scores', vocab.scores], ['tokenTypes', vocab.tokenTypes]] as const) {
    if (v !== undefined && v.length !== vocab.tokens.length) problems.add(`vocab.${k} has ${v.length} entries for ${vocab.tokens.length} tokens`);
  }
  if (vocab.model === 'gpt2' && vocab.merges === undefined) problems.add(`vocab.model 'gpt2' needs merges (llama.cpp refuses a BPE vocab without them)`);
  const specs = llamaParamSpecs(cfg);
  for (const s of specs) {
    const w = weights[s.name];
    if (!w) problems.add(`missing '${s.name}' [${s.shape}]`);
    else if (w.shape.join() !== s.shape.join()) problems.add(`'${s.name}' has shape [${w.shape}], the config needs [${s.shape}]`);
    else if (!(w.data instanceof Float32Array || w.data instanceof Float64Array)) problems.add(`'${s.name}' holds a ${w.data.constructor.name}; pass f32 values (decode f16/bf16 bits first)`);
    else if (w.data.length !== s.shape.reduce((a, b) => a * b, 1)) problems.add(`'${s.name}' has ${w.data.length} values for shape [${s.shape}]`);
  }
  problems.throwIfAny('checkpoint_mismatch', `writeLlamaGguf ${path}: the weights do not match the config`);

  const planned: PlannedTensor[] = [];
  let offset = 0;
  const plan = (name: string, shape: readonly number[], type: GgmlTypeName, values: () => Float32Array): void => {
    const count = shape.reduce((a, b) => a * b, 1);
    planned.push({
      name,
      ne: [...shape].reverse(),
      type,
      offset,
      encode: () => {
        const v = values();
        return asBytes(type === 'F32' ? v : encodeF16(v));
      },
    });
    offset = alignUp(offset + count * bytesPerElement(type), GGUF_DEFAULT_ALIGNMENT);
  };
  const f32 = (d: Weights[string]['data']): Float32Array => (d instanceof Float32Array ? d : Float32Array.from(d as Float64Array));
  const factors = llama3RopeFactors(cfg);
  if (factors) plan('rope_freqs.weight', [factors.length], 'F32', () => factors);
  for (const s of specs) {
    const w = weights[s.name]!;
    const type: GgmlTypeName = s.shape.length === 1 || o.dtype === 'f32' ? 'F32' : 'F16';
    const cols = s.shape[1] ?? 1;
    let values = (): Float32Array => f32(w.data);
    // Only q and k are rotated, so only they change layout; k by its own (kv) head count.
    if (s.name.endsWith('.self_attn.q_proj.weight')) values = () => permuteRopeRows(f32(w.data), cfg.nHeads, cols);
    if (s.name.endsWith('.self_attn.k_proj.weight')) values = () => permuteRopeRows(f32(w.data), cfg.nKvHeads, cols);
    plan(ggufTensorName(s.name), s.shape, type, values);
  }

  const header = encodeGgufHeader(llamaGgufMetadata(cfg, vocab, o), planned);
  // Tensors are encoded one at a time as the file is written, so a large model is never held twice.
  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield header;
    for (const t of planned) {
      const bytes = t.encode();
      yield bytes;
      const pad = alignUp(bytes.length, GGUF_DEFAULT_ALIGNMENT) - bytes.length;
      if (pad > 0) yield new Uint8Array(pad);
    }
  }
  const written = await writeFileAtomic(path, chunks());
  return { bytes: written, tensors: planned.length };
}
