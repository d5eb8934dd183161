/**
 * Video–caption pairs: short clips of shapes that move (direction, speed), appear or disappear,
 * rendered frame by frame from SVG with sharp and piped as raw RGB into ffmpeg (H.264 in MP4).
 * Noise: duplicates, mismatched or non-English captions, static clips, burned-in subtitles,
 * truncated files, blank clips (the background only) and tiny clips (frames of 8–14 px). Encoding is single-threaded with bit-exact flags so a seed gives the same bytes.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { HerdError, type Rng } from '@herd/core';
import { describeMotion, motionQuestions } from './language.js';
import { motionSplit, positionAt, randomMotion, type MotionObject } from './motion.js';
import { OTHER_LANGUAGES, describeSceneIn, type Language } from './multilingual.js';
import { RecentPool, VIDEO_NOISE, checkRate, planNoise, truncateBytes, type VideoNoise } from './noise.js';
import { checkTextRendering } from './fonts.js';
import { FONT_FAMILY, escapeXml, shapeRadius, shapeSvg, svgDocument } from './render.js';
import { resolveFfmpeg, runFfmpeg } from '@herd/media';
import { randomImageSize } from './images.js';
import { sampleKey, utf8, type Sample } from './sample.js';
import { BACKGROUNDS, WORDS, itemRng, type Background, type Scene, type Split } from './world.js';

export interface VideoOptions {
  readonly seed: number;
  readonly count: number;
  readonly noiseRate?: number;
  readonly noiseKinds?: readonly VideoNoise[];
  readonly heldoutFraction?: number;
  /** Range of the longer frame side in pixels (default [96, 192]); sides are rounded to even. */
  readonly side?: readonly [number, number];
  /** Range of clip length in seconds (default [2, 20]). */
  readonly duration?: readonly [number, number];
  readonly fps?: number;
  /** ffmpeg binary; default resolveFfmpeg() from @herd/media (ffmpeg-static if present, then PATH). */
  readonly ffmpeg?: string;
  /**
   * How `near_duplicate` clips are made from an earlier clean clip, one edit drawn per copy:
   * `rescale` (0.6–0.9×, re-encoded), `crop` (a centred crop keeping 80–95 % of each side,
   * re-encoded), `trim` (10–25 % cut from the start and 0–20 % from the end, re-encoded). Default:
   * rescale only, drawn exactly as before the option existed, so existing seeds give the same bytes.
   */
  readonly nearDuplicateEdits?: readonly NearDuplicateEdit[];
}

export const NEAR_DUPLICATE_EDITS = ['rescale', 'crop', 'trim'] as const;
export type NearDuplicateEdit = (typeof NEAR_DUPLICATE_EDITS)[number];

export interface ClipSpec {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly frames: number;
  readonly background: Background;
  readonly objects: readonly MotionObject[];
  /** Burned-in subtitle lines, one per second of clip, if any. */
  readonly subtitles?: readonly string[];
}

export interface Track {
  readonly shape: string;
  readonly colour: string;
  /** Centre in pixels at the first and last frame where visible; null where never visible. */
  readonly first: { readonly frame: number; readonly x: number; readonly y: number } | null;
  readonly last: { readonly frame: number; readonly x: number; readonly y: number } | null;
  readonly radius: number;
}

function objectRadius(o: MotionObject, width: number, height: number): number {
  return shapeRadius(o.size, 1, width / 3, height / 3);
}

/** Where every object is in frame f, in pixels (null when hidden). */
export function framePositions(spec: ClipSpec, f: number): ({ x: number; y: number; r: number } | null)[] {
  const duration = spec.frames / spec.fps;
  return spec.objects.map((o) => {
    const r = objectRadius(o, spec.width, spec.height);
    const p = positionAt(o, f / spec.fps, duration, { x: r / spec.width, y: r / spec.height });
    return p === null ? null : { x: p.x * spec.width, y: p.y * spec.height, r };
  });
}

export function frameSvg(spec: ClipSpec, f: number): string {
  const body = framePositions(spec, f)
    .map((p, i) => (p === null ? '' : shapeSvg(spec.objects[i]!.shape, p.x, p.y, p.r, spec.objects[i]!.colour)))
    .join('');
  let sub = '';
  if (spec.subtitles !== undefined && spec.subtitles.length > 0) {
    const line = spec.subtitles[Math.min(spec.subtitles.length - 1, Math.floor(f / spec.fps))]!;
    const size = Math.max(6, Math.min(spec.height * 0.1, (spec.width * 0.95) / (0.6 * line.length)));
    const y = spec.height - size * 0.5;
    // White text with a black box, as burned-in subtitles usually look.
    sub =
      `<rect x="0" y="${(y - size * 1.05).toFixed(1)}" width="${spec.width}" height="${(size * 1.45).toFixed(1)}" fill="rgb(0,0,0)"/>` +
      `<text x="${(spec.width / 2).toFixed(1)}" y="${y.toFixed(1)}" font-family="${FONT_FAMILY}" font-size="${size.toFixed(1)}" text-anchor="middle" fill="rgb(255,255,255)">${escapeXml(line)}</text>`;
  }
  return svgDocument(spec.width, spec.height, spec.background, body + sub);
}

export function clipTracks(spec: ClipSpec): Track[] {
  return spec.objects.map((o, i) => {
    let first: Track['first'] = null;
    let last: Track['last'] = null;
    for (let f = 0; f < spec.frames; f++) {
      const p = framePositions(spec, f)[i];
      if (p == null) continue;
      const at = { frame: f, x: Math.round(p.x * 10) / 10, y: Math.round(p.y * 10) / 10 };
      if (first === null) first = at;
      last = at;
    }
    return { shape: o.shape, colour: o.colour, first, last, radius: Math.round(objectRadius(o, spec.width, spec.height) * 10) / 10 };
  });
}

async function* rawFrames(spec: ClipSpec): AsyncGenerator<Uint8Array> {
  // A few frames at a time: libvips renders them in parallel while ffmpeg encodes.
  const batch = 8;
  for (let f0 = 0; f0 < spec.frames; f0 += batch) {
    const n = Math.min(batch, spec.frames - f0);
    const frames = await Promise.all(
      Array.from({ length: n }, (_, k) => sharp(Buffer.from(frameSvg(spec, f0 + k))).removeAlpha().raw().toBuffer()),
    );
    for (const fr of frames) yield new Uint8Array(fr.buffer, fr.byteOffset, fr.byteLength);
  }
}

/** Same-bytes-for-same-input H.264: one thread, no encoder SEI (it holds the x264 version), bitexact mux. */
const H264_ARGS = [
  '-an', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-threads', '1',
  '-bsf:v', 'filter_units=remove_types=6', '-fflags', '+bitexact', '-flags:v', '+bitexact', '-map_metadata', '-1',
  '-movflags', '+faststart', '-f', 'mp4',
] as const;

export async function encodeClip(ffmpeg: string, spec: ClipSpec, crf = 23): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'herd-video-'));
  try {
    const out = join(dir, 'clip.mp4');
    await runFfmpeg(
      ffmpeg,
      ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${spec.width}x${spec.height}`, '-r', String(spec.fps), '-i', 'pipe:0', ...H264_ARGS, '-crf', String(crf), '-y', out],
      rawFrames(spec),
    );
    return new Uint8Array(await readFile(out));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Re-encodes an MP4 through a video filter (and optionally a time window): the near-duplicate noise. */
async function transcode(ffmpeg: string, src: Uint8Array, vf: string, crf: number, window?: { start: number; seconds: number }): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'herd-video-'));
  try {
    await writeFile(join(dir, 'in.mp4'), src);
    const cut = window ? ['-ss', window.start.toFixed(3), '-t', window.seconds.toFixed(3)] : [];
    await runFfmpeg(ffmpeg, ['-i', join(dir, 'in.mp4'), ...cut, '-vf', vf, ...H264_ARGS, '-crf', String(crf), '-y', join(dir, 'out.mp4')]);
    return new Uint8Array(await readFile(join(dir, 'out.mp4')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const scaleFilter = (scale: number): string => `scale=trunc(iw*${scale.toFixed(3)}/2)*2:trunc(ih*${scale.toFixed(3)}/2)*2`;

/** A near-duplicate of `src` by one edit: the clip bytes and what changes in its meta. */
async function nearDuplicate(ffmpeg: string, src: Clean, edit: NearDuplicateEdit, rng: Rng): Promise<{ mp4: Uint8Array; meta: Record<string, unknown> }> {
  const w = Number(src.meta.width);
  const h = Number(src.meta.height);
  if (edit === 'rescale') {
    const scale = 0.6 + 0.3 * rng.next();
    const crf = 28 + rng.int(8);
    const mp4 = await transcode(ffmpeg, src.mp4, scaleFilter(scale), crf);
    // Same rounding as the scale filter: down to even sides.
    const dim = (n: number): number => Math.trunc((n * Number(scale.toFixed(3))) / 2) * 2;
    return { mp4, meta: { width: dim(w), height: dim(h), transform: `scale ${scale.toFixed(3)}, crf ${crf}` } };
  }
  if (edit === 'crop') {
    const keep = 0.8 + 0.15 * rng.next();
    const crf = 24 + rng.int(8);
    const cw = Math.max(16, 2 * Math.trunc((w * keep) / 2));
    const ch = Math.max(16, 2 * Math.trunc((h * keep) / 2));
    const mp4 = await transcode(ffmpeg, src.mp4, `crop=${cw}:${ch}`, crf);
    return { mp4, meta: { width: cw, height: ch, transform: `centre crop ${cw}x${ch} of ${w}x${h} (${keep.toFixed(3)}), crf ${crf}` } };
  }
  const duration = Number(src.meta.durationS);
  const head = 0.1 + 0.15 * rng.next();
  const tail = 0.2 * rng.next();
  const crf = 24 + rng.int(8);
  const seconds = duration * (1 - head - tail);
  const mp4 = await transcode(ffmpeg, src.mp4, 'null', crf, { start: duration * head, seconds });
  const fps = Number(src.meta.fps);
  return { mp4, meta: { durationS: Math.round(seconds * fps) / fps, frames: Math.round(seconds * fps), transform: `trim ${(duration * head).toFixed(3)} s + ${seconds.toFixed(3)} s of ${duration.toFixed(3)} s, crf ${crf}` } };
}

/** The first frame as a scene, for captions in other languages (which have no motion vocabulary). */
function startScene(objects: readonly MotionObject[], background: Background): Scene {
  return { objects: objects.map((o) => ({ shape: o.shape, colour: o.colour, size: o.size, position: o.start, count: 1 })), background, word: null };
}

function even(n: number): number {
  return Math.max(16, n - (n % 2));
}

/** Sides of a tiny clip: even (yuv420p) and far below anything a curation stage should keep. */
function tinySide(rng: Rng): number {
  return 8 + 2 * rng.int(4);
}

interface Clean {
  readonly key: string;
  readonly mp4: Uint8Array;
  readonly caption: string;
  readonly meta: Record<string, unknown>;
}

const SUBTITLE_LINES = ['welcome back to my channel', 'please like and subscribe', 'this is part two', 'thanks for watching', 'see you next time', 'hello everyone'];

function subtitleLines(rng: Rng, seconds: number): string[] {
  return Array.from({ length: Math.max(1, Math.ceil(seconds)) }, () => (rng.next() < 0.7 ? rng.pick(SUBTITLE_LINES) : `${rng.pick(WORDS)} ${rng.pick(WORDS)}`));
}

/**
 * Video samples `vid-<index>`: files `mp4` and `txt` (the caption); meta: objects (motion ground
 * truth), tracks (pixel centres at first/last visible frame), width, height, fps, frames,
 * durationS, background, qa, split, language, noise.
 */
export async function* generateVideos(opts: VideoOptions): AsyncGenerator<Sample> {
  if (!Number.isInteger(opts.count) || opts.count < 0) throw new HerdError('invalid_argument', `video count must be a non-negative integer, got ${opts.count}`);
  const noiseRate = opts.noiseRate ?? 0.2;
  checkRate(noiseRate);
  const [d0, d1] = opts.duration ?? [2, 20];
  if (!(d0 > 0 && d1 >= d0)) throw new HerdError('invalid_argument', `video duration range must be 0 < min ≤ max, got [${d0}, ${d1}]`);
  const fps = opts.fps ?? 12;
  if (opts.count > 0) await checkTextRendering();
  if (opts.nearDuplicateEdits !== undefined && (opts.nearDuplicateEdits.length === 0 || opts.nearDuplicateEdits.some((e) => !NEAR_DUPLICATE_EDITS.includes(e)))) {
    throw new HerdError('invalid_argument', `nearDuplicateEdits must be a non-empty list of ${NEAR_DUPLICATE_EDITS.join(', ')}, got ${JSON.stringify(opts.nearDuplicateEdits)}`);
  }
  const side = opts.side ?? [96, 192];
  const ffmpeg = opts.ffmpeg ?? resolveFfmpeg();
  const plan = planNoise(itemRng(opts.seed, 'video/plan', 0), opts.count, noiseRate, opts.noiseKinds ?? VIDEO_NOISE);
  const pool = new RecentPool<Clean>(8);
  for (let i = 0; i < opts.count; i++) {
    const rng = itemRng(opts.seed, 'video', i);
    const key = sampleKey('vid', i);
    const noise = plan[i] ?? null;

    if (noise === 'exact_duplicate' || noise === 'near_duplicate') {
      const src = pool.pick(rng)!;
      const base = { ...src.meta, noise, duplicateOf: src.key };
      if (noise === 'exact_duplicate') yield { key, files: { mp4: src.mp4, txt: utf8(src.caption) }, meta: base };
      else {
        // Without the option no edit is drawn: the rng stream (and the bytes) stay as they were.
        const edit = opts.nearDuplicateEdits === undefined ? 'rescale' : rng.pick(opts.nearDuplicateEdits);
        const copy = await nearDuplicate(ffmpeg, src, edit, rng);
        yield { key, files: { mp4: copy.mp4, txt: utf8(src.caption) }, meta: { ...base, ...copy.meta, ...(opts.nearDuplicateEdits === undefined ? {} : { edit }) } };
      }
      continue;
    }

    const split: Split = rng.next() < (opts.heldoutFraction ?? 0.1) ? 'heldout' : 'train';
    const objects = randomMotion(rng, { split, still: noise === 'static_clip' });
    const size = randomImageSize(rng, side);
    const seconds = d0 + (d1 - d0) * rng.next();
    const frames = Math.max(2, Math.round(seconds * fps));
    const tiny = noise === 'tiny' ? { width: tinySide(rng), height: tinySide(rng) } : null;
    const spec: ClipSpec = {
      width: tiny?.width ?? even(size.width),
      height: tiny?.height ?? even(size.height),
      fps,
      frames,
      background: rng.pick(BACKGROUNDS),
      // A blank clip shows the background only; its caption still describes the motion it lacks.
      objects: noise === 'blank' ? [] : objects,
      ...(noise === 'subtitles' ? { subtitles: subtitleLines(rng, frames / fps) } : {}),
    };
    let mp4 = await encodeClip(ffmpeg, spec, 20 + rng.int(8));
    let caption = describeMotion(rng, objects);
    let language: Language = 'en';
    const meta: Record<string, unknown> = {};
    if (noise === 'mismatched_caption') {
      const other = randomMotion(rng, { split: 'train' });
      caption = describeMotion(rng, other);
      meta.captionObjects = other;
    } else if (noise === 'non_english_caption') {
      language = rng.pick(OTHER_LANGUAGES);
      caption = describeSceneIn(rng, startScene(objects, spec.background), language);
    } else if (noise === 'truncated') {
      mp4 = truncateBytes(rng, mp4);
    }
    Object.assign(meta, {
      modality: 'video',
      split: motionSplit(objects),
      noise,
      language,
      width: spec.width,
      height: spec.height,
      fps,
      frames,
      durationS: frames / fps,
      background: spec.background,
      objects: spec.objects,
      ...(noise === 'blank' ? { captionObjects: objects } : {}),
      tracks: clipTracks(spec),
      qa: noise === 'blank' ? [] : motionQuestions(rng, objects),
      ...(spec.subtitles !== undefined ? { subtitles: spec.subtitles } : {}),
    });
    if (noise === null) pool.add({ key, mp4, caption, meta });
    yield { key, files: { mp4, txt: utf8(caption) }, meta };
  }
}
