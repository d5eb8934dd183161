/**
 * Reading one `.safetensors` file: the header is read and checked on open (every problem at once, each
 * naming the file and tensor); each tensor is read by name without touching the rest of the file.
 * Every tensor's absolute byte range is exposed (`TensorInfo.byteOffset`/`byteLength`) so ONNX
 * external data can point straight into the checkpoint.
 *
 * Reads are synchronous and open the file per call, so no descriptor outlives a call.
 */
import { closeSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { closestNames } from '../config/closest.js';
import { JsonProblem, parseJson } from '../config/json.js';
import { showValue } from '../config/fields.js';
import { HerdError, ProblemList } from '../errors.js';
import { openRegularFileSync, readFullySync } from '../fs.js';
import { type StorageDType } from '../tensor/dtype.js';
import { type HostTensor, countNonFinite, toFloat32 } from '../tensor/host-tensor.js';
import {
  MAX_HEADER_BYTES,
  MAX_HEADER_DEPTH,
  SAFETENSORS_DTYPES,
  SAFETENSORS_DTYPE_BYTES,
  type SafetensorsDtype,
  assertLittleEndianHost,
  isSafetensorsDtype,
} from './format.js';

/** Where one tensor lives. `byteOffset` is absolute in `file` (header included). */
export interface TensorInfo {
  readonly name: string;
  /** The dtype as the file names it. */
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly numel: number;
  /** Absolute path of the file holding the bytes. */
  readonly file: string;
  readonly byteOffset: number;
  readonly byteLength: number;
}

export interface SafetensorsReadOptions {
  /**
   * Check every float tensor for NaN/±Infinity when it is read (`read`, `readFloat32`) and refuse it
   * with HerdError('non_finite') naming the tensor and the count. Default true: a checkpoint from
   * elsewhere with NaN weights otherwise loads silently and generates garbage. Pass false to skip the
   * scan (one pass over the values) for trusted files.
   */
  readonly checkFinite?: boolean;
}

/** What single files and sharded checkpoints have in common. */
export interface SafetensorsSource {
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensor names in file order (by offset; shards in index order). */
  names(): string[];
  has(name: string): boolean;
  /** Throws HerdError('checkpoint_mismatch') naming the checkpoint and close names when absent. */
  info(name: string): TensorInfo;
  /** The tensor's raw little-endian bytes, in a fresh (aligned) buffer; never checked for NaN. */
  readBytes(name: string): Uint8Array;
  /**
   * The tensor as a host tensor in herd's dtypes: F16/BF16 stay 16-bit patterns (`f16`/`bf16`),
   * I8/I16/U16 widen to i32 and U32 to i64 (exactly), U64 becomes i64 when every value fits; F8 has no
   * herd dtype (use `readBytes`).
   */
  read(name: string): HostTensor<StorageDType>;
  /** Any float dtype widened or narrowed to f32; integer dtypes are rejected. */
  readFloat32(name: string): Float32Array;
  /**
   * Scans a tensor for NaN/±Infinity in bounded chunks without keeping it (for weights that stay in the
   * file, as ONNX external data) and throws like `read` does; a no-op when opened with checkFinite: false.
   */
  assertFinite(name: string): void;
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

function parseHeaderJson(path: string, bytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (e) {
    throw new HerdError('corrupt_data', `${path}: the safetensors header is not valid UTF-8; the file is damaged or not a safetensors file`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = parseJson(text, { maxDepth: MAX_HEADER_DEPTH, rejectDuplicateKeys: true });
  } catch (e) {
    if (!(e instanceof JsonProblem)) throw e;
    const what =
      e.kind === 'duplicate_key'
        ? `names a tensor twice (${e.message}); which one is meant is ambiguous`
        : e.kind === 'too_deep'
          ? `nests deeper than ${MAX_HEADER_DEPTH} levels (${e.message}); a real header is 3 deep`
          : `is not valid JSON (${e.message})`;
    throw new HerdError('corrupt_data', `${path}: safetensors header ${what}`, { cause: e });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new HerdError('corrupt_data', `${path}: safetensors header must be a JSON object, got ${Array.isArray(raw) ? 'an array' : typeof raw}`);
  }
  return raw as Record<string, unknown>;
}

/** Parses and checks a header; every problem is reported at once, each naming the tensor. */
function parseHeader(path: string, bytes: Uint8Array, fileSize: number): ParsedHeader {
  const raw = parseHeaderJson(path, bytes);
  const dataStart = 8 + bytes.length;
  const dataSize = fileSize - dataStart;
  const problems = new ProblemList();
  const metadata: Record<string, string> = {};
  const entries: TensorInfo[] = [];
  for (const [name, value] of Object.entries(raw)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        problems.add('__metadata__ must be an object of strings');
        continue;
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v === 'string') metadata[k] = v;
        else problems.add(`__metadata__.${k} must be a string, got ${showValue(v)}`);
      }
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.add(`tensor '${name}': entry must be an object with dtype, shape, data_offsets, got ${showValue(value)}`);
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (!isSafetensorsDtype(dtype)) {
      problems.add(`tensor '${name}': unknown dtype ${showValue(dtype)} (valid: ${SAFETENSORS_DTYPES.join(', ')})`);
      continue;
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      problems.add(`tensor '${name}': shape must be an array of non-negative integers, got ${showValue(shape)}`);
      continue;
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) ||
      (offsets[0] as number) > (offsets[1] as number)
    ) {
      problems.add(`tensor '${name}': data_offsets must be [begin, end] with 0 <= begin <= end, got ${showValue(offsets)}`);
      continue;
    }
    const [begin, end] = offsets as [number, number];
    const numel = elementCount(shape as number[]);
    const expected = numel * SAFETENSORS_DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(expected)) {
      problems.add(`tensor '${name}': shape ${showValue(shape)} is too large to address`);
      continue;
    }
    if (end - begin !== expected) {
      problems.add(`tensor '${name}': ${dtype}${JSON.stringify(shape)} needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
      continue;
    }
    if (end > dataSize) {
      problems.add(`tensor '${name}': data ends at byte ${dataStart + end} but the file has only ${fileSize} bytes (truncated file?)`);
      continue;
    }
    entries.push({ name, dtype, shape: Object.freeze([...(shape as number[])]), numel, file: path, byteOffset: dataStart + begin, byteLength: expected });
  }
  // The tensors must tile the data section exactly, as the reference reader demands: a gap or bytes
  // after the last tensor are data nobody accounts for (a damaged or tampered file).
  entries.sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
  let covered = dataStart;
  let last: TensorInfo | undefined;
  for (const cur of entries) {
    if (cur.byteOffset > covered) {
      problems.add(`gap of ${cur.byteOffset - covered} bytes before tensor '${cur.name}' (bytes ${covered}..${cur.byteOffset} belong to no tensor)`);
    } else if (cur.byteOffset < covered && cur.byteLength > 0 && last !== undefined) {
      problems.add(`tensors '${last.name}' and '${cur.name}' overlap in the data section`);
    }
    if (cur.byteOffset + cur.byteLength >= covered) {
      covered = cur.byteOffset + cur.byteLength;
      if (cur.byteLength > 0) last = cur;
    }
  }
  if (problems.size === 0 && covered < fileSize) {
    problems.add(`${fileSize - covered} trailing bytes after the last tensor${last ? ` ('${last.name}')` : ''} (bytes ${covered}..${fileSize} belong to no tensor)`);
  }
  problems.throwIfAny('corrupt_data', `${path}: bad safetensors header`);
  return { metadata, entries };
}

export function missingTensor(where: string, name: string, names: readonly string[]): HerdError {
  const near = closestNames(name, names, { k: 5 });
  return new HerdError('checkpoint_mismatch', `${where}: no tensor '${name}' (${names.length} tensors${near.length > 0 ? `; closest: ${near.join(', ')}` : ''})`);
}

function readTensorBytes(info: TensorInfo): Uint8Array {
  // A fresh ArrayBuffer keeps the view aligned for any element size.
  const bytes = new Uint8Array(new ArrayBuffer(info.byteLength));
  if (info.byteLength === 0) return bytes;
  let fd: number;
  try {
    fd = openSync(info.file, 'r');
  } catch (e) {
    throw new HerdError('io_error', `cannot open ${info.file} to read tensor '${info.name}': ${(e as Error).message}`, { cause: e });
  }
  try {
    readFullySync(fd, bytes, info.byteOffset, info.file, `tensor '${info.name}'`);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

function decode(info: TensorInfo, bytes: Uint8Array): HostTensor<StorageDType> {
  const buf = bytes.buffer;
  const n = info.numel;
  const shape = info.shape;
  switch (info.dtype) {
    case 'F64':
      return { dtype: 'f64', shape, data: new Float64Array(buf, 0, n) };
    case 'F32':
      return { dtype: 'f32', shape, data: new Float32Array(buf, 0, n) };
    case 'F16':
      return { dtype: 'f16', shape, data: new Uint16Array(buf, 0, n) };
    case 'BF16':
      return { dtype: 'bf16', shape, data: new Uint16Array(buf, 0, n) };
    case 'I64':
      return { dtype: 'i64', shape, data: new BigInt64Array(buf, 0, n) };
    case 'I32':
      return { dtype: 'i32', shape, data: new Int32Array(buf, 0, n) };
    case 'U8':
      return { dtype: 'u8', shape, data: bytes };
    case 'BOOL':
      return { dtype: 'bool', shape, data: bytes };
    case 'I16':
      return { dtype: 'i32', shape, data: Int32Array.from(new Int16Array(buf, 0, n)) };
    case 'U16':
      return { dtype: 'i32', shape, data: Int32Array.from(new Uint16Array(buf, 0, n)) };
    case 'I8':
      return { dtype: 'i32', shape, data: Int32Array.from(new Int8Array(buf, 0, n)) };
    case 'U32':
      return { dtype: 'i64', shape, data: BigInt64Array.from(new Uint32Array(buf, 0, n), (v) => BigInt(v)) };
    case 'U64': {
      const u = new BigUint64Array(buf, 0, n);
      const big = u.findIndex((v) => v > 0x7fffffffffffffffn);
      if (big >= 0) {
        throw new HerdError('dtype_mismatch', `${info.file}: tensor '${info.name}' is U64 and value #${big} (${u[big]}) does not fit i64; use readBytes()`);
      }
      return { dtype: 'i64', shape, data: new BigInt64Array(buf, 0, n) };
    }
    case 'F8_E4M3':
    case 'F8_E5M2':
      throw new HerdError('dtype_mismatch', `${info.file}: tensor '${info.name}' is ${info.dtype}, which herd has no dtype for; use readBytes()`);
  }
}

const FINITE_SCAN_CHUNK = 16 * 1024 * 1024;

function throwIfNonFinite(info: TensorInfo, bad: number): void {
  if (bad === 0) return;
  throw new HerdError(
    'non_finite',
    `${info.file}: tensor '${info.name}' holds ${bad} non-finite value${bad > 1 ? 's' : ''} (NaN or ±Infinity) of ${info.numel}; the checkpoint is damaged or diverged. Re-save or re-download it (or open it with { checkFinite: false } to inspect it).`,
  );
}

/** The reads every source shares: each is a function of the tensor's location. */
export abstract class SafetensorsReads implements SafetensorsSource {
  abstract readonly metadata: Readonly<Record<string, string>>;
  abstract names(): string[];
  abstract has(name: string): boolean;
  abstract info(name: string): TensorInfo;
  protected abstract readonly checkFinite: boolean;

  readBytes(name: string): Uint8Array {
    return readTensorBytes(this.info(name));
  }

  read(name: string): HostTensor<StorageDType> {
    assertLittleEndianHost();
    const info = this.info(name);
    const t = decode(info, readTensorBytes(info));
    if (this.checkFinite) throwIfNonFinite(info, countNonFinite(t));
    return t;
  }

  assertFinite(name: string): void {
    const info = this.info(name);
    if (!this.checkFinite || !['F64', 'F32', 'F16', 'BF16'].includes(info.dtype)) return;
    assertLittleEndianHost();
    const elem = SAFETENSORS_DTYPE_BYTES[info.dtype];
    const chunkElems = Math.max(1, Math.floor(FINITE_SCAN_CHUNK / elem));
    let bad = 0;
    const fd = openSync(info.file, 'r');
    try {
      for (let start = 0; start < info.numel; start += chunkElems) {
        const n = Math.min(chunkElems, info.numel - start);
        const bytes = new Uint8Array(new ArrayBuffer(n * elem));
        readFullySync(fd, bytes, info.byteOffset + start * elem, info.file, `tensor '${info.name}'`);
        bad += countNonFinite(decode({ ...info, numel: n, shape: [n] }, bytes));
      }
    } finally {
      closeSync(fd);
    }
    throwIfNonFinite(info, bad);
  }

  readFloat32(name: string): Float32Array {
    const t = this.read(name);
    if (t.dtype === 'f32' || t.dtype === 'f16' || t.dtype === 'bf16' || t.dtype === 'f64') return toFloat32(t);
    const info = this.info(name);
    throw new HerdError('dtype_mismatch', `${info.file}: tensor '${info.name}' is ${info.dtype}; expected a float dtype (F64, F32, F16, BF16)`);
  }
}

/** One `.safetensors` file; only its header is read on open. */
export class SafetensorsFile extends SafetensorsReads {
  private readonly byName: Map<string, TensorInfo>;
  protected readonly checkFinite: boolean;

  private constructor(
    readonly path: string,
    readonly metadata: Readonly<Record<string, string>>,
    private readonly ordered: readonly TensorInfo[],
    /** Byte size of the JSON header (without the 8-byte length prefix). */
    readonly headerBytes: number,
    options: SafetensorsReadOptions,
  ) {
    super();
    this.byName = new Map(ordered.map((t) => [t.name, t]));
    this.checkFinite = options.checkFinite ?? true;
  }

  /** Opens and checks a file; refuses directories, FIFOs and devices before reading a byte. */
  static open(path: string, options: SafetensorsReadOptions = {}): SafetensorsFile {
    const abs = resolve(path);
    const { fd, size: fileSize } = openRegularFileSync(abs, 'safetensors file', 'corrupt_data');
    try {
      if (fileSize < 8) {
        throw new HerdError('corrupt_data', `${abs}: ${fileSize} bytes is too short for a safetensors file (needs at least 8)`);
      }
      const prefix = new Uint8Array(8);
      readFullySync(fd, prefix, 0, abs, 'the header length');
      const n = new DataView(prefix.buffer).getBigUint64(0, true);
      if (n > BigInt(MAX_HEADER_BYTES)) {
        throw new HerdError('corrupt_data', `${abs}: header length ${n} exceeds ${MAX_HEADER_BYTES} bytes; not a safetensors file?`);
      }
      const headerBytes = Number(n);
      if (8 + headerBytes > fileSize) {
        throw new HerdError('corrupt_data', `${abs}: header claims ${headerBytes} bytes but the file has only ${fileSize - 8} after the length prefix (truncated file?)`);
      }
      const header = new Uint8Array(headerBytes);
      readFullySync(fd, header, 8, abs, 'the header');
      const { metadata, entries } = parseHeader(abs, header, fileSize);
      return new SafetensorsFile(abs, Object.freeze(metadata), entries, headerBytes, options);
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
