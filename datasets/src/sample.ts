/** The sample shape is @herd/data's (WebDataset-style: one key, files keyed by extension, JSON meta). */
export type { Sample } from '@herd/data';

const encoder = new TextEncoder();
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

export function sampleKey(prefix: string, index: number): string {
  return `${prefix}-${String(index).padStart(8, '0')}`;
}
