/**
 * 16-bit PCM WAV reading and writing, and a windowed-sinc resampler (espeak-ng speaks at 22 050 Hz;
 * the speech encoders take 16 kHz). Pure TypeScript so the bytes are the same on every machine.
 */
import { HerdError } from '@herd/core';

export interface WavInfo {
  readonly sampleRate: number;
  readonly channels: number;
  readonly bitsPerSample: number;
  /** Bytes the header says the data chunk holds (may exceed the file when it was truncated). */
  readonly declaredDataBytes: number;
  /** Offset of the first data byte. */
  readonly dataOffset: number;
}

/** Parses RIFF/WAVE headers; tolerates streamed WAVs whose sizes are 0 or 0xFFFFFFFF. */
export function parseWavHeader(bytes: Uint8Array, name = 'wav'): WavInfo {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number): string => String.fromCharCode(bytes[o] ?? 0, bytes[o + 1] ?? 0, bytes[o + 2] ?? 0, bytes[o + 3] ?? 0);
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new HerdError('corrupt_data', `${name}: not a RIFF/WAVE file`);
  let o = 12;
  let fmt: { channels: number; sampleRate: number; bits: number } | undefined;
  while (o + 8 <= bytes.length) {
    const id = tag(o);
    const size = dv.getUint32(o + 4, true);
    if (id === 'fmt ') {
      fmt = { channels: dv.getUint16(o + 10, true), sampleRate: dv.getUint32(o + 12, true), bits: dv.getUint16(o + 22, true) };
    } else if (id === 'data') {
      if (fmt === undefined) throw new HerdError('corrupt_data', `${name}: data chunk before fmt chunk`);
      const declared = size === 0 || size === 0xffffffff ? bytes.length - (o + 8) : size;
      return { sampleRate: fmt.sampleRate, channels: fmt.channels, bitsPerSample: fmt.bits, declaredDataBytes: declared, dataOffset: o + 8 };
    }
    o += 8 + size + (size & 1);
  }
  throw new HerdError('corrupt_data', `${name}: no data chunk`);
}

/** Mono 16-bit samples of a WAV; only what is really in the file (a truncated file gives fewer). */
export function decodeWav(bytes: Uint8Array, name = 'wav'): { sampleRate: number; samples: Int16Array } {
  const info = parseWavHeader(bytes, name);
  if (info.bitsPerSample !== 16) throw new HerdError('corrupt_data', `${name}: expected 16-bit PCM, got ${info.bitsPerSample}-bit`);
  const avail = Math.min(info.declaredDataBytes, bytes.length - info.dataOffset);
  const frames = Math.floor(avail / (2 * info.channels));
  const dv = new DataView(bytes.buffer, bytes.byteOffset + info.dataOffset, frames * 2 * info.channels);
  const out = new Int16Array(frames);
  for (let i = 0; i < frames; i++) out[i] = dv.getInt16(i * 2 * info.channels, true); // first channel
  return { sampleRate: info.sampleRate, samples: out };
}

export function encodeWav(samples: Int16Array, sampleRate: number): Uint8Array {
  const out = new Uint8Array(44 + samples.length * 2);
  const dv = new DataView(out.buffer);
  const put = (o: number, s: string): void => {
    for (let i = 0; i < 4; i++) out[o + i] = s.charCodeAt(i);
  };
  put(0, 'RIFF');
  dv.setUint32(4, 36 + samples.length * 2, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  dv.setUint32(16, 16, true);
  dv.setUint16(20, 1, true); // PCM
  dv.setUint16(22, 1, true); // mono
  dv.setUint32(24, sampleRate, true);
  dv.setUint32(28, sampleRate * 2, true);
  dv.setUint16(32, 2, true);
  dv.setUint16(34, 16, true);
  put(36, 'data');
  dv.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) dv.setInt16(44 + i * 2, samples[i]!, true);
  return out;
}

/** Duration in seconds that the header declares. */
export function wavDeclaredDuration(bytes: Uint8Array): number {
  const info = parseWavHeader(bytes);
  return info.declaredDataBytes / (info.sampleRate * info.channels * (info.bitsPerSample / 8));
}

export function clampInt16(x: number): number {
  return x > 32767 ? 32767 : x < -32768 ? -32768 : Math.round(x);
}

/**
 * Band-limited resampling with a Hann-windowed sinc (cut-off at the lower Nyquist), 16 taps a side:
 * plenty for speech, and no dependency.
 */
export function resample(samples: Int16Array, from: number, to: number): Int16Array {
  if (from === to) return samples.slice();
  const ratio = to / from;
  const n = Math.floor(samples.length * ratio);
  const out = new Int16Array(n);
  const cutoff = Math.min(1, ratio); // relative to the input Nyquist
  const half = 16;
  const width = half / cutoff;
  for (let i = 0; i < n; i++) {
    const t = i / ratio;
    const k0 = Math.ceil(t - width);
    const k1 = Math.floor(t + width);
    let acc = 0;
    for (let k = k0; k <= k1; k++) {
      if (k < 0 || k >= samples.length) continue;
      const x = (t - k) * cutoff;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const w = 0.5 + 0.5 * Math.cos((Math.PI * (t - k)) / width);
      acc += samples[k]! * sinc * w;
    }
    out[i] = clampInt16(acc * cutoff);
  }
  return out;
}
