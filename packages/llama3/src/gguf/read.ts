/**
 * A small GGUF v3 reader: header, metadata and tensor infos, and F32/F16 tensor data. Enough to
 * check what `writeLlamaGguf` wrote and to inspect files llama.cpp tools produce (other tensor
 * types are listed but not decoded).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { HerdError, decodeF16 } from '@herd/core';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgmlType, type GgmlTypeName, GgufType, type GgufScalarType, type GgufValue, alignUp, bytesPerElement } from './format.js';

export interface GgufReadTensorInfo {
  readonly name: string;
  readonly ne: readonly number[];
  /** The ggml type id; `type` names it when it is one we decode. */
  readonly typeId: number;
  readonly type: GgmlTypeName | null;
  readonly offset: number;
}

export interface GgufFile {
  readonly version: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  readonly tensors: readonly GgufReadTensorInfo[];
  readonly alignment: number;
  /** Absolute file offset of the data section. */
  readonly dataOffset: number;
}

class TruncatedHeader extends Error {}

const typeNames = Object.fromEntries(Object.entries(GgufType).map(([k, v]) => [v, k])) as Record<number, keyof typeof GgufType>;
const ggmlNames = Object.fromEntries(Object.entries(GgmlType).map(([k, v]) => [v, k])) as Record<number, GgmlTypeName>;

class Cursor {
  at = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): number {
    if (this.at + n > this.buf.length) throw new TruncatedHeader();
    const at = this.at;
    this.at += n;
    return at;
  }
  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new HerdError('corrupt_data', `GGUF: u64 ${v} does not fit a JS number`);
    return Number(v);
  }
  string(): string {
    const n = this.u64();
    const at = this.need(n);
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + at, n).toString('utf8');
  }
  scalar(type: GgufScalarType): number | bigint | boolean | string {
    switch (type) {
      case 'u8': return this.view.getUint8(this.need(1));
      case 'i8': return this.view.getInt8(this.need(1));
      case 'u16': return this.view.getUint16(this.need(2), true);
      case 'i16': return this.view.getInt16(this.need(2), true);
      case 'u32': return this.view.getUint32(this.need(4), true);
      case 'i32': return this.view.getInt32(this.need(4), true);
      case 'f32': return this.view.getFloat32(this.need(4), true);
      case 'bool': return this.view.getUint8(this.need(1)) !== 0;
      case 'u64': return this.view.getBigUint64(this.need(8), true);
      case 'i64': return this.view.getBigInt64(this.need(8), true);
      case 'f64': return this.view.getFloat64(this.need(8), true);
      case 'string': return this.string();
    }
  }
  typeName(where: string): keyof typeof GgufType {
    const id = this.u32();
    const name = typeNames[id];
    if (name === undefined) throw new HerdError('corrupt_data', `GGUF: unknown value type ${id} for ${where}`);
    return name;
  }
  value(key: string): GgufValue {
    const type = this.typeName(key);
    if (type !== 'array') return { type, value: this.scalar(type) } as GgufValue;
    const itemType = this.typeName(`${key}[]`);
    if (itemType === 'array') throw new HerdError('corrupt_data', `GGUF: nested arrays (${key}) are not supported`);
    const n = this.u64();
    const value: (number | bigint | boolean | string)[] = [];
    for (let i = 0; i < n; i++) value.push(this.scalar(itemType));
    return { type: 'array', itemType, value };
  }
}

function parse(buf: Uint8Array, path: string): GgufFile {
  const c = new Cursor(buf);
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) throw new HerdError('corrupt_data', `${path}: not a GGUF file (magic 0x${magic.toString(16)}, expected 0x${GGUF_MAGIC.toString(16)})`);
  const version = c.u32();
  if (version !== 2 && version !== 3) throw new HerdError('corrupt_data', `${path}: GGUF version ${version}; this reader knows 2 and 3`);
  const nTensors = c.u64();
  const nKv = c.u64();
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.string();
    metadata.set(key, c.value(key));
  }
  const tensors: GgufReadTensorInfo[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = c.string();
    const nDims = c.u32();
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(c.u64());
    const typeId = c.u32();
    tensors.push({ name, ne, typeId, type: ggmlNames[typeId] ?? null, offset: c.u64() });
  }
  const a = metadata.get('general.alignment');
  const alignment = a && a.type === 'u32' ? Number(a.value) : GGUF_DEFAULT_ALIGNMENT;
  return { version, metadata, tensors, alignment, dataOffset: alignUp(c.at, alignment) };
}

/** Reads a GGUF file's header (not its tensor data). */
export function readGguf(path: string): GgufFile {
  const fd = openSync(path, 'r');
  try {
    // Read a prefix and grow it until the header parses: headers are small, data can be GBs.
    for (let size = 1 << 20; ; size *= 4) {
      const buf = Buffer.alloc(size);
      const got = readSync(fd, buf, 0, size, 0);
      try {
        return parse(buf.subarray(0, got), path);
      } catch (e) {
        if (!(e instanceof TruncatedHeader)) throw e;
        if (got < size) throw new HerdError('corrupt_data', `${path}: GGUF header is truncated (file is ${got} bytes)`);
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** One tensor's values (F32 or F16 decoded to f32), in ggml order (ne[0] fastest). */
export function readGgufTensor(path: string, file: GgufFile, name: string): Float32Array {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) throw new HerdError('checkpoint_mismatch', `${path}: no tensor '${name}' (have ${file.tensors.length}: ${file.tensors.slice(0, 4).map((x) => x.name).join(', ')}, …)`);
  if (t.type === null) throw new HerdError('unsupported_op', `${path}: tensor '${name}' has ggml type ${t.typeId}; only F32 and F16 are decoded`);
  const count = t.ne.reduce((a, b) => a * b, 1);
  const buf = Buffer.alloc(count * bytesPerElement(t.type));
  const fd = openSync(path, 'r');
  try {
    const got = readSync(fd, buf, 0, buf.length, file.dataOffset + t.offset);
    if (got !== buf.length) throw new HerdError('corrupt_data', `${path}: tensor '${name}' is truncated (${got} of ${buf.length} bytes)`);
  } finally {
    closeSync(fd);
  }
  const copy = new Uint8Array(buf).buffer; // aligned copy for the typed-array view
  return t.type === 'F32' ? new Float32Array(copy) : decodeF16(new Uint16Array(copy));
}
