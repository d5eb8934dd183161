/**
 * Safetensors checkpoints: read the header, reach each tensor by name without reading the rest of the
 * file, decode to typed arrays, write atomically, and follow a sharded `*.safetensors.index.json`.
 *
 * Layout (https://github.com/huggingface/safetensors): 8 bytes little-endian u64 N, then N bytes of
 * JSON `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`, then
 * the data section; offsets are relative to the start of the data section. Every tensor's absolute
 * byte range in the file is exposed (`TensorInfo.byteOffset`/`byteLength`) so ONNX external data can
 * point straight into the checkpoint.
 *
 * Reads are synchronous and open the file per call, so no descriptor outlives a call.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { HerdError, ProblemList } from './errors.js';
import { writeFileAtomic, writeFileAtomicSync } from './fs.js';

export type SafetensorsDtype =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL'
  | 'F8_E4M3'
  | 'F8_E5M2';

/** Bytes per element of each dtype. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

const DTYPES = Object.keys(SAFETENSORS_DTYPE_BYTES) as SafetensorsDtype[];

function isDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && Object.hasOwn(SAFETENSORS_DTYPE_BYTES, s);
}

/** What `read` returns per dtype: F16/BF16 are widened to Float32Array, BOOL is 0/1 bytes. */
export type DecodedArray =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

export interface DecodedTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: DecodedArray;
}

/** Where one tensor lives. `byteOffset` is absolute in `file` (header included). */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly numel: number;
  /** Absolute path of the file holding the bytes. */
  readonly file: string;
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** What single files and sharded checkpoints have in common. */
export interface SafetensorsSource {
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensor names in file order (by offset; shards in index order). */
  names(): string[];
  has(name: string): boolean;
  /** Throws HerdError('checkpoint_mismatch') naming the checkpoint and close names when absent. */
  info(name: string): TensorInfo;
  /** The tensor's raw little-endian bytes, in a fresh (aligned) buffer. */
  readBytes(name: string): Uint8Array;
  read(name: string): DecodedTensor;
  /** Any float dtype widened or narrowed to f32; integer dtypes are rejected. */
  readFloat32(name: string): Float32Array;
}

// ---------------------------------------------------------------------------------------------
// f16 / bf16 <-> f32

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits to a number (exact). */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** f32 (the number is first rounded to f32) to binary16 bits, round to nearest even; NaN stays NaN. */
export function f32ToF16(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0] as number;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal in f16 (or zero): value = m * 2^(e-14) units of 2^-24.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, up to Infinity: that is the correct rounding.
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** bfloat16 bits to a number (exact). */
export function bf16ToF32(bits: number): number {
  u32Scratch[0] = (bits & 0xffff) << 16;
  return f32Scratch[0] as number;
}

/** f32 to bfloat16 bits, round to nearest even; NaN stays (quiet) NaN. */
export function f32ToBf16(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0] as number;
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Float32Array | undefined;

export function decodeF16(bits: Uint16Array): Float32Array {
  if (f16Table === undefined) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  const table = f16Table;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i] as number] as number;
  return out;
}

export function encodeF16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i] as number);
  return out;
}

export function decodeBf16(bits: Uint16Array): Float32Array {
  const words = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) words[i] = (bits[i] as number) << 16;
  return new Float32Array(words.buffer);
}

export function encodeBf16(values: Float32Array): Uint16Array {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const b = words[i] as number;
    out[i] =
      (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0
        ? (b >>> 16) | 0x40
        : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** The safetensors reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER_BYTES = 100_000_000;
const MAX_READ_CHUNK = 1 << 30;

function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') {
    throw new HerdError('unsupported_op', 'safetensors data is little-endian; this host is big-endian');
  }
}

function readFully(fd: number, target: Uint8Array, position: number, path: string, what: string): void {
  let done = 0;
  while (done < target.length) {
    const n = readSync(fd, target, done, Math.min(target.length - done, MAX_READ_CHUNK), position + done);
    if (n === 0) {
      throw new HerdError(
        'corrupt_data',
        `${path}: file ends early while reading ${what}: expected ${target.length} bytes at offset ${position}, got ${done}. The file is truncated; re-download or re-save it.`,
      );
    }
    done += n;
  }
}

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

interface ParsedHeader {
  readonly metadata: Record<string, string>;
  readonly entries: TensorInfo[];
}

/** Parses and checks a header; every problem is reported at once, each naming the tensor. */
function parseHeader(path: string, json: string, headerBytes: number, fileSize: number): ParsedHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new HerdError('corrupt_data', `${path}: safetensors header is not valid JSON (${(e as Error).message})`, {
      cause: e,
    });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new HerdError('corrupt_data', `${path}: safetensors header must be a JSON object, got ${typeof raw}`);
  }
  const dataStart = 8 + headerBytes;
  const dataSize = fileSize - dataStart;
  const problems = new ProblemList();
  const metadata: Record<string, string> = {};
  const entries: TensorInfo[] = [];
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        problems.add('__metadata__ must be an object of strings');
        continue;
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v === 'string') metadata[k] = v;
        else problems.add(`__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
      }
      continue;
    }
    if (typeof value !== 'object' || value === null) {
      problems.add(`tensor '${name}': entry must be an object with dtype, shape, data_offsets`);
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (!isDtype(dtype)) {
      problems.add(`tensor '${name}': unknown dtype ${JSON.stringify(dtype)} (valid: ${DTYPES.join(', ')})`);
      continue;
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      problems.add(`tensor '${name}': shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
      continue;
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) ||
      (offsets[0] as number) > (offsets[1] as number)
    ) {
      problems.add(`tensor '${name}': data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}`);
      continue;
    }
    const [begin, end] = offsets as [number, number];
    const numel = elementCount(shape as number[]);
    const expected = numel * SAFETENSORS_DTYPE_BYTES[dtype];
    if (end - begin !== expected) {
      problems.add(
        `tensor '${name}': ${dtype}${JSON.stringify(shape)} needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
      continue;
    }
    if (end > dataSize) {
      problems.add(
        `tensor '${name}': data ends at byte ${dataStart + end} but the file has only ${fileSize} bytes (truncated file?)`,
      );
      continue;
    }
    entries.push({
      name,
      dtype,
      shape: Object.freeze([...(shape as number[])]),
      numel,
      file: path,
      byteOffset: dataStart + begin,
      byteLength: expected,
    });
  }
  entries.sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1] as TensorInfo;
    const cur = entries[i] as TensorInfo;
    if (cur.byteLength > 0 && prev.byteOffset + prev.byteLength > cur.byteOffset) {
      problems.add(`tensors '${prev.name}' and '${cur.name}' overlap in the data section`);
    }
  }
  problems.throwIfAny('corrupt_data', `${path}: bad safetensors header`);
  return { metadata, entries };
}

function closestNames(name: string, names: readonly string[], k = 5): string[] {
  const score = (a: string): number => {
    // Longest common suffix of dotted parts counts most, then shared prefix length.
    let p = 0;
    while (p < a.length && p < name.length && a[p] === name[p]) p++;
    let s = 0;
    while (s < a.length && s < name.length && a[a.length - 1 - s] === name[name.length - 1 - s]) s++;
    return p + s;
  };
  return [...names].sort((a, b) => score(b) - score(a)).slice(0, k);
}

function missingTensor(where: string, name: string, names: readonly string[]): HerdError {
  const near = closestNames(name, names);
  return new HerdError(
    'checkpoint_mismatch',
    `${where}: no tensor '${name}' (${names.length} tensors${near.length > 0 ? `; closest: ${near.join(', ')}` : ''})`,
  );
}

function decode(info: TensorInfo, bytes: Uint8Array): DecodedArray {
  const buf = bytes.buffer;
  const off = bytes.byteOffset;
  const n = info.numel;
  switch (info.dtype) {
    case 'F64':
      return new Float64Array(buf, off, n);
    case 'F32':
      return new Float32Array(buf, off, n);
    case 'F16':
      return decodeF16(new Uint16Array(buf, off, n));
    case 'BF16':
      return decodeBf16(new Uint16Array(buf, off, n));
    case 'I64':
      return new BigInt64Array(buf, off, n);
    case 'U64':
      return new BigUint64Array(buf, off, n);
    case 'I32':
      return new Int32Array(buf, off, n);
    case 'U32':
      return new Uint32Array(buf, off, n);
    case 'I16':
      return new Int16Array(buf, off, n);
    case 'U16':
      return new Uint16Array(buf, off, n);
    case 'I8':
      return new Int8Array(buf, off, n);
    case 'U8':
    case 'BOOL':
      return bytes;
    case 'F8_E4M3':
    case 'F8_E5M2':
      throw new HerdError(
        'dtype_mismatch',
        `${info.file}: tensor '${info.name}' is ${info.dtype}, which has no typed array; use readBytes()`,
      );
  }
}

function readTensorBytes(info: TensorInfo): Uint8Array {
  // A fresh ArrayBuffer keeps the view aligned for any element size.
  const bytes = new Uint8Array(new ArrayBuffer(info.byteLength));
  if (info.byteLength === 0) return bytes;
  let fd: number;
  try {
    fd = openSync(info.file, 'r');
  } catch (e) {
    throw new HerdError('io_error', `cannot open ${info.file} to read tensor '${info.name}': ${(e as Error).message}`, {
      cause: e,
    });
  }
  try {
    readFully(fd, bytes, info.byteOffset, info.file, `tensor '${info.name}'`);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

function readDecoded(info: TensorInfo): DecodedTensor {
  assertLittleEndianHost();
  return { dtype: info.dtype, shape: info.shape, data: decode(info, readTensorBytes(info)) };
}

function readAsFloat32(info: TensorInfo): Float32Array {
  const t = readDecoded(info);
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof Float64Array) return Float32Array.from(t.data);
  throw new HerdError(
    'dtype_mismatch',
    `${info.file}: tensor '${info.name}' is ${info.dtype}; expected a float dtype (F64, F32, F16, BF16)`,
  );
}

/** One `.safetensors` file; only its header is read on open. */
/** The reads every source shares: each is a function of the tensor's location. */
abstract class SafetensorsReads implements SafetensorsSource {
  abstract readonly metadata: Readonly<Record<string, string>>;
  abstract names(): string[];
  abstract has(name: string): boolean;
  abstract info(name: string): TensorInfo;

  readBytes(name: string): Uint8Array {
    return readTensorBytes(this.info(name));
  }

  read(name: string): DecodedTensor {
    return readDecoded(this.info(name));
  }

  readFloat32(name: string): Float32Array {
    return readAsFloat32(this.info(name));
  }
}

export class SafetensorsFile extends SafetensorsReads {
  private readonly byName: Map<string, TensorInfo>;

  private constructor(
    readonly path: string,
    readonly metadata: Readonly<Record<string, string>>,
    private readonly ordered: readonly TensorInfo[],
    /** Byte size of the JSON header (without the 8-byte length prefix). */
    readonly headerBytes: number,
  ) {
    super();
    this.byName = new Map(ordered.map((t) => [t.name, t]));
  }

  static open(path: string): SafetensorsFile {
    const abs = resolve(path);
    let fd: number;
    try {
      fd = openSync(abs, 'r');
    } catch (e) {
      throw new HerdError('io_error', `cannot open safetensors file ${abs}: ${(e as Error).message}`, { cause: e });
    }
    try {
      const fileSize = fstatSync(fd).size;
      if (fileSize < 8) {
        throw new HerdError('corrupt_data', `${abs}: ${fileSize} bytes is too short for a safetensors file (needs at least 8)`);
      }
      const prefix = new Uint8Array(8);
      readFully(fd, prefix, 0, abs, 'the header length');
      const n = new DataView(prefix.buffer).getBigUint64(0, true);
      if (n > BigInt(MAX_HEADER_BYTES)) {
        throw new HerdError('corrupt_data', `${abs}: header length ${n} exceeds ${MAX_HEADER_BYTES} bytes; not a safetensors file?`);
      }
      const headerBytes = Number(n);
      if (8 + headerBytes > fileSize) {
        throw new HerdError(
          'corrupt_data',
          `${abs}: header claims ${headerBytes} bytes but the file has only ${fileSize - 8} after the length prefix (truncated file?)`,
        );
      }
      const header = new Uint8Array(headerBytes);
      readFully(fd, header, 8, abs, 'the header');
      const { metadata, entries } = parseHeader(abs, new TextDecoder().decode(header), headerBytes, fileSize);
      return new SafetensorsFile(abs, Object.freeze(metadata), entries, headerBytes);
    } finally {
      closeSync(fd);
    }
  }

  names(): string[] {
    return this.ordered.map((t) => t.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (t === undefined) throw missingTensor(this.path, name, this.names());
    return t;
  }

  /** All tensor infos in file order. */
  infos(): readonly TensorInfo[] {
    return this.ordered;
  }

}

export const SAFETENSORS_INDEX_NAME = 'model.safetensors.index.json';
export const SAFETENSORS_SINGLE_NAME = 'model.safetensors';

/** A checkpoint split over shards, described by a `*.safetensors.index.json` (`weight_map`). */
export class ShardedSafetensors extends SafetensorsReads {
  private constructor(
    readonly indexPath: string,
    readonly metadata: Readonly<Record<string, string>>,
    readonly shards: ReadonlyMap<string, SafetensorsFile>,
    private readonly weightMap: ReadonlyMap<string, SafetensorsFile>,
  ) {
    super();
  }

  static open(indexPath: string): ShardedSafetensors {
    const abs = resolve(indexPath);
    let raw: unknown;
    try {
      raw = JSON.parse(readText(abs));
    } catch (e) {
      if (e instanceof HerdError) throw e;
      throw new HerdError('corrupt_data', `${abs}: index is not valid JSON (${(e as Error).message})`, { cause: e });
    }
    const wm = (raw as { weight_map?: unknown } | null)?.weight_map;
    if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
      throw new HerdError('corrupt_data', `${abs}: index has no "weight_map" object mapping tensor names to shard files`);
    }
    const indexMeta = (raw as { metadata?: unknown }).metadata;
    const metadata: Record<string, string> = {};
    if (typeof indexMeta === 'object' && indexMeta !== null) {
      // total_size is a number in Hugging Face indexes; keep everything as text.
      for (const [k, v] of Object.entries(indexMeta)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
    }
    const dir = dirname(abs);
    const problems = new ProblemList();
    const byShard = new Map<string, string[]>();
    for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
      if (typeof shard !== 'string' || shard === '' || isAbsolute(shard) || shard.split(/[\\/]/).includes('..')) {
        problems.add(`tensor '${name}': shard must be a file name beside the index, got ${JSON.stringify(shard)}`);
        continue;
      }
      const list = byShard.get(shard) ?? [];
      list.push(name);
      byShard.set(shard, list);
    }
    problems.throwIfAny('corrupt_data', `${abs}: bad weight_map`);
    const shards = new Map<string, SafetensorsFile>();
    for (const [shard, names] of byShard) {
      const path = join(dir, shard);
      if (!existsSync(path)) {
        problems.add(`shard ${shard} (holding ${names.length} tensors, e.g. '${names[0] ?? ''}') does not exist in ${dir}`);
        continue;
      }
      shards.set(shard, SafetensorsFile.open(path));
    }
    problems.throwIfAny('checkpoint_mismatch', `${abs}: missing shards`);
    const weightMap = new Map<string, SafetensorsFile>();
    for (const [shard, names] of byShard) {
      const file = shards.get(shard) as SafetensorsFile;
      for (const name of names) {
        if (file.has(name)) weightMap.set(name, file);
        else problems.add(`tensor '${name}' is mapped to ${shard}, which does not contain it`);
      }
    }
    problems.throwIfAny('checkpoint_mismatch', `${abs}: index and shards disagree`);
    return new ShardedSafetensors(abs, Object.freeze(metadata), shards, weightMap);
  }

  names(): string[] {
    const out: string[] = [];
    for (const file of this.shards.values()) {
      for (const name of file.names()) if (this.weightMap.get(name) === file) out.push(name);
    }
    return out;
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  info(name: string): TensorInfo {
    const file = this.weightMap.get(name);
    if (file === undefined) throw missingTensor(this.indexPath, name, [...this.weightMap.keys()]);
    return file.info(name);
  }

}

function readText(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new HerdError('io_error', `cannot open ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const bytes = new Uint8Array(fstatSync(fd).size);
    readFully(fd, bytes, 0, path, 'the file');
    return new TextDecoder().decode(bytes);
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens a checkpoint given a `.safetensors` file, a `*.safetensors.index.json`, or a folder holding
 * `model.safetensors.index.json` or `model.safetensors`.
 */
export function openSafetensors(path: string): SafetensorsSource {
  const abs = resolve(path);
  let isDir = false;
  try {
    isDir = statSync(abs).isDirectory();
  } catch (e) {
    throw new HerdError('io_error', `no checkpoint at ${abs}: ${(e as Error).message}`, { cause: e });
  }
  if (isDir) {
    const index = join(abs, SAFETENSORS_INDEX_NAME);
    if (existsSync(index)) return ShardedSafetensors.open(index);
    const single = join(abs, SAFETENSORS_SINGLE_NAME);
    if (existsSync(single)) return SafetensorsFile.open(single);
    throw new HerdError(
      'checkpoint_mismatch',
      `${abs} holds neither ${SAFETENSORS_INDEX_NAME} nor ${SAFETENSORS_SINGLE_NAME}; pass the checkpoint file itself`,
    );
  }
  if (abs.endsWith('.index.json')) return ShardedSafetensors.open(abs);
  return SafetensorsFile.open(abs);
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * A tensor to write. `data` is the matching typed array (Float32Array for F32, BigInt64Array for I64,
 * Uint8Array of 0/1 for BOOL, ...), raw little-endian bytes as a Uint8Array, or for F16/BF16 either
 * the 16-bit patterns (Uint16Array) or a Float32Array to round to nearest even.
 */
export interface TensorToWrite {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: ArrayBufferView;
}

const ARRAY_FOR: Readonly<Record<SafetensorsDtype, string>> = {
  F64: 'Float64Array',
  F32: 'Float32Array',
  F16: 'Uint16Array',
  BF16: 'Uint16Array',
  I64: 'BigInt64Array',
  I32: 'Int32Array',
  I16: 'Int16Array',
  I8: 'Int8Array',
  U64: 'BigUint64Array',
  U32: 'Uint32Array',
  U16: 'Uint16Array',
  U8: 'Uint8Array',
  BOOL: 'Uint8Array',
  F8_E4M3: 'Uint8Array',
  F8_E5M2: 'Uint8Array',
};

function tensorBytes(name: string, t: TensorToWrite, problems: ProblemList): Uint8Array | undefined {
  if (!isDtype(t.dtype)) {
    problems.add(`tensor '${name}': unknown dtype ${JSON.stringify(t.dtype)} (valid: ${DTYPES.join(', ')})`);
    return undefined;
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    problems.add(`tensor '${name}': shape must be non-negative integers, got ${JSON.stringify(t.shape)}`);
    return undefined;
  }
  const numel = elementCount(t.shape);
  const expectedBytes = numel * SAFETENSORS_DTYPE_BYTES[t.dtype];
  let data: ArrayBufferView = t.data;
  if ((t.dtype === 'F16' || t.dtype === 'BF16') && data instanceof Float32Array) {
    data = t.dtype === 'F16' ? encodeF16(data) : encodeBf16(data);
  }
  const ctor = (data as { constructor?: { name?: string } }).constructor?.name;
  if (!(data instanceof Uint8Array) && ctor !== ARRAY_FOR[t.dtype]) {
    const also = t.dtype === 'F16' || t.dtype === 'BF16' ? ', Float32Array' : '';
    problems.add(`tensor '${name}': ${t.dtype} data must be ${ARRAY_FOR[t.dtype]}${also} or raw Uint8Array bytes, got ${ctor ?? typeof data}`);
    return undefined;
  }
  if (data.byteLength !== expectedBytes) {
    problems.add(
      `tensor '${name}': shape ${JSON.stringify(t.shape)} of ${t.dtype} needs ${expectedBytes} bytes, data has ${data.byteLength}`,
    );
    return undefined;
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (t.dtype === 'BOOL' && bytes.some((b) => b > 1)) {
    problems.add(`tensor '${name}': BOOL data must be 0 or 1 bytes`);
    return undefined;
  }
  return bytes;
}

/**
 * The file's bytes as chunks (header first). Tensors go largest element size first, then by name, so
 * every tensor starts aligned to its element size with no gaps (as the reference writer does).
 */
export function encodeSafetensors(
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array[] {
  assertLittleEndianHost();
  const problems = new ProblemList();
  const items: { name: string; t: TensorToWrite; bytes: Uint8Array }[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '' || name === '__metadata__') {
      problems.add(`tensor name ${JSON.stringify(name)} is reserved or empty`);
      continue;
    }
    const bytes = tensorBytes(name, t, problems);
    if (bytes !== undefined) items.push({ name, t, bytes });
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') problems.add(`metadata '${k}' must be a string, got ${typeof v}`);
    }
  }
  problems.throwIfAny('invalid_argument', 'cannot write safetensors');
  items.sort(
    (a, b) =>
      SAFETENSORS_DTYPE_BYTES[b.t.dtype] - SAFETENSORS_DTYPE_BYTES[a.t.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const header: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) header['__metadata__'] = { ...metadata };
  let offset = 0;
  for (const { name, t, bytes } of items) {
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data section starts 8-byte aligned.
  const rawLen = Buffer.byteLength(json);
  json += ' '.repeat((8 - ((8 + rawLen) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  return [prefix, headerBytes, ...items.map((i) => i.bytes)];
}

/** Writes a `.safetensors` file atomically (temp file + rename). */
export async function writeSafetensors(
  path: string,
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export function writeSafetensorsSync(
  path: string,
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata?: Readonly<Record<string, string>>,
): void {
  writeFileAtomicSync(path, encodeSafetensors(tensors, metadata));
}

export interface ShardedWriteOptions {
  /** Start a new shard once adding a tensor would pass this many data bytes. Default 4 GiB. */
  readonly maxShardBytes?: number;
  /** File stem: shards are `${stem}-00001-of-0000N.safetensors`, the index `${stem}.safetensors.index.json`. */
  readonly stem?: string;
  /** Written into every shard's `__metadata__` and the index's `metadata`. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * Writes tensors as shards plus an index in `dir`. Each shard is atomic and the index is written last,
 * so an index never names a shard that was not fully written. Returns the index path.
 */
export async function writeShardedSafetensors(
  dir: string,
  tensors: Readonly<Record<string, TensorToWrite>>,
  options: ShardedWriteOptions = {},
): Promise<string> {
  const maxShardBytes = options.maxShardBytes ?? 4 * 1024 ** 3;
  const stem = options.stem ?? 'model';
  if (!(maxShardBytes > 0)) throw new HerdError('invalid_argument', `maxShardBytes must be > 0, got ${maxShardBytes}`);
  const groups: string[][] = [[]];
  let size = 0;
  let total = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = t.data.byteLength;
    const current = groups[groups.length - 1] as string[];
    if (current.length > 0 && size + bytes > maxShardBytes) {
      groups.push([name]);
      size = bytes;
    } else {
      current.push(name);
      size += bytes;
    }
    total += elementCount(t.shape) * (SAFETENSORS_DTYPE_BYTES[t.dtype] ?? 0);
  }
  const n = groups.length;
  const pad = (i: number): string => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  // Encode (and so validate) every shard before writing any.
  const encoded: { file: string; chunks: Uint8Array[] }[] = [];
  for (let i = 0; i < n; i++) {
    const file = `${stem}-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    const part: Record<string, TensorToWrite> = {};
    for (const name of groups[i] as string[]) {
      part[name] = tensors[name] as TensorToWrite;
      weightMap[name] = file;
    }
    encoded.push({ file, chunks: encodeSafetensors(part, options.metadata) });
  }
  for (const { file, chunks } of encoded) await writeFileAtomic(join(dir, file), chunks);
  const indexPath = join(dir, `${stem}.safetensors.index.json`);
  const index = { metadata: { ...options.metadata, total_size: total }, weight_map: weightMap };
  await writeFileAtomic(indexPath, JSON.stringify(index, null, 2) + '\n');
  return indexPath;
}
