/**
 * Writing `.safetensors` files from host tensors, atomically (temp file + rename). Each tensor is
 * stored in its own dtype: to store f32 values as f16/bf16, pass `castFloat(t, 'f16')`.
 */
import { ProblemList } from '../errors.js';
import { writeFileAtomic, writeFileAtomicSync } from '../fs.js';
import { DTYPE_FACTS, type StorageDType, holdsDType, isStorageDType } from '../tensor/dtype.js';
import { type HostTensor, numelOf } from '../tensor/host-tensor.js';
import { SAFETENSORS_DTYPE_BYTES, TO_SAFETENSORS, assertLittleEndianHost } from './format.js';

/** Tensors to write, by name. */
export type SafetensorsTensors = Readonly<Record<string, HostTensor<StorageDType>>>;

function tensorBytes(name: string, t: HostTensor<StorageDType>, problems: ProblemList): Uint8Array | undefined {
  if (!isStorageDType(t.dtype)) {
    problems.add(`tensor '${name}': unknown dtype ${JSON.stringify(t.dtype)} (valid: ${Object.keys(DTYPE_FACTS).join(', ')})`);
    return undefined;
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    problems.add(`tensor '${name}': shape must be non-negative integers, got ${JSON.stringify(t.shape)}`);
    return undefined;
  }
  const facts = DTYPE_FACTS[t.dtype];
  if (!holdsDType(t.dtype, t.data)) {
    problems.add(`tensor '${name}': ${t.dtype} data must be a ${facts.array}, got ${(t.data as object).constructor?.name ?? typeof t.data}`);
    return undefined;
  }
  const expectedBytes = numelOf(t.shape) * facts.bytes;
  if (t.data.byteLength !== expectedBytes) {
    problems.add(`tensor '${name}': shape ${JSON.stringify(t.shape)} of ${t.dtype} needs ${expectedBytes} bytes, data has ${t.data.byteLength}`);
    return undefined;
  }
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (t.dtype === 'bool' && bytes.some((b) => b > 1)) {
    problems.add(`tensor '${name}': bool data must be 0 or 1 bytes`);
    return undefined;
  }
  return bytes;
}

/**
 * The file's bytes as chunks (header first). Tensors go largest element size first, then by name, so
 * every tensor starts aligned to its element size with no gaps (as the reference writer does).
 */
export function encodeSafetensors(tensors: SafetensorsTensors, metadata?: Readonly<Record<string, string>>): Uint8Array[] {
  assertLittleEndianHost();
  const problems = new ProblemList();
  const items: { name: string; dtype: StorageDType; shape: readonly number[]; bytes: Uint8Array }[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '' || name === '__metadata__') {
      problems.add(`tensor name ${JSON.stringify(name)} is reserved or empty`);
      continue;
    }
    const bytes = tensorBytes(name, t, problems);
    if (bytes !== undefined) items.push({ name, dtype: t.dtype, shape: t.shape, bytes });
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') problems.add(`metadata '${k}' must be a string, got ${typeof v}`);
    }
  }
  problems.throwIfAny('invalid_argument', 'cannot write safetensors');
  const size = (d: StorageDType): number => SAFETENSORS_DTYPE_BYTES[TO_SAFETENSORS[d]];
  items.sort((a, b) => size(b.dtype) - size(a.dtype) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) header['__metadata__'] = { ...metadata };
  let offset = 0;
  for (const { name, dtype, shape, bytes } of items) {
    header[name] = { dtype: TO_SAFETENSORS[dtype], shape: [...shape], data_offsets: [offset, offset + bytes.length] };
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
export async function writeSafetensors(path: string, tensors: SafetensorsTensors, metadata?: Readonly<Record<string, string>>): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export function writeSafetensorsSync(path: string, tensors: SafetensorsTensors, metadata?: Readonly<Record<string, string>>): void {
  writeFileAtomicSync(path, encodeSafetensors(tensors, metadata));
}

