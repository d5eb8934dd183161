/**
 * Decoding at the edge, per core: images/s of decodeImage + resizeRgb (640×480 JPEG → 224×224),
 * the real-time factor of decodeAudio (44.1 kHz stereo → 16 kHz mono, WAV by our reader and FLAC
 * through ffmpeg, both through our resampler), and frames/s of sampleFrames (H.264 320×240, 16 and
 * 64 frames at 224×224; a 30-minute clip, one pass vs a seek per frame). libvips runs with one thread (sharp.concurrency(1)) so image figures are per
 * core; ffmpeg is left to its own threading. Inputs are generated in a temp folder. Median of --runs.
 *
 *   node bench/dist/media-decode.js [--runs 5] [--images 32]
 *
 * Prints a table and writes bench/results/media-decode.json. Asserts nothing.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { Rng } from '@herd/core';
import { decodeAudio, decodeImage, encodeWav, floatToInt16, resample, resizeRgb, resolveFfmpeg, sampleFrames } from '@herd/media';
import { benchArgs } from './bench-args.js';

const cli = benchArgs({
  about: 'Decoding at the edge, per core: images/s of decodeImage + resizeRgb (640×480 JPEG → 224×224), the real-time factor of decodeAudio (WAV, FLAC through ffmpeg), and frames/s of sampleFrames (H.264).',
  writes: 'bench/results/media-decode.json',
  flags: {
    runs: { value: 'N', default: '5', help: 'timed runs of each (the median is reported)' },
    images: { value: 'N', default: '32', help: 'generated JPEGs per image run' },
  },
});
const runs = cli.number('runs');
const nImages = cli.number('images');
sharp.concurrency(1);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function time(f: () => Promise<unknown>): Promise<number> {
  await f(); // warm-up
  const ts: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await f();
    ts.push((performance.now() - t0) / 1000);
  }
  return median(ts);
}

/** CPU seconds (user + system) of this process's finished children, from /proc (Linux); undefined elsewhere. */
function childCpuSeconds(): number | undefined {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    // After the command name: field 14 (cutime) and 15 (cstime) of proc(5) are at 13 and 14 here.
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return undefined;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'herd-bench-media-'));
const ffmpeg = resolveFfmpeg();
const ff = (args: string[]): void => void execFileSync(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args]);
const rows: { what: string; value: number; unit: string; detail: string }[] = [];
const loadBefore = loadavg()[0]!;
try {
  // Images: noisy 640×480 JPEGs (noise keeps the entropy decoder honest).
  const rng = new Rng(1);
  const jpegs: Buffer[] = [];
  for (let i = 0; i < nImages; i++) {
    const px = Buffer.from(Array.from({ length: 640 * 480 * 3 }, (_, k) => ((k % 1920) / 8 + rng.int(64)) & 255));
    jpegs.push(await sharp(px, { raw: { width: 640, height: 480, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
  }
  const tImg = await time(async () => {
    for (const j of jpegs) await resizeRgb(await decodeImage(j), 224, 224);
  });
  rows.push({ what: 'image decode + resize', value: nImages / tImg, unit: 'images/s', detail: `640×480 JPEG q90 → RGB → 224×224, ${nImages} images, 1 libvips thread` });
  const tDec = await time(async () => {
    for (const j of jpegs) await decodeImage(j);
  });
  rows.push({ what: 'image decode only', value: nImages / tDec, unit: 'images/s', detail: '640×480 JPEG q90 → RGB u8' });

  // Audio: 30 s of 44.1 kHz stereo.
  const seconds = 30;
  const n = seconds * 44100;
  const inter = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) inter[2 * i] = inter[2 * i + 1] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / 44100) + 0.05 * (rng.next() - 0.5);
  const wavHeaderStereo = (() => {
    const mono = encodeWav(floatToInt16(inter), 44100); // 16-bit, then mark it stereo at the same byte rate
    const dv = new DataView(mono.buffer);
    dv.setUint16(22, 2, true);
    dv.setUint32(28, 44100 * 4, true);
    dv.setUint16(32, 4, true);
    return mono;
  })();
  const wavPath = join(dir, 'a.wav');
  writeFileSync(wavPath, wavHeaderStereo);
  const tWav = await time(() => decodeAudio(wavPath));
  rows.push({ what: 'audio WAV → 16 kHz', value: seconds / tWav, unit: '× real time', detail: `${seconds} s 44.1 kHz stereo 16-bit, own reader + polyphase resampler` });
  const flacPath = join(dir, 'a.flac');
  ff(['-i', wavPath, '-c:a', 'flac', flacPath]);
  const tFlac = await time(() => decodeAudio(flacPath));
  rows.push({ what: 'audio FLAC → 16 kHz', value: seconds / tFlac, unit: '× real time', detail: `${seconds} s 44.1 kHz stereo, ffprobe + ffmpeg decode + resampler` });
  const mono = inter.filter((_, i) => i % 2 === 0);
  const tRes = await time(async () => resample(mono, 44100, 16000));
  rows.push({ what: 'resampler alone', value: seconds / tRes, unit: '× real time', detail: '44.1 → 16 kHz mono, 32 zero crossings, Kaiser β 9' });

  // Video: 10 s H.264 320×240 at 25 fps.
  const clip = join(dir, 'c.mp4');
  ff(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=10', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', clip]);
  for (const count of [16, 64]) {
    const t = await time(() => sampleFrames(clip, { count, size: { width: 224, height: 224 } }));
    rows.push({ what: `video sample ${count} frames`, value: count / t, unit: 'frames/s', detail: `10 s H.264 320×240 25 fps → ${count}×224×224 RGB (${(t * 1000).toFixed(0)} ms a clip, probe included)` });
  }

  // A long clip (30 min, a keyframe every 10 s as streaming encoders make them): one pass over every
  // frame vs a seek per frame (the default when the frames asked for are > 1,000 frames apart).
  const long = join(dir, 'long.mp4');
  ff(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=1800', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '250', '-pix_fmt', 'yuv420p', long]);
  for (const seek of [false, true]) {
    const cpu0 = childCpuSeconds();
    const t = await time(() => sampleFrames(long, { count: 16, size: { width: 224, height: 224 }, seek }));
    // Wall time on a shared machine says little: the ffmpeg CPU per clip is the figure that carries.
    const cpu = cpu0 === undefined ? undefined : (childCpuSeconds()! - cpu0) / (runs + 1);
    rows.push({ what: `long video, 16 frames, ${seek ? 'seek per frame' : 'one pass'}`, value: 16 / t, unit: 'frames/s', detail: `30 min H.264 320×240 25 fps, keyframe every 10 s → 16×224×224 RGB (${(t * 1000).toFixed(0)} ms a clip${cpu !== undefined ? `, ${cpu.toFixed(2)} CPU-s of ffmpeg a clip` : ''})` });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, loadAvg1m: { before: loadBefore, after: loadavg()[0] } };
console.log(`\nmedia-decode: ${machine.cpus} cores (${machine.cpuModel}), load average ${loadBefore.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}, median of ${runs} runs\n`);
console.log('| what | figure | unit | detail |\n|---|---:|---|---|');
for (const r of rows) console.log(`| ${r.what} | ${r.value.toFixed(r.value < 10 ? 2 : 1)} | ${r.unit} | ${r.detail} |`);
const outDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'media-decode.json'), JSON.stringify({ bench: 'media-decode', date: new Date().toISOString(), machine, runs, results: rows }, null, 2));
console.log(`\nwrote ${join(outDir, 'media-decode.json')}`);
