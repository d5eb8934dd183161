/**
 * WAV reading and writing in pure TypeScript (the same bytes on every machine, no ffmpeg needed):
 * PCM 8/16/24/32-bit, IEEE float 32/64-bit, any channel count, WAVE_FORMAT_EXTENSIBLE.
 */
import { HerdError, writeFileAtomic } from '@herd/core';

export interface WavInfo {
  /** 1 PCM, 3 IEEE float (the sub-format for WAVE_FORMAT_EXTENSIBLE). */
  readonly formatTag: number;
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
  let fmt: { tag: number; channels: number; sampleRate: number; bits: number } | undefined;
  while (o + 8 <= bytes.length) {
    const id = tag(o);
    const size = dv.getUint32(o + 4, true);
    if (id === 'fmt ') {
      if (size < 16 || o + 8 + 16 > bytes.length) throw new HerdError('corrupt_data', `${name}: fmt chunk of ${size} bytes is too short`);
      let tag = dv.getUint16(o + 8, true);
      // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
      if (tag === 0xfffe && size >= 40 && o + 8 + 26 <= bytes.length) tag = dv.getUint16(o + 8 + 24, true);
      fmt = { tag, channels: dv.getUint16(o + 10, true), sampleRate: dv.getUint32(o + 12, true), bits: dv.getUint16(o + 22, true) };
    } else if (id === 'data') {
      if (fmt === undefined) throw new HerdError('corrupt_data', `${name}: data chunk before fmt chunk`);
      const declared = size === 0 || size === 0xffffffff ? bytes.length - (o + 8) : size;
      return { formatTag: fmt.tag, sampleRate: fmt.sampleRate, channels: fmt.channels, bitsPerSample: fmt.bits, declaredDataBytes: declared, dataOffset: o + 8 };
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

export interface WavAudio {
  readonly sampleRate: number;
  readonly channels: number;
  /** Mono mixdown (mean of the channels), full scale ±1. */
  readonly samples: Float32Array;
}

/**
 * Any PCM/float WAV mixed down to mono float. A data chunk shorter than its header declares is
 * refused (a truncated file), except the 0 / 0xFFFFFFFF sizes streaming writers leave.
 */
export function readWav(bytes: Uint8Array, name = 'wav'): WavAudio {
  const info = parseWavHeader(bytes, name);
  const { formatTag: tag, bitsPerSample: bits, channels } = info;
  const pcm = tag === 1 && (bits === 8 || bits === 16 || bits === 24 || bits === 32);
  const float = tag === 3 && (bits === 32 || bits === 64);
  if (!pcm && !float) {
    throw new HerdError('invalid_argument', `${name}: WAV format ${tag} with ${bits}-bit samples is not supported (PCM 8/16/24/32-bit or float 32/64-bit)`);
  }
  if (channels < 1 || channels > 64) throw new HerdError('corrupt_data', `${name}: WAV header says ${channels} channels`);
  if (info.sampleRate < 1000 || info.sampleRate > 768000) throw new HerdError('corrupt_data', `${name}: WAV sample rate ${info.sampleRate} Hz is out of range (1 kHz–768 kHz)`);
  const avail = bytes.length - info.dataOffset;
  if (info.declaredDataBytes > avail) {
    throw new HerdError('corrupt_data', `${name}: WAV truncated: the data chunk declares ${info.declaredDataBytes} bytes, the file holds ${avail}`);
  }
  const width = bits / 8;
  const frames = Math.floor(info.declaredDataBytes / (width * channels));
  const dv = new DataView(bytes.buffer, bytes.byteOffset + info.dataOffset, frames * width * channels);
  const read: (o: number) => number =
    float ? (bits === 32 ? (o) => dv.getFloat32(o, true) : (o) => dv.getFloat64(o, true))
    : bits === 8 ? (o) => (dv.getUint8(o) - 128) / 128
    : bits === 16 ? (o) => dv.getInt16(o, true) / 32768
    : bits === 24 ? (o) => (((dv.getUint8(o + 2) << 24) | (dv.getUint8(o + 1) << 16) | (dv.getUint8(o) << 8)) >> 8) / 8388608
    : (o) => dv.getInt32(o, true) / 2147483648;
  const out = new Float32Array(frames);
  for (let f = 0; f < frames; f++) {
    let acc = 0;
    for (let c = 0; c < channels; c++) acc += read((f * channels + c) * width);
    out[f] = acc / channels;
  }
  return { sampleRate: info.sampleRate, channels, samples: out };
}

/** Float samples (±1 full scale) to 16-bit PCM, clamped. */
export function floatToInt16(samples: ArrayLike<number>): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = clampInt16(samples[i]! * 32767);
  return out;
}

/** Writes a 16-bit mono WAV atomically (temp file, then rename). */
export async function writeWav(path: string, samples: Int16Array | Float32Array, sampleRate: number): Promise<void> {
  await writeFileAtomic(path, encodeWav(samples instanceof Int16Array ? samples : floatToInt16(samples), sampleRate));
}
