/**
 * Reading an input that is either a path or bytes, with the checks every decoder needs first: a
 * regular file (a FIFO or a folder would hang or fail obscurely), not empty, not larger than a limit.
 * The `name` it returns is what every error message of the decoders shows.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { HerdError } from '@herd/core';

export type MediaInput = string | Uint8Array;

export interface SourceBytes {
  readonly bytes: Uint8Array;
  /** The path, or the caller's name for a buffer (default `<buffer>`). */
  readonly name: string;
}

export async function readSource(input: MediaInput, maxBytes: number, name?: string): Promise<SourceBytes> {
  if (typeof input !== 'string') {
    const label = name ?? '<buffer>';
    if (input.byteLength === 0) throw new HerdError('corrupt_data', `${label}: empty input (0 bytes)`);
    if (input.byteLength > maxBytes) throw tooLarge(label, input.byteLength, maxBytes);
    return { bytes: input, name: label };
  }
  const label = name ?? input;
  let fh;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    fh = await open(input, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new HerdError('io_error', `${label}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new HerdError('io_error', `${label}: not a regular file (a folder, FIFO or device); give a file path`);
    if (st.size === 0) throw new HerdError('corrupt_data', `${label}: empty file (0 bytes)`);
    if (st.size > maxBytes) throw tooLarge(label, st.size, maxBytes);
    const bytes = new Uint8Array(st.size);
    let off = 0;
    while (off < st.size) {
      const { bytesRead } = await fh.read(bytes, off, st.size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return { bytes: off === st.size ? bytes : bytes.subarray(0, off), name: label };
  } finally {
    await fh.close();
  }
}

function tooLarge(name: string, size: number, max: number): HerdError {
  return new HerdError('invalid_argument', `${name}: ${size} bytes is over the limit of ${max} bytes (raise maxBytes if this file is expected)`);
}

export function bytesAsBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
