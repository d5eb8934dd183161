/**
 * Generating the whole world into a folder: one @herd/data shard dataset per modality (the text
 * corpus as two, its train and held-out splits). Modalities run concurrently: images and video spend their time in
 * libvips and ffmpeg threads, speech in WASM on the main thread, so two cores stay busy.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { HerdError } from '@herd/core';
import { ShardWriter, writeDataset } from '@herd/data';
import { type RecordedTextOptions } from './corpus-command.js';
import { generateImages } from './images.js';
import { generateSpeech } from './speech.js';
import { MODALITIES, sizePreset, type Modality, type SizePreset } from './sizes.js';
import { TEXT_SPLITS, generateTextCorpus, textSample, type TextDoc, type TextMix } from './text.js';
import type { TtsPreference } from './tts.js';
import { generateVideos, type NearDuplicateEdit } from './video.js';

export interface GenerateOptions {
  readonly out: string;
  readonly size: string;
  readonly seed?: number;
  readonly only?: readonly Modality[];
  /** Per-modality counts that replace the preset's (e.g. { text: 1_000_000 }). */
  readonly counts?: Partial<Record<Modality, number>>;
  readonly noiseRate?: number;
  /** Share of each text document kind (default the corpus's `TEXT_MIX`). */
  readonly textMix?: TextMix;
  /** QA dialogue rounds drawn by question type (`TextDocOptions.balanceQa`). */
  readonly textBalanceQa?: boolean;
  /** QA rounds only of these question types (`TextDocOptions.qaTypes`). */
  readonly textQaTypes?: readonly string[];
  /** Text: share of scene QA dialogues described shape first (`TextCorpusOptions.shapeFirst`). */
  readonly textShapeFirst?: number;
  /** Text: copy documents' words and longest filler (`TextCorpusOptions.copyWords` / `copyMaxFiller`). */
  readonly textCopyWords?: readonly string[];
  readonly textCopyMaxFiller?: number;
  /** Text: clip direction replies name the mover (`TextCorpusOptions.namedDirection`). */
  readonly textNamedDirection?: boolean;
  /** How video near-duplicates are made (default: rescale only, as before the option existed). */
  readonly videoNearDuplicateEdits?: readonly NearDuplicateEdit[];
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

/**
 * Writes the text corpus as two @herd/data shard datasets, `<dir>/train` and `<dir>/heldout` (by
 * each document's split), one sample per document: `txt` holds the document's words (`docText`) and
 * the meta holds `kind`, `split` and, for dialogues, the chat `turns` (plus the scene or clip it
 * describes). Returns the count of each split.
 */
export async function writeTextCorpus(
  dir: string,
  docs: Iterable<TextDoc>,
  opts: { docsPerShard: number; info?: Record<string, unknown>; onDoc?: (n: number) => void },
): Promise<{ count: number; train: number; heldout: number }> {
  const writers = {
    train: new ShardWriter(join(dir, TEXT_SPLITS.train), { samplesPerShard: opts.docsPerShard, name: 'text-train', info: { ...opts.info, split: 'train' } }),
    heldout: new ShardWriter(join(dir, TEXT_SPLITS.heldout), { samplesPerShard: opts.docsPerShard, name: 'text-heldout', info: { ...opts.info, split: 'heldout' } }),
  };
  let total = 0;
  for (const doc of docs) {
    await writers[doc.split].write(textSample(doc));
    opts.onDoc?.(++total);
  }
  const train = await writers.train.close();
  const heldout = await writers.heldout.close();
  return { count: total, train: train.totalCount, heldout: heldout.totalCount };
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
        await writeTextCorpus(join(opts.out, 'text'), generateTextCorpus({ seed, count: counts.text, ...(opts.textMix ? { mix: opts.textMix } : {}), ...(opts.textBalanceQa ? { balanceQa: true } : {}), ...(opts.textQaTypes ? { qaTypes: opts.textQaTypes } : {}), ...(opts.textShapeFirst ? { shapeFirst: opts.textShapeFirst } : {}), ...(opts.textCopyWords ? { copyWords: opts.textCopyWords } : {}), ...(opts.textCopyMaxFiller !== undefined ? { copyMaxFiller: opts.textCopyMaxFiller } : {}), ...(opts.textNamedDirection ? { namedDirection: true } : {}) }), {
          docsPerShard: preset.docsPerShard,
          // What re-makes this corpus (textCorpusCommand reads it back for model cards).
          info: info('text', { text: textOptionsRecord(opts) }),
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
        ...(opts.videoNearDuplicateEdits !== undefined ? { nearDuplicateEdits: opts.videoNearDuplicateEdits } : {}),
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

/** The text options given, as the text manifest records them (`RecordedTextOptions`). */
function textOptionsRecord(opts: GenerateOptions): RecordedTextOptions {
  return {
    ...(opts.textMix ? { mix: opts.textMix } : {}),
    ...(opts.textBalanceQa ? { balanceQa: true } : {}),
    ...(opts.textQaTypes ? { qaTypes: opts.textQaTypes } : {}),
    ...(opts.textShapeFirst ? { shapeFirst: opts.textShapeFirst } : {}),
    ...(opts.textCopyWords ? { copyWords: opts.textCopyWords } : {}),
    ...(opts.textCopyMaxFiller !== undefined ? { copyMaxFiller: opts.textCopyMaxFiller } : {}),
    ...(opts.textNamedDirection ? { namedDirection: true } : {}),
  };
}
