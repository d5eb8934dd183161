/**
 * Hostile files for the media readers (issue 14): every case is generated here in a temp folder
 * (nothing large committed) and ends in a HerdError naming the file, or in a documented acceptance.
 * Add a row when a reader learns a new refusal.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HerdError, type HerdErrorCode } from '@herd/core';
import { decodeAudio } from './audio/decode.js';
import { decodeImage } from './image/decode.js';
import { encodeBmp } from './image/bmp.js';
import { probeVideo, sampleFrames } from './video/frames.js';
import { childProcesses, ffmpegMake, makeWav, sine, tempDir, tryFfmpeg } from './test-files.js';

const ffmpeg = tryFfmpeg();
const tmp = tempDir('hostile');
afterAll(tmp.cleanup);

/** How a case must end: refused with a code and a message pattern, or accepted with a check. */
type Outcome = { refuse: HerdErrorCode; match: RegExp } | { accept: (r: unknown) => void; why: string };
interface Case {
  readonly file: string;
  readonly make: (path: string) => void | Promise<void>;
  readonly outcome: Outcome;
}

// A CRC-valid PNG chunk.
function chunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
function crc32(b: Uint8Array): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
/** A real PNG compression bomb: 16000×16000 1-bit grey, all zero — 32 MB of scanlines deflated to ~32 KB. */
function pngBomb(side: number, withData = true): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const rows = withData ? deflateSync(Buffer.alloc(side * (1 + Math.ceil(side / 8))), { level: 9 }) : Buffer.alloc(0);
  return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), chunk('IHDR', ihdr), ...(withData ? [chunk('IDAT', rows)] : []), chunk('IEND', new Uint8Array())]);
}

const rgb = (w: number, h: number): Buffer => Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256));
const enc = async (f: (s: Sharp) => Sharp, w = 64, h = 48): Promise<Buffer> => f(sharp(rgb(w, h), { raw: { width: w, height: h, channels: 3 } })).toBuffer();
const half = (b: Uint8Array): Uint8Array => b.subarray(0, Math.floor(b.length / 2));
const isRgb = (w: number, h: number) => (r: unknown): void => {
  const img = r as { width: number; height: number; data: Uint8Array };
  expect([img.width, img.height, img.data.length]).toEqual([w, h, w * h * 3]);
};

const imageCases: Case[] = [
  { file: 'zero.png', make: (p) => writeFileSync(p, ''), outcome: { refuse: 'corrupt_data', match: /empty file \(0 bytes\)/ } },
  { file: 'half.png', make: async (p) => writeFileSync(p, half(await enc((s) => s.png()))), outcome: { refuse: 'corrupt_data', match: /png could not be decoded/ } },
  { file: 'half.jpg', make: async (p) => writeFileSync(p, half(await enc((s) => s.jpeg()))), outcome: { refuse: 'corrupt_data', match: /jpeg could not be decoded/ } },
  { file: 'half.webp', make: async (p) => writeFileSync(p, half(await enc((s) => s.webp()))), outcome: { refuse: 'corrupt_data', match: /webp could not be decoded/ } },
  { file: 'half.gif', make: async (p) => writeFileSync(p, half(await enc((s) => s.gif()))), outcome: { refuse: 'corrupt_data', match: /gif could not be decoded/ } },
  { file: 'half.avif', make: async (p) => writeFileSync(p, half(await enc((s) => s.avif()))), outcome: { refuse: 'corrupt_data', match: /avif could not be decoded/ } },
  { file: 'half.tiff', make: async (p) => writeFileSync(p, half(await enc((s) => s.tiff({ compression: 'lzw' })))), outcome: { refuse: 'corrupt_data', match: /tiff could not be decoded/ } },
  {
    file: 'bad-crc.png',
    make: async (p) => {
      const b = Buffer.from(await enc((s) => s.png({ compressionLevel: 0 }), 64, 64));
      for (let i = 200; i < 260; i++) b[i] = b[i]! ^ 0xff; // damage inside IDAT: its CRC no longer matches
      writeFileSync(p, b);
    },
    outcome: { refuse: 'corrupt_data', match: /png could not be decoded/ },
  },
  { file: 'jpeg-header-only.jpg', make: (p) => writeFileSync(p, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1])), outcome: { refuse: 'corrupt_data', match: /jpeg could not be decoded/ } },
  { file: 'random.jpg', make: (p) => writeFileSync(p, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251))), outcome: { refuse: 'corrupt_data', match: /not a recognised image \(first bytes/ } },
  { file: 'text.png', make: (p) => writeFileSync(p, 'hello, I am a caption, not a picture\n'), outcome: { refuse: 'corrupt_data', match: /not a recognised image/ } },
  {
    file: 'png-named.jpg',
    make: async (p) => writeFileSync(p, await enc((s) => s.png())),
    outcome: { accept: isRgb(64, 48), why: 'formats are sniffed from content, so a misnamed file decodes as what it is' },
  },
  { file: 'bomb.png', make: (p) => writeFileSync(p, pngBomb(16000)), outcome: { refuse: 'invalid_argument', match: /16000×16000 = 256\.0 MP is over the 40\.0 MP limit/ } },
  { file: 'bomb-header-only.png', make: (p) => writeFileSync(p, pngBomb(16000, false)), outcome: { refuse: 'corrupt_data', match: /png could not be decoded/ } },
  { file: 'bmp-bomb.bmp', make: (p) => { const b = encodeBmp(new Uint8Array(12), 2, 2); new DataView(b.buffer).setInt32(18, 100000, true); new DataView(b.buffer).setInt32(22, 100000, true); writeFileSync(p, b); }, outcome: { refuse: 'invalid_argument', match: /100000×100000 .* over the 40\.0 MP limit/ } },
  {
    file: 'xxe.svg',
    make: (p) => writeFileSync(p, '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&x;</text></svg>'),
    outcome: { refuse: 'invalid_argument', match: /SVG refused \(it can reference external files/ },
  },
  {
    file: 'external-image.svg',
    make: (p) => writeFileSync(p, '\uFEFF  <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10"><image xlink:href="file:///etc/hostname" width="10" height="10"/></svg>'),
    outcome: { refuse: 'invalid_argument', match: /SVG refused/ },
  },
  { file: 'script.svg', make: (p) => writeFileSync(p, '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), outcome: { refuse: 'invalid_argument', match: /SVG refused/ } },
  {
    file: 'fake.heic',
    make: (p) => writeFileSync(p, Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1'), Buffer.alloc(64)])),
    outcome: { refuse: 'invalid_argument', match: /HEIC\/HEIF \(HEVC\) is not decodable here/ },
  },
  { file: 'palette.bmp', make: (p) => { const b = encodeBmp(new Uint8Array(12), 2, 2); new DataView(b.buffer).setUint16(28, 8, true); writeFileSync(p, b); }, outcome: { refuse: 'invalid_argument', match: /BMP with 8-bit pixels and compression 0 is not supported .* convert it to PNG/ } },
  { file: 'rle.bmp', make: (p) => { const b = encodeBmp(new Uint8Array(12), 2, 2); new DataView(b.buffer).setUint32(30, 1, true); writeFileSync(p, b); }, outcome: { refuse: 'invalid_argument', match: /compression 1 is not supported/ } },
  { file: 'cut.bmp', make: (p) => writeFileSync(p, encodeBmp(new Uint8Array(rgb(16, 16)), 16, 16).subarray(0, 300)), outcome: { refuse: 'corrupt_data', match: /BMP truncated \(pixel data needs 822 bytes, file has 300\)/ } },
  { file: 'negative.bmp', make: (p) => { const b = encodeBmp(new Uint8Array(12), 2, 2); new DataView(b.buffer).setInt32(18, -2, true); writeFileSync(p, b); }, outcome: { refuse: 'corrupt_data', match: /BMP size -2×2 is not a valid image size/ } },
  { file: 'dot.png', make: async (p) => writeFileSync(p, await enc((s) => s.png(), 1, 1)), outcome: { accept: isRgb(1, 1), why: 'a 1×1 image is a valid image; size filters belong to curation' } },
  { file: 'strip.png', make: async (p) => writeFileSync(p, await enc((s) => s.png(), 20000, 1)), outcome: { accept: isRgb(20000, 1), why: 'extreme aspect ratios decode; curation drops them' } },
  {
    file: 'cmyk.jpg',
    make: async (p) => writeFileSync(p, await enc((s) => s.toColourspace('cmyk').jpeg())),
    outcome: { accept: isRgb(64, 48), why: 'CMYK JPEG is converted to sRGB' },
  },
  {
    file: 'two-pages.tiff',
    make: async (p) => {
      const a = await enc((s) => s.png(), 8, 8);
      writeFileSync(p, await sharp([a, a], { join: { animated: true } }).tiff().toBuffer());
    },
    outcome: { accept: isRgb(8, 8), why: 'multi-page TIFF and animations: the first page/frame' },
  },
  { file: 'a-folder.png', make: (p) => mkdirSync(p), outcome: { refuse: 'io_error', match: /not a regular file/ } },
  { file: 'fifo.png', make: (p) => execFileSync('mkfifo', [p]), outcome: { refuse: 'io_error', match: /not a regular file/ } },
  { file: 'missing.png', make: () => {}, outcome: { refuse: 'io_error', match: /cannot open \(ENOENT\)/ } },
];

async function check(c: Case, decode: (path: string) => Promise<unknown>): Promise<void> {
  const path = join(tmp.dir, c.file);
  await c.make(path);
  const result = await decode(path).then(
    (r) => ({ ok: true as const, r }),
    (e: unknown) => ({ ok: false as const, e }),
  );
  if ('refuse' in c.outcome) {
    expect(result.ok, `${c.file} should be refused`).toBe(false);
    const e = (result as { e: unknown }).e;
    expect(e).toBeInstanceOf(HerdError);
    expect((e as HerdError).code).toBe(c.outcome.refuse);
    expect((e as HerdError).message).toContain(path); // names the file
    expect((e as HerdError).message).toMatch(c.outcome.match);
  } else {
    expect(result.ok, `${c.file} should be accepted (${c.outcome.why}): ${String((result as { e?: unknown }).e)}`).toBe(true);
    c.outcome.accept((result as { r: unknown }).r);
  }
}

describe('hostile images → decodeImage', () => {
  it.each(imageCases.map((c) => [c.file, c] as const))('%s', async (_, c) => check(c, (p) => decodeImage(p)));
});

const wav16 = (seconds: number): Uint8Array => makeWav(sine(440, seconds, 16000, 0.3), { rate: 16000, channels: 1, bits: 16 });
const setU16 = (b: Uint8Array, o: number, v: number): Uint8Array => (new DataView(b.buffer, b.byteOffset).setUint16(o, v, true), b);
const setU32 = (b: Uint8Array, o: number, v: number): Uint8Array => (new DataView(b.buffer, b.byteOffset).setUint32(o, v, true), b);
const isAudio = (seconds: number) => (r: unknown): void => {
  const a = r as { samples: Float32Array; sampleRate: number };
  expect(a.sampleRate).toBe(16000);
  expect(Math.abs(a.samples.length / 16000 - seconds)).toBeLessThan(0.05);
};

const audioCases: Case[] = [
  { file: 'zero.wav', make: (p) => writeFileSync(p, ''), outcome: { refuse: 'corrupt_data', match: /empty file/ } },
  { file: 'header-only.wav', make: (p) => writeFileSync(p, wav16(0.1).subarray(0, 36)), outcome: { refuse: 'corrupt_data', match: /no data chunk/ } },
  { file: 'cut.wav', make: (p) => writeFileSync(p, half(wav16(1))), outcome: { refuse: 'corrupt_data', match: /WAV truncated/ } },
  { file: 'no-channels.wav', make: (p) => writeFileSync(p, setU16(wav16(0.1), 22, 0)), outcome: { refuse: 'corrupt_data', match: /0 channels/ } },
  { file: 'rate-zero.wav', make: (p) => writeFileSync(p, setU32(wav16(0.1), 24, 0)), outcome: { refuse: 'corrupt_data', match: /sample rate 0 Hz is out of range/ } },
  { file: 'huge-chunk.wav', make: (p) => writeFileSync(p, setU32(wav16(0.1), 16, 0xfffffff0)), outcome: { refuse: 'corrupt_data', match: /no data chunk/ } },
  { file: 'short-fmt.wav', make: (p) => writeFileSync(p, setU32(wav16(0.1), 16, 4)), outcome: { refuse: 'corrupt_data', match: /fmt chunk of 4 bytes is too short/ } },
  { file: 'nan.wav', make: (p) => writeFileSync(p, makeWav(Float32Array.of(0, NaN), { rate: 16000, channels: 1, bits: 32, float: true })), outcome: { refuse: 'non_finite', match: /sample 1 .* NaN/ } },
  { file: 'long.wav', make: (p) => writeFileSync(p, wav16(61)), outcome: { refuse: 'invalid_argument', match: /61\.00 s of audio is over the 60 s limit/ } },
  { file: 'silence.wav', make: (p) => writeFileSync(p, makeWav(new Float32Array(8000), { rate: 16000, channels: 1, bits: 16 })), outcome: { accept: isAudio(0.5), why: 'silence is valid audio; the speech/silence ratio is a curation stage' } },
  { file: 'streamed.wav', make: (p) => writeFileSync(p, setU32(wav16(0.5), 40, 0xffffffff)), outcome: { accept: isAudio(0.5), why: 'a streaming writer leaves the data size 0xFFFFFFFF: read to the end of the file' } },
  { file: 'picture.wav', make: async (p) => writeFileSync(p, await enc((s) => s.png())), outcome: { refuse: 'invalid_argument', match: /this is a png image, not audio/ } },
  { file: 'a-folder.wav', make: (p) => mkdirSync(p), outcome: { refuse: 'io_error', match: /not a regular file/ } },
  ...(ffmpeg === undefined ? [] : [
    { file: 'text.mp3', make: (p: string) => writeFileSync(p, 'just words\n'.repeat(50)), outcome: { refuse: 'corrupt_data', match: /not a readable media file/ } },
    { file: 'id3-only.mp3', make: (p: string) => writeFileSync(p, Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'latin1'), Buffer.alloc(100)])), outcome: { refuse: 'corrupt_data', match: /not a readable media file|no audio stream/ } },
    {
      file: 'cut.flac',
      make: (p: string) => {
        ffmpegMake(ffmpeg, ['-f', 'lavfi', '-i', 'sine=f=300:d=4', '-c:a', 'flac', `${p}.full.flac`]);
        writeFileSync(p, half(readFileSync(`${p}.full.flac`)));
      },
      outcome: { refuse: 'corrupt_data', match: /truncated: decoded .* of the 4\.00 s the header declares/ },
    },
    {
      file: 'long.ogg',
      make: (p: string) => ffmpegMake(ffmpeg, ['-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '75', '-c:a', 'libvorbis', p]),
      outcome: { refuse: 'invalid_argument', match: /75\.\d\d s of audio is over the 60 s limit/ },
    },
    { file: 'video-only.mp4', make: (p: string) => ffmpegMake(ffmpeg, ['-f', 'lavfi', '-i', 'testsrc=size=16x16:d=1', '-c:v', 'libx264', p]), outcome: { refuse: 'invalid_argument', match: /no audio stream/ } },
  ] as Case[]),
];

describe('hostile audio → decodeAudio', () => {
  it.each(audioCases.map((c) => [c.file, c] as const))('%s', async (_, c) => check(c, (p) => decodeAudio(p)));
});

describe.skipIf(ffmpeg === undefined)('hostile video → sampleFrames', () => {
  const good = join(tmp.dir, 'good.mp4');
  const tail = join(tmp.dir, 'moov-at-end.mp4');
  beforeAll(() => {
    ffmpegMake(ffmpeg!, ['-f', 'lavfi', '-i', 'testsrc=size=32x24:rate=10:duration=3', '-c:v', 'libx264', '-movflags', '+faststart', good]);
    ffmpegMake(ffmpeg!, ['-i', good, '-c', 'copy', tail]);
  });
  const videoCases: Case[] = [
    { file: 'zero.mp4', make: (p) => writeFileSync(p, ''), outcome: { refuse: 'corrupt_data', match: /empty file/ } },
    { file: 'cut-mdat.mp4', make: (p) => writeFileSync(p, readFileSync(good).subarray(0, Math.floor(readFileSync(good).length * 0.6))), outcome: { refuse: 'corrupt_data', match: /truncated or damaged: decoded \d+ of the 8 frames/ } },
    { file: 'cut-no-moov.mp4', make: (p) => writeFileSync(p, half(readFileSync(tail))), outcome: { refuse: 'corrupt_data', match: /not a readable media file/ } },
    {
      file: 'unknown-codec.mp4',
      make: (p) => {
        const b = Buffer.from(readFileSync(good));
        b.write('zzzz', b.lastIndexOf('avc1'), 'latin1'); // the sample entry's codec tag
        writeFileSync(p, b);
      },
      outcome: { refuse: 'invalid_argument', match: /unsupported video codec/ },
    },
    { file: 'audio-only.m4a', make: (p) => ffmpegMake(ffmpeg!, ['-f', 'lavfi', '-i', 'sine=d=1', '-c:a', 'aac', p]), outcome: { refuse: 'invalid_argument', match: /no video stream/ } },
    { file: 'still.png', make: async (p) => writeFileSync(p, await enc((s) => s.png())), outcome: { refuse: 'invalid_argument', match: /no video stream/ } },
    { file: 'text.mp4', make: (p) => writeFileSync(p, 'not a movie\n'.repeat(30)), outcome: { refuse: 'corrupt_data', match: /not a readable media file/ } },
    { file: 'a-folder.mp4', make: (p) => mkdirSync(p), outcome: { refuse: 'io_error', match: /not a regular file/ } },
    { file: 'fifo.mp4', make: (p) => execFileSync('mkfifo', [p]), outcome: { refuse: 'io_error', match: /not a regular file/ } },
    {
      file: 'one-frame.mp4',
      make: (p) => ffmpegMake(ffmpeg!, ['-f', 'lavfi', '-i', 'testsrc=size=16x16:rate=10', '-frames:v', '1', '-c:v', 'libx264', p]),
      outcome: { accept: (r) => expect((r as { frameIndices: number[] }).frameIndices).toEqual([0, 0, 0, 0, 0, 0, 0, 0]), why: 'a one-frame clip gives that frame N times; static clips are a curation stage' },
    },
  ];
  it.each(videoCases.map((c) => [c.file, c] as const))('%s', async (_, c) => {
    await check(c, (p) => sampleFrames(p, { count: 8 }));
    expect(childProcesses('ffmpeg')).toEqual([]);
    expect(childProcesses('ffprobe')).toEqual([]);
  });
  it('probeVideo on the good clip still works', async () => expect((await probeVideo(good)).codec).toBe('h264'));
});
