/**
 * Generating the whole world into a folder: one dataset per modality (@herd/data shards) and the
 * text corpus as JSONL shards. Modalities run concurrently: images and video spend their time in
 * libvips and ffmpeg threads, speech in WASM on the main thread, so two cores stay busy.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { HerdError, writeFileAtomic } from '@herd/core';
import { writeDataset } from '@herd/data';
import { generateImages } from './images.js';
import { generateSpeech } from './speech.js';
import { MODALITIES, sizePreset, type Modality, type SizePreset } from './sizes.js';
import { generateTextCorpus, type TextDoc } from './text.js';
import type { TtsPreference } from './tts.js';
import { generateVideos } from './video.js';

export const TEXT_MANIFEST = 'manifest.json';

export interface GenerateOptions {
  readonly out: string;
  readonly size: string;
  readonly seed?: number;
  readonly only?: readonly Modality[];
  /** Per-modality counts that replace the preset's (e.g. { text: 1_000_000 }). */
  readonly counts?: Partial<Record<Modality, number>>;
  readonly noiseRate?: number;
  /** ffmpeg binary (the CLI passes FFMPEG_BIN); default: resolved at generation. */
  readonly ffmpeg?: string;
  readonly tts?: TtsPreference;
  /** Utterances synthesised at once (worker threads); default: the machine's core count. */
  readonly ttsThreads?: number;
  /** Called after each item, for progress display. */
  readonly onProgress?: (modality: Modality, done: number, total: number) => void;
}

export interface GenerateReport {
  readonly out: string;
  readonly size: string;
  readonly seed: number;
  readonly modalities: Partial<Record<Modality, { count: number; seconds: number; path: string }>>;
  readonly seconds: number;
}

/** Writes text documents as JSONL shards `corpus-00000.jsonl`, … plus a small manifest. */
export async function writeTextCorpus(
  dir: string,
  docs: Iterable<TextDoc>,
  opts: { docsPerShard: number; info?: Record<string, unknown>; onDoc?: (n: number) => void },
): Promise<{ count: number; shards: string[] }> {
  const shards: { file: string; count: number; train: number; heldout: number }[] = [];
  let lines: string[] = [];
  let train = 0;
  let heldout = 0;
  let total = 0;
  const flush = async (): Promise<void> => {
    if (lines.length === 0) return;
    const file = `corpus-${String(shards.length).padStart(5, '0')}.jsonl`;
    await writeFileAtomic(join(dir, file), lines.join(''));
    shards.push({ file, count: lines.length, train, heldout });
    lines = [];
    train = 0;
    heldout = 0;
  };
  for (const doc of docs) {
    lines.push(JSON.stringify(doc) + '\n');
    if (doc.split === 'train') train++;
    else heldout++;
    total++;
    opts.onDoc?.(total);
    if (lines.length >= opts.docsPerShard) await flush();
  }
  await flush();
  await writeFileAtomic(
    join(dir, TEXT_MANIFEST),
    JSON.stringify({ name: 'text', format: 'jsonl', totalCount: total, shards, info: opts.info ?? {} }, null, 2) + '\n',
  );
  return { count: total, shards: shards.map((s) => s.file) };
}

async function countingIterable<T>(items: AsyncIterable<T>, onItem: (n: number) => void): Promise<AsyncIterable<T>> {
  return (async function* () {
    let n = 0;
    for await (const item of items) {
      yield item;
      onItem(++n);
    }
  })();
}

export async function generateWorld(opts: GenerateOptions): Promise<GenerateReport> {
  const preset: SizePreset = sizePreset(opts.size);
  const seed = opts.seed ?? 1;
  const only = opts.only ?? MODALITIES;
  for (const m of only) {
    if (!(MODALITIES as readonly string[]).includes(m)) throw new HerdError('invalid_argument', `unknown modality "${m}"; valid: ${MODALITIES.join(', ')}`);
  }
  const counts = { ...preset.counts, ...(opts.counts ?? {}) };
  const noiseRate = opts.noiseRate ?? preset.noiseRate;
  const progress = (m: Modality) => (n: number) => opts.onProgress?.(m, n, counts[m]);
  const started = Date.now();
  const report: GenerateReport = { out: opts.out, size: opts.size, seed, modalities: {}, seconds: 0 };
  const info = (m: Modality, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    generator: '@herd/datasets',
    modality: m,
    size: opts.size,
    seed,
    count: counts[m],
    noiseRate,
    ...extra,
  });

  const jobs: Record<Modality, () => Promise<number>> = {
    text: async () =>
      (
        await writeTextCorpus(join(opts.out, 'text'), generateTextCorpus({ seed, count: counts.text }), {
          docsPerShard: preset.docsPerShard,
          info: info('text'),
          onDoc: progress('text'),
        })
      ).count,
    images: async () => {
      const samples = generateImages({ seed, count: counts.images, noiseRate, side: preset.imageSide });
      const m = await writeDataset(join(opts.out, 'images'), await countingIterable(samples, progress('images')), {
        samplesPerShard: preset.samplesPerShard,
        name: 'images',
        info: info('images', { side: preset.imageSide }),
      });
      return m.totalCount;
    },
    video: async () => {
      const samples = generateVideos({
        seed,
        count: counts.video,
        noiseRate,
        side: preset.videoSide,
        duration: preset.videoSeconds,
        fps: preset.fps,
        ...(opts.ffmpeg !== undefined ? { ffmpeg: opts.ffmpeg } : {}),
      });
      const m = await writeDataset(join(opts.out, 'video'), await countingIterable(samples, progress('video')), {
        samplesPerShard: preset.samplesPerShard,
        name: 'video',
        info: info('video', { side: preset.videoSide, seconds: preset.videoSeconds, fps: preset.fps }),
      });
      return m.totalCount;
    },
    speech: async () => {
      const samples = generateSpeech({ seed, count: counts.speech, noiseRate, tts: opts.tts ?? 'auto', threads: opts.ttsThreads ?? availableParallelism() });
      const m = await writeDataset(join(opts.out, 'speech'), await countingIterable(samples, progress('speech')), {
        samplesPerShard: preset.samplesPerShard,
        name: 'speech',
        info: info('speech', { sampleRate: 16000 }),
      });
      return m.totalCount;
    },
  };

  await Promise.all(
    only.map(async (m) => {
      const t0 = Date.now();
      const count = await jobs[m]();
      report.modalities[m] = { count, seconds: (Date.now() - t0) / 1000, path: join(opts.out, m) };
    }),
  );
  return { ...report, seconds: (Date.now() - started) / 1000 };
}
