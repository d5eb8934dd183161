import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeVideo, sampleFrames } from './frames.js';
import { mp4VideoFrameCount } from './mp4.js';
import { ffmpegMake, tempDir, tryFfmpeg } from '../test-files.js';

const ffmpeg = tryFfmpeg();
const tmp = tempDir('video');
afterAll(tmp.cleanup);

/**
 * A clip whose frame k is a flat grey of level 10·k (k = 0..24), 25 frames at 10 fps: a decoded
 * frame's level says which frame it is.
 */
function numberedClip(path: string, extra: readonly string[] = []): void {
  ffmpegMake(ffmpeg!, [
    '-f', 'lavfi', '-i', 'color=c=black:size=32x24:rate=10:duration=2.5',
    '-vf', 'geq=lum=10*N:cb=128:cr=128', '-c:v', 'libx264', '-qp', '0', '-pix_fmt', 'yuv444p', ...extra, path,
  ]);
}
const level = (f: Uint8Array, i: number, w: number, h: number): number => f[(i * w * h + (h / 2) * w + w / 2) * 3]!;

describe.skipIf(ffmpeg === undefined)('probeVideo and sampleFrames', () => {
  const clip = join(tmp.dir, 'n.mp4');
  beforeAll(() => numberedClip(clip));

  it('probes duration, fps, size, codec and streams', async () => {
    const v = await probeVideo(clip);
    expect(v.codec).toBe('h264');
    expect([v.width, v.height, v.fps, v.frames, v.hasAudio]).toEqual([32, 24, 10, 25, false]);
    expect(v.durationS).toBeCloseTo(2.5, 1);
    expect(v.streams.map((s) => s.type)).toEqual(['video']);
  });

  it('takes N frames uniformly over the whole clip, as RGB u8 [N,H,W,3]', async () => {
    const f = await sampleFrames(clip, { count: 5 });
    expect([f.count, f.width, f.height, f.data.length]).toEqual([5, 32, 24, 5 * 32 * 24 * 3]);
    // Centres of 5 equal segments of 25 frames: 2, 7, 12, 17, 22.
    expect(f.frameIndices).toEqual([2, 7, 12, 17, 22]);
    const levels = f.frameIndices.map((_, i) => level(f.data, i, 32, 24));
    // Full-range grey 10·k through limited-range YUV→RGB: monotone, spaced by about 11.6.
    f.frameIndices.forEach((k, i) => expect(Math.abs(levels[i]! - (10 * k - 16) * (255 / 219))).toBeLessThan(3));
    expect(f.timesS).toEqual([0.2, 0.7, 1.2, 1.7, 2.2]);
  });

  it('scales to a requested size and repeats frames when N exceeds the clip', async () => {
    const f = await sampleFrames(clip, { count: 40, size: { width: 16, height: 8 } });
    expect([f.width, f.height, f.data.length]).toEqual([16, 8, 40 * 16 * 8 * 3]);
    expect(f.frameIndices[0]).toBe(0);
    expect(f.frameIndices[39]).toBe(24);
    expect(new Set(f.frameIndices).size).toBe(25);
    for (let i = 1; i < 40; i++) expect(level(f.data, i, 16, 8)).toBeGreaterThanOrEqual(level(f.data, i - 1, 16, 8));
  });

  it('reads an MP4 video track\'s frame count from its sample table, as ffprobe declares it; none for WebM or fragmented MP4', async () => {
    expect(mp4VideoFrameCount(readFileSync(clip))).toBe(25);
    // An audio track first: the video track is still the one counted.
    const withAudio = join(tmp.dir, 'a.mp4');
    ffmpegMake(ffmpeg!, ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2.5', '-i', clip, '-map', '0:a', '-map', '1:v', '-c:v', 'copy', '-c:a', 'aac', withAudio]);
    expect(mp4VideoFrameCount(readFileSync(withAudio))).toBe(25);
    const fragmented = join(tmp.dir, 'f.mp4');
    ffmpegMake(ffmpeg!, ['-i', clip, '-c', 'copy', '-movflags', 'frag_keyframe+empty_moov', fragmented]);
    expect(mp4VideoFrameCount(readFileSync(fragmented))).toBeUndefined();
    expect(mp4VideoFrameCount(new Uint8Array(64))).toBeUndefined();
  });

  it('counts frames when the container does not declare them (WebM)', async () => {
    const webm = join(tmp.dir, 'n.webm');
    ffmpegMake(ffmpeg!, ['-i', clip, '-c:v', 'libvpx-vp9', '-lossless', '1', webm]);
    const f = await sampleFrames(webm, { count: 5 });
    expect(f.info.codec).toBe('vp9');
    expect(f.frameIndices).toEqual([2, 7, 12, 17, 22]);
    expect(Math.abs(level(f.data, 4, 32, 24) - (220 - 16) * (255 / 219))).toBeLessThan(4);
  });

  it('seeking to each frame gives the same frames, bytes for bytes, as decoding the whole clip (a keyframe every 4.7 s)', async () => {
    // 40 s at 10 fps, a keyframe every 47 frames (none at a frame asked for); frame k is grey level (7·k) mod 256.
    const long = join(tmp.dir, 'long.mp4');
    ffmpegMake(ffmpeg!, [
      '-f', 'lavfi', '-i', 'color=c=black:size=32x24:rate=10:duration=40',
      '-vf', 'geq=lum=mod(7*N\\,256):cb=128:cr=128',
      '-c:v', 'libx264', '-qp', '0', '-g', '47', '-sc_threshold', '0', '-pix_fmt', 'yuv444p', long,
    ]);
    const whole = await sampleFrames(long, { count: 5, seek: false });
    const sought = await sampleFrames(long, { count: 5, seek: true });
    // Centres of 5 segments of 400 frames; none is a keyframe, so every seek decodes from an earlier one.
    expect(whole.frameIndices).toEqual([40, 120, 200, 280, 360]);
    expect(sought.frameIndices).toEqual(whole.frameIndices);
    expect(Buffer.from(sought.data).equals(Buffer.from(whole.data))).toBe(true);
    // And the frames are the ones asked for, not neighbours: the grey level names the frame.
    whole.frameIndices.forEach((k, i) => expect(Math.abs(level(whole.data, i, 32, 24) - ((7 * k) % 256 - 16) * (255 / 219))).toBeLessThan(3));
  });

  it('names the file for no video stream, zero duration, truncation and garbage', async () => {
    const audio = join(tmp.dir, 'a.m4a');
    ffmpegMake(ffmpeg!, ['-f', 'lavfi', '-i', 'sine=d=1', '-c:a', 'aac', audio]);
    await expect(sampleFrames(audio, { count: 4 })).rejects.toThrow(/a\.m4a: no video stream \(.*audio aac\)/);
    const cut = join(tmp.dir, 'cut.mp4');
    const bytes = readFileSync(clip);
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.5)));
    await expect(sampleFrames(cut, { count: 8 })).rejects.toThrow(/cut\.mp4: (truncated|not a readable media file)/);
    await expect(sampleFrames(cut, { count: 8, seek: true })).rejects.toThrow(/cut\.mp4: (truncated|not a readable media file)/);
    const still = join(tmp.dir, 'still.png');
    ffmpegMake(ffmpeg!, ['-f', 'lavfi', '-i', 'color=c=red:size=8x8', '-frames:v', '1', still]);
    await expect(probeVideo(still)).rejects.toThrow(/still\.png: (no video stream|zero duration)/);
    writeFileSync(join(tmp.dir, 'junk.mp4'), 'not a video\n'.repeat(20));
    await expect(probeVideo(join(tmp.dir, 'junk.mp4'))).rejects.toThrow(/junk\.mp4: not a readable media file/);
    await expect(sampleFrames(clip, { count: 0 })).rejects.toThrow(/count must be an integer in 1\.\.1024/);
  });
});
