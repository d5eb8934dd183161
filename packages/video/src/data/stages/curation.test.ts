import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '@herd/core';
import { iterateDataset, isUnreadable, writeDataset, type Sample, type SampleStage, type StageContext } from '@herd/data';
import { BACKGROUND_RGB, COLOUR_RGB, encodeClip, generateVideos, type ClipSpec } from '@herd/datasets';
import { resolveFfmpeg, runFfmpeg, type VideoFrames } from '@herd/media';
import { MiniClip, clipBatch, greyStd, parseVisionConfig, tileImage, trainClip, type ClipConfig } from '@herd/vision';
import { captionStages } from './caption.js';
import { aggregateClip, clipFrameScore, clipVideoScore, cosine } from './clip-alignment.js';
import { ClipEmbedder, pairedClipEmbedder, type PairedClipModel } from './clip-embedder.js';
import { clipFrames, frameAt } from './frames.js';
import { motion, motionScore } from './motion.js';
import { candidatePairs, inOrderShare, videoNearDuplicate, type VideoNearDuplicateFeature } from './near-duplicate.js';
import { ocrOverlay } from './ocr-overlay.js';
import { colourStd, videoQuality } from './video-quality.js';
import { curateVideos } from '../curate.js';
import { MINI_CLIP_VIDEO_THRESHOLDS, resolveClipModel } from './mini-clip.js';
import { clipLabel, readDrops, scoreCuration } from '../curate-score.js';

function findFfmpeg(): string | undefined {
  try {
    return resolveFfmpeg();
  } catch {
    return undefined;
  }
}
const ffmpeg = findFfmpeg();
const ctx: StageContext = { shard: 'test', pass: 0, worker: 0 };
const enc = (s: string) => new TextEncoder().encode(s);
const noise = (s: Sample) => (s.meta['noise'] as string | null) ?? null;
const code = (reason: string | undefined) => reason?.split(':')[0];

async function run(stage: SampleStage, samples: readonly Sample[]) {
  const kept = new Map<string, Sample>();
  const dropped = new Map<string, string>();
  for (const s of samples) {
    const r = await stage.process(s, ctx);
    if (r.keep) kept.set(s.key, r.sample);
    else dropped.set(s.key, r.reason);
  }
  return { kept, dropped };
}

/** This process's children with that command name (from /proc): no ffmpeg may outlive a stage. */
function children(name: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) === name && Number(stat.slice(close + 2).split(' ')[1]) === process.pid) out.push(Number(pid));
    } catch {
      // gone while we looked
    }
  }
  return out;
}

let tmp = '';
let tiny: Sample[] = [];
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'herd-vcurate-test-'));
  if (ffmpeg === undefined) return;
  // The tiny synthetic set: 30 clips, 18 of them noisy (every kind twice; seeded, so fixed).
  tiny = [];
  for await (const s of generateVideos({ seed: 12, count: 30, noiseRate: 0.6, side: [64, 112], duration: [2, 3], fps: 8 })) tiny.push(s);
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('caption stages (shared with images)', () => {
  it('fix capitalisation, drop short and non-English captions, each with its reason', async () => {
    const stages = captionStages() as SampleStage[];
    const through = async (text: string) => {
      let s: Sample = { key: 'k', files: { txt: enc(text) }, meta: {} };
      for (const st of stages) {
        const r = await st.process(s, ctx);
        if (!r.keep) return r.reason;
        s = r.sample;
      }
      return s;
    };
    for (const [text, fixed] of [
      ['A RED CIRCLE MOVES QUICKLY TO THE LEFT.  THEN IT STOPS.', 'A red circle moves quickly to the left. Then it stops.'],
      ['a red circle moves to the left. then it stops.', 'A red circle moves to the left. Then it stops.'],
    ]) {
      const ok = await through(text!);
      expect(typeof ok).toBe('object');
      expect(new TextDecoder().decode((ok as Sample).files['txt'])).toBe(fixed);
    }
    expect(code((await through('red')) as string)).toBe('text_too_short');
    expect(code((await through('un cercle rouge se déplace lentement vers la gauche')) as string)).toBe('non_english_caption');
  });
});

describe('motionScore', () => {
  const frames = (side: number, squares: [number, number][]): VideoFrames => {
    const data = new Uint8Array(squares.length * side * side * 3);
    squares.forEach(([x0, s], n) => {
      for (let y = 0; y < s; y++) for (let x = x0; x < x0 + s; x++) data.fill(255, (n * side * side + y * side + x) * 3, (n * side * side + y * side + x) * 3 + 3);
    });
    return { data, count: squares.length, width: side, height: side, frameIndices: [], timesS: [], info: {} as VideoFrames['info'] };
  };
  it('is the changed fraction of the frame, whatever the frame size; identical frames score 0', () => {
    // A white square of a quarter of the frame appears: 1/4 of the cells change by full scale (less the 2-level floor).
    const full = 253 / 255;
    for (const side of [64, 128, 256]) {
      expect(motionScore(frames(side, [[0, 0], [0, side / 2]])).score).toBeCloseTo(0.25 * full, 6);
      expect(motionScore(frames(side, [[0, 0], [0, side / 2]]), 32, 0).score).toBeCloseTo(0.25, 6);
      // It moves by its own width: its old and new halves of the frame change, 2 × 1/4, in both pairs.
      const m = motionScore(frames(side, [[0, side / 2], [side / 2, side / 2], [0, side / 2]]));
      expect(m.score).toBeCloseTo(0.5 * full, 6);
      expect(m.pairs).toBe(2);
    }
    expect(motionScore(frames(64, [[3, 20], [3, 20], [3, 20]])).score).toBe(0);
  });
  it('a still shot with sensor noise (±6 grey levels per pixel) stays below the threshold only thanks to the noise floor', () => {
    const rng = new Rng(5);
    const still = frames(192, Array(8).fill([40, 60]) as [number, number][]);
    for (let i = 0; i < still.data.length; i++) still.data[i] = Math.min(255, Math.max(0, still.data[i]! + Math.round((rng.next() - 0.5) * 12)));
    expect(motionScore(still, 32, 0).score).toBeGreaterThan(3e-4);
    expect(motionScore(still).score).toBeLessThan(3e-5);
  });
});

describe('colourStd (the blank-clip measure)', () => {
  it('sees a small yellow shape on a light-blue sky that the grey level misses; a flat frame is 0', () => {
    // The clean clip a grey-level check dropped as blank in the 300-clip bench (vid-00000210, seed 7).
    const w = 118;
    const h = 178;
    const data = new Uint8Array(w * h * 3);
    for (let i = 0; i < w * h; i++) data.set(BACKGROUND_RGB.sky, i * 3);
    expect(colourStd({ data, width: w, height: h })).toBe(0);
    for (let y = 80; y < 89; y++) for (let x = 90; x < 99; x++) data.set(COLOUR_RGB.yellow, (y * w + x) * 3);
    expect(greyStd({ data, width: w, height: h })).toBeLessThan(3);
    expect(colourStd({ data, width: w, height: h })).toBeGreaterThan(10);
  });
});

describe.skipIf(ffmpeg === undefined)('video stages on the tiny generated set', () => {
  it('videoQuality drops truncated, blank and tiny clips with their own reasons, keeps every clean clip and records its scores', async () => {
    const { kept, dropped } = await run(videoQuality(), tiny);
    const expected: Record<string, string[]> = { truncated: ['truncated_video', 'undecodable_video'], blank: ['blank_clip'], tiny: ['clip_too_small'] };
    const labelled = tiny.filter((s) => (noise(s) ?? '') in expected);
    expect(labelled.length).toBe(6);
    for (const s of labelled) expect(expected[noise(s)!], `${s.key} ${dropped.get(s.key)}`).toContain(code(dropped.get(s.key)));
    for (const s of tiny.filter((x) => noise(x) === null)) expect(kept.has(s.key), `${s.key}: ${dropped.get(s.key)}`).toBe(true);
    for (const r of dropped.values()) expect(r).toMatch(/^[a-z_]+: \S/);
    const k = kept.get(tiny.find((s) => noise(s) === null)!.key)!;
    const scores = (k.meta['curation'] as Record<string, Record<string, unknown>>)['video_quality']!;
    expect(scores['width']).toBe(k.meta['width']);
    expect(scores['durationS']).toBeCloseTo(k.meta['durationS'] as number, 1);
    expect(children('ffmpeg')).toEqual([]);
  });

  it('motion drops every static clip and no moving one; precision and recall against the labels', async () => {
    const { kept, dropped } = await run(motion(), tiny.filter((s) => !['truncated', 'tiny'].includes(noise(s) ?? '')));
    const drops = new Map([...dropped].map(([key, reason]) => [key, { stage: 'motion', reason }]));
    const score = scoreCuration(tiny.map((s) => clipLabel(s.key, s.meta)), drops, ['motion']);
    expect(score.static).toEqual({ labelled: 2, removed: 2, share: 1 });
    expect(score.moving.lostToMotion).toBe(0);
    expect(score.moving.reachedMotion).toBeGreaterThanOrEqual(20);
    // Blank clips are static too; they are the quality stage's (earlier) job, so here they count as wrong drops.
    const m = score.stages[0]!;
    expect(m.right).toBe(2);
    expect(m.dropped).toBe(4);
    expect(m.confusion).toEqual({ static_clip: { static_clip: 2, blank: 2 } });
    for (const s of kept.values()) expect((s.meta['curation'] as Record<string, { score: number }>)['motion']!.score).toBeGreaterThan(3e-4);
  });

  it('bad clips are dropped with a reason naming the sample, the run goes on, and no ffmpeg or ffprobe is left', async () => {
    const audio = join(tmp, 'audio.m4a');
    await runFfmpeg(ffmpeg!, ['-f', 'lavfi', '-i', 'sine=d=1', '-c:a', 'aac', '-y', audio]);
    const good = tiny.find((s) => noise(s) === null)!;
    const bad: Sample[] = [
      { key: 'empty', files: { mp4: new Uint8Array(0), txt: enc('a red circle moves') }, meta: {} },
      { key: 'random', files: { mp4: Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24), txt: enc('a red circle moves') }, meta: {} },
      { key: 'audio_only', files: { mp4: new Uint8Array(await readFile(audio)), txt: enc('a red circle moves') }, meta: {} },
      { key: 'cut', files: { mp4: good.files['mp4']!.slice(0, 600), txt: enc('a red circle moves') }, meta: {} },
      { key: 'none', files: { txt: enc('a red circle moves') }, meta: {} },
      good,
    ];
    const { kept, dropped } = await run(videoQuality(), bad);
    expect(code(dropped.get('empty'))).toBe('empty_video');
    expect(code(dropped.get('audio_only'))).toBe('no_video_stream');
    expect(dropped.get('audio_only')).toMatch(/audio_only\.mp4/);
    expect(['undecodable_video', 'truncated_video']).toContain(code(dropped.get('random')));
    expect(['undecodable_video', 'truncated_video']).toContain(code(dropped.get('cut')));
    expect(code(dropped.get('none'))).toBe('missing_video');
    expect([...kept.keys()]).toEqual([good.key]);
    expect(children('ffmpeg')).toEqual([]);
    expect(children('ffprobe')).toEqual([]);
  });
});

describe.skipIf(ffmpeg === undefined)('ocrOverlay', () => {
  it('drops a clip with burned-in subtitles, keeps one without text, and records the covered area', async () => {
    const base: ClipSpec = { width: 192, height: 112, fps: 4, frames: 12, background: 'white', objects: [{ shape: 'circle', colour: 'red', size: 'medium', start: 'left', motion: { kind: 'move', direction: 'right', speed: 'slow' } }] };
    const subtitled: Sample = { key: 'subs', files: { mp4: await encodeClip(ffmpeg!, { ...base, subtitles: ['thanks for watching', 'see you next time', 'hello everyone'] }), txt: enc('a red circle moves slowly to the right') }, meta: {} };
    const plain: Sample = { key: 'plain', files: { mp4: await encodeClip(ffmpeg!, base), txt: enc('a red circle moves slowly to the right') }, meta: {} };
    const stage = ocrOverlay();
    try {
      const { kept, dropped } = await run(stage, [subtitled, plain]);
      expect(code(dropped.get('subs'))).toBe('text_overlay');
      const scores = (kept.get('plain')!.meta['curation'] as Record<string, Record<string, unknown>>)['ocr_overlay']!;
      expect(scores).toMatchObject({ framesWithText: 0, framesRead: 4, area: 0 });
    } finally {
      await stage.close();
    }
  });

  it('reads a small subtitle line (118×88 frame, ~6 px glyphs) in the bottom band that tesseract misses on the whole frame', async () => {
    const line = 'please like and subscribe';
    const spec: ClipSpec = { width: 118, height: 88, fps: 4, frames: 8, background: 'white', objects: [{ shape: 'circle', colour: 'red', size: 'medium', start: 'left', motion: { kind: 'move', direction: 'right', speed: 'slow' } }], subtitles: [line, line] };
    const small: Sample = { key: 'small_subs', files: { mp4: await encodeClip(ffmpeg!, spec), txt: enc('a red circle moves slowly to the right') }, meta: {} };
    const banded = ocrOverlay();
    const wholeOnly = ocrOverlay({ band: 0 });
    try {
      const r = await banded.process(small, ctx);
      expect(r.keep ? 'kept' : code(r.reason)).toBe('text_overlay');
      if (!r.keep) expect(r.reason).toMatch(/4\/4 frames read carry text/);
      // The same frames read as whole frames only (band: 0): no text found.
      const w = await wholeOnly.process(small, ctx);
      expect(w.keep).toBe(true);
      if (w.keep) expect((w.sample.meta['curation'] as Record<string, Record<string, unknown>>)['ocr_overlay']).toMatchObject({ framesWithText: 0 });
    } finally {
      await banded.close();
      await wholeOnly.close();
    }
  });
});

// The CLIP-style stages against a real (toy) model trained here with vision's recipe: four colours,
// captions "a <colour>". Clips are solid-colour frames with noise, encoded to H.264 and decoded back.
const CFG: ClipConfig = {
  vision: parseVisionConfig({ tileSize: 28, patchSize: 14, dim: 16, nLayers: 1, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 1 }),
  textVocab: 8,
  textDim: 16,
  textLayers: 1,
  textHeads: 2,
  textLen: 3,
  embedDim: 8,
};
const COLOURS: Record<string, [number, number, number]> = { red: [220, 30, 30], green: [30, 200, 40], blue: [40, 60, 230], yellow: [230, 210, 40] };
const NAMES = Object.keys(COLOURS);
const tokenize = (text: string) => text.toLowerCase().split(/\W+/).flatMap((w) => (w === 'a' ? [1] : NAMES.includes(w) ? [2 + NAMES.indexOf(w)] : []));

function colourFrame(name: string, rng: Rng, side: number): Uint8Array {
  const [r, g, b] = COLOURS[name]!;
  const shade = 0.7 + 0.3 * rng.next();
  const data = new Uint8Array(side * side * 3);
  for (let i = 0; i < side * side; i++) {
    const n = () => Math.round((rng.next() - 0.5) * 60);
    data[i * 3] = Math.min(255, Math.max(0, Math.round(r * shade) + n()));
    data[i * 3 + 1] = Math.min(255, Math.max(0, Math.round(g * shade) + n()));
    data[i * 3 + 2] = Math.min(255, Math.max(0, Math.round(b * shade) + n()));
  }
  return data;
}

async function colourClip(names: readonly string[], rng: Rng): Promise<Uint8Array> {
  const out = join(tmp, `colour-${Math.floor(rng.next() * 1e9)}.mp4`);
  await runFfmpeg(ffmpeg!, ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '32x32', '-r', '8', '-i', 'pipe:0', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-threads', '1', '-crf', '18', '-f', 'mp4', '-y', out], (async function* () {
    for (const n of names) yield colourFrame(n, rng, 32);
  })());
  return new Uint8Array(await readFile(out));
}

describe.skipIf(ffmpeg === undefined)('CLIP-style alignment with a toy model trained here', () => {
  it('frame and clip scores are cosines of the model embeddings; mismatched captions fall below the thresholds; the aggregate sees past the middle frame', async () => {
    const rng = new Rng(3);
    const image = (c: number) => tileImage({ data: colourFrame(NAMES[c]!, rng, 28), width: 28, height: 28 }, CFG.vision);
    const { params } = await trainClip(CFG, 4, () => {
      const order = [0, 1, 2, 3].sort(() => rng.next() - 0.5);
      return clipBatch(CFG, order.map(image), order.map((c) => [1, 2 + c]));
    }, { steps: 80, lr: 3e-3, seed: 1 });
    const embedder = new ClipEmbedder(CFG, params, { tokenize, id: 'toy' });
    const held = new Rng(99);
    const samples: Sample[] = [];
    for (const [i, name] of NAMES.entries()) {
      const mp4 = await colourClip(Array(16).fill(name), held);
      samples.push({ key: `match_${name}`, files: { mp4, txt: enc(`a ${name}`) }, meta: {} });
      samples.push({ key: `mismatch_${name}`, files: { mp4, txt: enc(`a ${NAMES[(i + 1) % 4]}`) }, meta: {} });
    }
    // Matched pairs score above 0.9 with this toy model, mismatched ones below 0.45: threshold 0.6.
    // Red all along except a blue stretch around the middle frame (frames 6–9 of 16).
    const mixed: Sample = { key: 'mostly_red', files: { mp4: await colourClip(Array.from({ length: 16 }, (_, k) => (k >= 6 && k <= 9 ? 'blue' : 'red')), held), txt: enc('a red') }, meta: {} };
    const frames = { count: 16 };
    const frameStage = clipFrameScore({ embedder, threshold: 0.6, frames });
    const videoStage = clipVideoScore({ embedder, threshold: 0.6, frames, framesToEmbed: 8 });
    try {
      const f = await run(frameStage, [...samples, mixed]);
      const v = await run(videoStage, [...samples, mixed]);
      for (const name of NAMES) {
        expect(f.kept.has(`match_${name}`), f.dropped.get(`match_${name}`)).toBe(true);
        expect(code(f.dropped.get(`mismatch_${name}`))).toBe('low_frame_text_score');
        expect(v.kept.has(`match_${name}`), v.dropped.get(`match_${name}`)).toBe(true);
        expect(code(v.dropped.get(`mismatch_${name}`))).toBe('low_video_text_score');
      }
      // The recorded frame score is the cosine of the middle frame's and the caption's embeddings.
      const red = samples[0]!;
      const decoded = await clipFrames(red, frames);
      const [mid] = await embedder.embedFrames([frameAt(decoded, 8)]);
      const text = await embedder.embedText('a red');
      const rec = (s: Sample, st: string) => ((s.meta['curation'] as Record<string, { score: number }>)[st]!.score);
      expect(rec(f.kept.get(red.key)!, 'clip_frame')).toBeCloseTo(cosine(mid!, text), 5);
      // The clip score is the cosine of the re-normalised mean of 8 spread frames.
      const eight = await embedder.embedFrames([1, 3, 5, 7, 9, 11, 13, 15].map((k) => frameAt(decoded, k)));
      expect(rec(v.kept.get(red.key)!, 'clip_video')).toBeCloseTo(cosine(aggregateClip(eight), text), 5);
      expect(Math.hypot(...aggregateClip(eight))).toBeCloseTo(1, 5);
      // The middle frame of the mixed clip is blue: the frame stage drops it, the clip stage keeps it.
      expect(code(f.dropped.get('mostly_red'))).toBe('low_frame_text_score');
      expect(v.kept.has('mostly_red'), v.dropped.get('mostly_red')).toBe(true);
    } finally {
      await frameStage.close();
      await videoStage.close();
    }
  });
});

describe.skipIf(ffmpeg === undefined)('pairedClipEmbedder (the shape of vision\'s mini CLIP: pairs in, both embeddings out)', () => {
  it('tiles the frames, embeds captions alone, and the video stage scores with what the model returned', async () => {
    // A stand-in model: image embedding = the tile's mean normalised pixel per channel, caption
    // embedding = the named colour's direction. Records what it was asked.
    const calls: { images: number; captions: readonly string[] }[] = [];
    const unit = (v: number[]) => Float32Array.from(v.map((x) => x / Math.hypot(...v)));
    const model: PairedClipModel = {
      config: CFG,
      async run(images, captions) {
        calls.push({ images: images.length, captions });
        const S = CFG.vision.tileSize;
        const image = images.map((t) => unit([0, 1, 2].map((ch) => t.pixels.subarray(ch * S * S, (ch + 1) * S * S).reduce((a, b) => a + b, 0) / (S * S) + 3)));
        const text = captions.map((c) => unit(COLOURS[c.split(' ').pop()!]?.map((x) => x / 255 + 0.1) ?? [1, 1, 1]));
        return { image, text };
      },
    };
    const embedder = pairedClipEmbedder(model, 'stand-in');
    const held = new Rng(7);
    const red: Sample = { key: 'red', files: { mp4: await colourClip(Array(8).fill('red'), held), txt: enc('a red') }, meta: {} };
    const stage = clipVideoScore({ embedder, frames: { count: 8 }, framesToEmbed: 4 });
    const r = await stage.process(red, ctx);
    expect(r.keep).toBe(true);
    expect(calls.map((c) => c.images)).toEqual([1, 4]); // the caption (with a placeholder frame), then 4 frames
    expect(calls[0]!.captions).toEqual(['a red']);
    const frames = await clipFrames(red, { count: 8 });
    const direct = await model.run([1, 3, 5, 7].map((k) => tileImage(frameAt(frames, k), CFG.vision)), ['a', 'a', 'a', 'a']);
    const [text] = (await model.run([tileImage(frameAt(frames, 0), CFG.vision)], ['a red'])).text;
    if (r.keep) expect((r.sample.meta['curation'] as Record<string, { score: number }>)['clip_video']!.score).toBeCloseTo(cosine(aggregateClip(direct.image), text!), 5);
  });
});

describe.skipIf(ffmpeg === undefined)('videoNearDuplicate', () => {
  it('drops rescaled, cropped and trimmed copies as like their original; keeps the original, another clip and a time-reversed copy', async () => {
    const spec: ClipSpec = { width: 160, height: 112, fps: 8, frames: 32, background: 'white', objects: [{ shape: 'square', colour: 'blue', size: 'big', start: 'left', motion: { kind: 'move', direction: 'right', speed: 'fast' } }, { shape: 'circle', colour: 'red', size: 'medium', start: 'top', motion: { kind: 'move', direction: 'down', speed: 'slow' } }] };
    const original = await encodeClip(ffmpeg!, spec);
    const other = await encodeClip(ffmpeg!, { ...spec, background: 'white', objects: [{ shape: 'triangle', colour: 'green', size: 'big', start: 'right', motion: { kind: 'move', direction: 'left', speed: 'fast' } }] });
    const src = join(tmp, 'nd-original.mp4');
    await writeFile(src, original);
    const edit = async (name: string, args: string[]) => {
      const out = join(tmp, `nd-${name}.mp4`);
      await runFfmpeg(ffmpeg!, ['-i', src, ...args, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-crf', '30', '-threads', '1', '-f', 'mp4', '-y', out]);
      return new Uint8Array(await readFile(out));
    };
    const clips: Record<string, Uint8Array> = {
      a_original: original,
      b_rescaled: await edit('rescaled', ['-vf', 'scale=96:68']),
      c_cropped: await edit('cropped', ['-vf', 'crop=140:98']),
      d_trimmed: await edit('trimmed', ['-ss', '0.8', '-t', '2.4']),
      e_other: other,
      f_reversed: await edit('reversed', ['-vf', 'reverse']),
    };
    const stage = videoNearDuplicate();
    const features = new Map<string, VideoNearDuplicateFeature | null>();
    for (const [key, mp4] of Object.entries(clips)) features.set(key, await stage.prepare!({ key, files: { mp4 }, meta: {} }, ctx));
    const drops = await stage.decide(features);
    expect([...drops.keys()].sort()).toEqual(['b_rescaled', 'c_cropped', 'd_trimmed']);
    // The nearest-neighbour search proposes the copies' pairs (not every pair); verifying all pairs agrees.
    const list = [...features.values()];
    const cands = await candidatePairs(list, 10, 32);
    for (const j of [1, 2, 3]) expect(cands).toContainEqual([0, j]);
    expect(new Map(await videoNearDuplicate({ exhaustive: true }).decide(features))).toEqual(new Map(drops));
    for (const r of drops.values()) expect(r).toMatch(/^near_duplicate: like a_original \(\d+\/16 frames in order\)$/);
    // The in-order rule is what keeps the reversed copy: its frames all occur in the original.
    const a = features.get('a_original')!;
    const rev = features.get('f_reversed')!;
    const loose = { maxHamming: 10, maxColourDiff: 6, maxCellDiff: 40, minForegroundCosine: 0.8 };
    expect(inOrderShare(rev, a, loose)).toBeLessThan(0.875);
    expect(inOrderShare(features.get('d_trimmed')!, a, loose)).toBeGreaterThanOrEqual(0.875);
    // A clip that could not be decoded is never compared.
    features.set('z_broken', await stage.prepare!({ key: 'z_broken', files: { mp4: original.slice(0, 300) }, meta: {} }, ctx));
    expect(features.get('z_broken')).toBeNull();
    expect([...(await stage.decide(features)).keys()].sort()).toEqual(['b_rescaled', 'c_cropped', 'd_trimmed']);
  });
});

describe.skipIf(ffmpeg === undefined)('clipModel (the committed mini CLIP named in the config)', () => {
  it('records the middle-frame and aggregated cosines MiniClip computes; worker threads record the same; a missing checkpoint is one clear error', async () => {
    const some = tiny.filter((s) => noise(s) === null || noise(s) === 'mismatched_caption').slice(0, 6);
    const input = join(tmp, 'clip-in');
    await writeDataset(input, some, { samplesPerShard: 3, name: 'tiny-clip' });
    const config = { ocr: false, motion: false, dedup: false, progress: null, clipModel: { frameThreshold: null, videoThreshold: null } } as const;
    const scores = async (dir: string) => {
      const out = new Map<string, { frame: number; video: number; caption: string }>();
      for await (const s of iterateDataset(dir)) {
        if (isUnreadable(s)) continue;
        const c = s.meta['curation'] as Record<string, { score: number }>;
        out.set(s.key, { frame: c['clip_frame']!.score, video: c['clip_video']!.score, caption: new TextDecoder().decode(s.files['txt']) });
      }
      return out;
    };
    const { report } = await curateVideos(input, join(tmp, 'clip-out'), config);
    expect(report!.pending).toEqual([]);
    const inProcess = await scores(join(tmp, 'clip-out'));
    expect(inProcess.size).toBe(some.length);
    await curateVideos(input, join(tmp, 'clip-out-workers'), { ...config, workers: 2 });
    expect(await scores(join(tmp, 'clip-out-workers'))).toEqual(inProcess);
    // The recorded frame score is MiniClip's own pair cosine for the middle of the 16 sampled frames.
    const clip = MiniClip.load();
    try {
      const s = some[0]!;
      const frames = await clipFrames(s, {});
      const rec = inProcess.get(s.key)!;
      const [direct] = await clip.scorePairs([tileImage(frameAt(frames, 8), clip.config.vision)], [rec.caption]);
      expect(rec.frame).toBeCloseTo(direct!, 4);
      for (const r of inProcess.values()) expect(Math.abs(r.video)).toBeLessThanOrEqual(1);
    } finally {
      await clip.release();
    }
    // The committed checkpoint gets the thresholds chosen for it on the bench's validation split.
    expect(resolveClipModel({})).toMatchObject({ frameThreshold: MINI_CLIP_VIDEO_THRESHOLDS.frame, videoThreshold: MINI_CLIP_VIDEO_THRESHOLDS.video });
    expect(resolveClipModel({}).note).toBeUndefined();
    expect(resolveClipModel({ frameThreshold: null })).not.toHaveProperty('frameThreshold');
    const empty = join(tmp, 'not-a-checkpoint');
    await mkdir(empty);
    for (const workers of [0, 2]) {
      await expect(curateVideos(input, join(tmp, `clip-missing-${workers}`), { ...config, workers, clipModel: { dir: empty } })).rejects.toThrow(/mini CLIP checkpoint at .*not-a-checkpoint, but config\.json and model\.safetensors are missing/);
    }
  });
});

describe.skipIf(ffmpeg === undefined)('curateVideos', () => {
  it('curates shards into a dataset with a report, SVG histograms and every drop explained; a re-run resumes', async () => {
    const input = join(tmp, 'in');
    await writeDataset(input, tiny, { samplesPerShard: 10, name: 'tiny-video' });
    const output = join(tmp, 'out');
    const { report } = await curateVideos(input, output, { ocr: false, progress: null });
    expect(report).not.toBeNull();
    const r = report!;
    expect(r.in).toBe(30);
    const drops = await readDrops(output);
    expect(r.out + drops.size).toBe(30);
    const byStage = Object.fromEntries(r.stages.map((s) => [s.name, s]));
    expect(byStage['motion']!.droppedByReason).toEqual({ static_clip: 2 });
    expect(byStage['language']!.droppedByReason).toEqual({ non_english_caption: 2 });
    expect(byStage['video_quality']!.dropped).toBe(6);
    expect(byStage['exact_duplicate']!.droppedByReason).toEqual({ exact_duplicate: 2 });
    const score = scoreCuration(tiny.map((s) => clipLabel(s.key, s.meta)), drops, r.stages.map((s) => s.name));
    expect(score.static.share).toBe(1);
    expect(score.moving.share).toBe(0);
    for (const s of score.stages.filter((x) => x.dropped > 0)) expect(s.precision, s.stage).toBe(1);
    expect(score.clean.dropped).toBe(0);
    const out: Sample[] = [];
    for await (const s of iterateDataset(output)) if (!isUnreadable(s)) out.push(s);
    expect(out.length).toBe(r.out);
    for (const s of out) expect(Object.keys(s.meta['curation'] as object)).toEqual(expect.arrayContaining(['caption_quality', 'language', 'video_quality', 'motion']));
    const svgs = await readdir(join(output, 'histograms'));
    expect(svgs).toEqual(expect.arrayContaining(['motion.svg', 'duration.svg', 'frame_std.svg']));
    expect(await readFile(join(output, 'histograms', 'motion.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    expect(await readFile(join(output, 'report.md'), 'utf8')).toMatch(/\| motion \| \d+ \| \d+ \| 2 \|/);
    expect(r.pending[0]).toMatch(/^clip:/);
    // Run again: every shard is already done, nothing changes.
    const again = await curateVideos(input, output, { ocr: false, progress: null });
    expect(again.report!.out).toBe(r.out);
  });

  it('on two worker threads (the stages imported from videoCurationPipeline) gives the in-process result', async () => {
    const input = join(tmp, 'in');
    const output = join(tmp, 'out-workers');
    const { report } = await curateVideos(input, output, { ocr: false, workers: 2, progress: null });
    expect(report!.out).toBe((JSON.parse(await readFile(join(tmp, 'out', 'report.json'), 'utf8')) as { out: number }).out);
    const a = await readDrops(join(tmp, 'out'));
    const b = await readDrops(output);
    expect(new Map([...b].map(([k, d]) => [k, d.reason]))).toEqual(new Map([...a].map(([k, d]) => [k, d.reason])));
  });

  it('imports a folder of clips with caption files; a corrupt clip is dropped with a reason', async () => {
    const folder = join(tmp, 'folder');
    await mkdir(folder);
    const clean = tiny.filter((s) => noise(s) === null).slice(0, 3);
    for (const s of clean) {
      await writeFile(join(folder, `${s.key}.mp4`), s.files['mp4']!);
      await writeFile(join(folder, `${s.key}.txt`), s.files['txt']!);
    }
    await writeFile(join(folder, 'broken clip.mp4'), clean[0]!.files['mp4']!.slice(0, 500));
    await writeFile(join(folder, 'broken clip.txt'), 'a blue square moves up');
    const output = join(tmp, 'folder-out');
    const { report } = await curateVideos(folder, output, { ocr: false, progress: null });
    expect(report!.in).toBe(4);
    expect(report!.out).toBe(3);
    const drops = await readDrops(output);
    expect(drops.get('broken_clip')?.stage).toBe('video_quality');
    expect(drops.get('broken_clip')?.reason).toMatch(/^(truncated_video|undecodable_video): .*broken_clip\.mp4/);
  });
});
