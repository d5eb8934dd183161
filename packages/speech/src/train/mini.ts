/**
 * The mini encoder's pre-training on the built-in synthetic world, as run by `npm run train -w
 * @herd/speech` (turbo `train`): generate the speech set if it is not there (espeak-ng on worker
 * threads), read it, pre-train with MINI_BEST_RQ_RECIPE, write weights/mini-encoder. No flags or
 * environment: the app layer (`herd train speech`) is where choices would be read.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MANIFEST_FILE, isUnreadable, iterateDataset, readShard } from '@herd/data';
import { generateWorld } from '@herd/datasets';
import { decodeAudio } from '@herd/media';
import { type BestRqRecipe, type BestRqReport, MINI_BEST_RQ_RECIPE, type Utterance, pretrainBestRq } from './pretrain.js';

/** packages/speech/weights/mini-encoder (the same from src/ and dist/). */
export const MINI_ENCODER_DIR = fileURLToPath(new URL('../../weights/mini-encoder', import.meta.url));
/** Where the generated pre-training audio goes (git-ignored out/). */
export const MINI_SPEECH_DATA_DIR = fileURLToPath(new URL('../../../../out/speech-pretrain', import.meta.url));

/**
 * Utterances of a generated speech dataset (a dataset folder, or a list of its shard files), split by
 * meta.split; noisy samples are left out.
 */
export async function readSpeechSplits(source: string | readonly string[]): Promise<{ train: Utterance[]; heldout: Utterance[] }> {
  const train: Utterance[] = [];
  const heldout: Utterance[] = [];
  const dir = typeof source === 'string' ? source : dirname(source[0] ?? '.');
  const samples = async function* () {
    if (typeof source === 'string') yield* iterateDataset(source);
    else for (const shard of source) yield* readShard(shard);
  };
  for await (const s of samples()) {
    if (isUnreadable(s)) continue;
    if (s.meta['noise'] !== null || !s.files['wav']) continue;
    const { samples } = await decodeAudio(s.files['wav'], { sampleRate: 16000, name: `${dir}/${s.key}.wav` });
    const u = { key: s.key, samples };
    (s.meta['split'] === 'heldout' ? heldout : train).push(u);
  }
  return { train, heldout };
}

export async function trainMiniEncoder(o: { count?: number; recipe?: BestRqRecipe; dataDir?: string; outDir?: string } = {}): Promise<BestRqReport> {
  const dataDir = o.dataDir ?? MINI_SPEECH_DATA_DIR;
  if (!existsSync(join(dataDir, 'speech', MANIFEST_FILE))) {
    await generateWorld({ out: dataDir, size: 'small', only: ['speech'], counts: { speech: o.count ?? 2000 }, noiseRate: 0, ttsThreads: availableParallelism() });
  }
  const { train, heldout } = await readSpeechSplits(join(dataDir, 'speech'));
  return pretrainBestRq({ train, heldout, recipe: o.recipe ?? MINI_BEST_RQ_RECIPE, outDir: o.outDir ?? MINI_ENCODER_DIR, logPath: join(dataDir, 'best-rq.jsonl') });
}
