import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHerdError } from '@herd/core';
import { extractRaw } from './fluent.js';
import { runFfmpeg, runTool } from './process.js';
import { probeMedia } from './probe.js';
import { resolveFfmpeg, resolveFfprobe } from './resolve.js';
import { sampleFrames } from '../video/frames.js';
import { childProcesses, ffmpegMake, tempDir, tryFfmpeg } from '../test-files.js';

const ffmpeg = tryFfmpeg();
const tmp = tempDir('ffmpeg');
afterAll(tmp.cleanup);

describe('ffmpeg resolution', () => {
  it('prefers an explicit path, then PATH; names the missing tool and how to get it', () => {
    const fake = join(tmp.dir, 'ffmpeg');
    writeFileSync(fake, '#!/bin/sh\n');
    chmodSync(fake, 0o755);
    writeFileSync(join(tmp.dir, 'ffprobe'), '#!/bin/sh\n');
    expect(resolveFfmpeg({ ffmpeg: fake })).toBe(fake);
    expect(resolveFfmpeg({ searchPath: `/nonexistent:${tmp.dir}`, useFfmpegStatic: false })).toBe(fake);
    // ffprobe is looked for beside the resolved ffmpeg first.
    expect(resolveFfprobe({ ffmpeg: fake, searchPath: '/nonexistent' })).toBe(join(tmp.dir, 'ffprobe'));
    for (const f of [() => resolveFfmpeg({ searchPath: '/nonexistent', useFfmpegStatic: false }), () => resolveFfprobe({ searchPath: '/nonexistent', useFfmpegStatic: false })]) {
      try {
        f();
        expect.unreachable();
      } catch (e) {
        expect(isHerdError(e, 'tool_missing')).toBe(true);
        expect((e as Error).message).toMatch(/(ffmpeg|ffprobe) not found; install Debian's ffmpeg \(apt-get install ffmpeg\).*FFMPEG_BIN/);
      }
    }
    expect(() => resolveFfmpeg({ ffmpeg: '/no/such/ffmpeg' })).toThrow(/ffmpeg was set to \/no\/such\/ffmpeg, but no file is there/);
  });
});

describe.skipIf(ffmpeg === undefined)('every ffmpeg call has a timeout and an abort, and leaves no process behind', () => {
  const clip = join(tmp.dir, 'c.mp4');
  beforeAll(() => ffmpegMake(ffmpeg!, ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=25:duration=20', '-c:v', 'libx264', '-preset', 'ultrafast', clip]));
  // A call that would run for 20 s: -re reads the input at its real frame rate.
  const slow = { input: clip, inputOptions: ['-re'], outputOptions: ['-pix_fmt', 'rgb24'], format: 'rawvideo' };
  const none = (): void => {
    expect(childProcesses('ffmpeg')).toEqual([]);
    expect(childProcesses('ffprobe')).toEqual([]);
  };

  it('runTool: timeout and abort kill ffmpeg before rejecting', async () => {
    const forever = ['-re', '-f', 'lavfi', '-i', 'testsrc=size=16x16:rate=10', '-f', 'null', '-'];
    const t = runFfmpeg(ffmpeg!, forever, undefined, { timeoutMs: 300, label: 'forever' });
    await new Promise((r) => setTimeout(r, 100));
    expect(childProcesses('ffmpeg').length).toBe(1); // it is running, and counted
    await expect(t).rejects.toThrow(/forever: .*timed out after 300 ms and was killed/);
    none();
    const ac = new AbortController();
    const a = runFfmpeg(ffmpeg!, forever, undefined, { signal: ac.signal, label: 'forever' });
    setTimeout(() => ac.abort(), 200);
    await expect(a).rejects.toThrow(/forever: .*aborted/);
    none();
    // An ffmpeg that fails: the error carries its message, and nothing is left.
    await expect(runTool(ffmpeg!, ['-i', join(tmp.dir, 'missing.mp4'), '-f', 'null', '-'])).rejects.toThrow(/missing\.mp4: No such file/);
    none();
  });

  it('runTool: an input generator that throws kills ffmpeg', async () => {
    async function* frames(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(16 * 16 * 3);
      throw new Error('renderer broke');
    }
    await expect(runFfmpeg(ffmpeg!, ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '16x16', '-i', 'pipe:0', '-f', 'null', '-'], frames())).rejects.toThrow(/renderer broke/);
    none();
  });

  it('fluent-ffmpeg extraction: timeout and abort kill ffmpeg before rejecting', async () => {
    await expect(extractRaw(ffmpeg!, slow, { timeoutMs: 300, label: 'c.mp4' })).rejects.toThrow(/c\.mp4: ffmpeg timed out after 300 ms/);
    none();
    const ac = new AbortController();
    const p = extractRaw(ffmpeg!, slow, { signal: ac.signal, label: 'c.mp4' });
    setTimeout(() => ac.abort(), 300);
    await expect(p).rejects.toThrow(/c\.mp4: ffmpeg aborted/);
    none();
    // Aborted before ffmpeg was even spawned.
    const early = new AbortController();
    const q = extractRaw(ffmpeg!, slow, { signal: early.signal });
    early.abort();
    await expect(q).rejects.toThrow(/aborted/);
    none();
    await expect(extractRaw(ffmpeg!, slow, { signal: AbortSignal.abort(), label: 'c.mp4' })).rejects.toThrow(/c\.mp4: ffmpeg aborted before it started/);
    none();
    // A file ffmpeg cannot decode: corrupt_data with ffmpeg's own words, and nothing left.
    const junk = join(tmp.dir, 'junk.bin');
    writeFileSync(junk, 'no media here\n'.repeat(10));
    const err = await extractRaw(ffmpeg!, { input: junk, outputOptions: [], format: 'rawvideo' }, { label: 'junk.bin' }).catch((x: unknown) => x);
    expect(isHerdError(err, 'corrupt_data')).toBe(true);
    expect((err as Error).message).toMatch(/junk\.bin: ffmpeg could not decode it: .*Invalid data/);
    none();
  });

  it('fluent-ffmpeg extraction: an ffmpeg that exits well after closing its output is a success, not "Output stream closed"', async () => {
    // On a loaded machine ffmpeg's exit can come long after its stdout closed; fluent-ffmpeg used to
    // kill it 20 ms after the output stream's 'close' and report "Output stream closed" for a clip
    // that decoded fine. This wrapper makes the delay certain: real ffmpeg, then stdout closed, then
    // 300 ms before the exit.
    const dir = join(tmp.dir, 'slow-exit');
    mkdirSync(dir, { recursive: true });
    const wrapper = join(dir, 'ffmpeg');
    writeFileSync(wrapper, `#!/bin/sh\n"${ffmpeg!}" "$@"\nstatus=$?\nexec 1>&-\nsleep 0.3\nexit $status\n`);
    chmodSync(wrapper, 0o755);
    const two = { input: clip, outputOptions: ['-frames:v', '2', '-pix_fmt', 'rgb24'], format: 'rawvideo' };
    const out = await extractRaw(wrapper, two, { label: 'c.mp4' });
    expect(out.length).toBe(2 * 64 * 48 * 3);
    expect(out).toEqual(await extractRaw(ffmpeg!, two, { label: 'c.mp4' }));
    none();
    // A failure is still a failure when the exit comes late.
    const junk = join(tmp.dir, 'junk-late.bin');
    writeFileSync(junk, 'no media here\n'.repeat(10));
    const err = await extractRaw(wrapper, { input: junk, outputOptions: [], format: 'rawvideo' }, { label: 'junk-late.bin' }).catch((x: unknown) => x);
    expect(isHerdError(err, 'corrupt_data')).toBe(true);
    expect((err as Error).message).toMatch(/junk-late\.bin: ffmpeg could not decode it: .*Invalid data/);
    none();
  });

  it('probe and sampleFrames: abort and timeout end in a HerdError naming the file, no process left', async () => {
    await expect(probeMedia(clip, { signal: AbortSignal.abort() })).rejects.toThrow(/c\.mp4: .*ffprobe aborted before it started/);
    const ac = new AbortController();
    const s = sampleFrames(clip, { count: 8, signal: ac.signal });
    setTimeout(() => ac.abort(), 30);
    const e = await s.catch((x: unknown) => x);
    // Either the probe or the decode was cut: both are named and typed.
    if (!(e instanceof Error)) expect(e).toHaveProperty('count', 8); // finished before the abort: fine
    else expect(isHerdError(e, 'runtime_error') && /c\.mp4: .*aborted/.test(e.message)).toBe(true);
    none();
    await expect(sampleFrames(clip, { count: 8, timeoutMs: 1 })).rejects.toThrow(/c\.mp4: .*timed out after 1 ms/);
    none();
  });
});
