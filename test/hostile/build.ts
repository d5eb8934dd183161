/** Byte-level builders for hostile files: written by hand to the format, independent of herd's writers. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/** A safetensors file from raw header text (so duplicate keys, bad UTF-8 and deep nesting can be written) and data bytes. */
export function safetensorsBytes(header: string | Uint8Array, data: Uint8Array = new Uint8Array(0), lengthOverride?: bigint): Uint8Array {
  const json = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Little-endian f32 bytes. */
export function f32Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

export function entry(dtype: string, shape: readonly number[], begin: number, end: number): string {
  return JSON.stringify({ dtype, shape, data_offsets: [begin, end] });
}

/** A JSON value nested `depth` levels deep, built as text (building it as an object would itself be deep). */
export function deepJson(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

/** Makes a FIFO; undefined where mkfifo is not available (the case is then skipped). */
export function makeFifo(path: string): string | undefined {
  try {
    execFileSync('mkfifo', [path]);
    return path;
  } catch {
    return undefined;
  }
}

export function write(path: string, bytes: Uint8Array | string): string {
  writeFileSync(path, bytes);
  return path;
}
