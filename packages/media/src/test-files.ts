/**
 * Media files for tests, made on the fly in a temp folder (nothing large is committed): ffmpeg's
 * lavfi sources for audio and video, pure TypeScript for WAV. Not part of the package's API.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveFfmpeg } from './ffmpeg/resolve.js';

export function tryFfmpeg(): string | undefined {
  try {
    return resolveFfmpeg();
  } catch {
    return undefined;
  }
}

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `herd-media-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs ffmpeg synchronously (test set-up only). */
export function ffmpegMake(ffmpeg: string, args: readonly string[]): void {
  execFileSync(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A sine of `hz` for `seconds` at `rate`, as float samples. */
export function sine(hz: number, seconds: number, rate: number, amp = 0.5): Float32Array {
  return Float32Array.from({ length: Math.round(seconds * rate) }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / rate));
}

/** The amplitude of frequency `hz` in `x` (a single-bin DFT over whole samples, Hann-windowed). */
export function toneAmplitude(x: ArrayLike<number>, hz: number, rate: number): number {
  let re = 0;
  let im = 0;
  let wsum = 0;
  for (let i = 0; i < x.length; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (x.length - 1));
    re += w * x[i]! * Math.cos((2 * Math.PI * hz * i) / rate);
    im -= w * x[i]! * Math.sin((2 * Math.PI * hz * i) / rate);
    wsum += w;
  }
  return (2 * Math.hypot(re, im)) / wsum;
}

/** Child processes of this process whose command is `name` (Linux /proc). */
export function childProcesses(name: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      if (Number(fields[1]) === process.pid && comm === name) out.push(Number(pid));
    } catch {
      // the process went away while we looked
    }
  }
  return out;
}

/** A little-endian WAV with any format tag / bit depth / channel count, from interleaved float samples. */
export function makeWav(samples: ArrayLike<number>, opts: { rate: number; channels: number; bits: 8 | 16 | 24 | 32 | 64; float?: boolean; extensible?: boolean }): Uint8Array {
  const width = opts.bits / 8;
  const fmtSize = opts.extensible ? 40 : 16;
  const dataBytes = samples.length * width;
  const out = new Uint8Array(12 + 8 + fmtSize + 8 + dataBytes);
  const dv = new DataView(out.buffer);
  const tag = (o: number, s: string): void => [...s].forEach((c, i) => (out[o + i] = c.charCodeAt(0)));
  tag(0, 'RIFF');
  dv.setUint32(4, out.length - 8, true);
  tag(8, 'WAVE');
  tag(12, 'fmt ');
  dv.setUint32(16, fmtSize, true);
  const format = opts.float ? 3 : 1;
  dv.setUint16(20, opts.extensible ? 0xfffe : format, true);
  dv.setUint16(22, opts.channels, true);
  dv.setUint32(24, opts.rate, true);
  dv.setUint32(28, opts.rate * opts.channels * width, true);
  dv.setUint16(32, opts.channels * width, true);
  dv.setUint16(34, opts.bits, true);
  if (opts.extensible) {
    dv.setUint16(36, 22, true);
    dv.setUint16(38, opts.bits, true);
    dv.setUint32(40, 0, true);
    dv.setUint16(44, format, true); // first two bytes of the sub-format GUID
  }
  const d = 20 + fmtSize;
  tag(d, 'data');
  dv.setUint32(d + 4, dataBytes, true);
  for (let i = 0; i < samples.length; i++) {
    const o = d + 8 + i * width;
    const v = samples[i]!;
    if (opts.float) {
      if (opts.bits === 32) dv.setFloat32(o, v, true);
      else dv.setFloat64(o, v, true);
    } else if (opts.bits === 8) dv.setUint8(o, Math.round(v * 127) + 128);
    else if (opts.bits === 16) dv.setInt16(o, Math.round(v * 32767), true);
    else if (opts.bits === 24) {
      const x = Math.round(v * 8388607);
      dv.setUint8(o, x & 0xff);
      dv.setUint8(o + 1, (x >> 8) & 0xff);
      dv.setInt8(o + 2, x >> 16);
    } else dv.setInt32(o, Math.round(v * 2147483647), true);
  }
  return out;
}
