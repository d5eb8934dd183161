/**
 * The held-out speech eval set: utterances of the synthetic world spoken only by the voices that
 * never speak in training (`HELDOUT_VOICES`), statements and spoken questions, clean. Made by the
 * datasets' generator with every item held out (half by voice, half by unseen colour×shape
 * combination with a training voice; the eval keeps the held-out voices).
 */
import { writeDataset } from '@herd/data';
import { generateSpeech } from '@herd/datasets';

export const SPEECH_EVAL_SET = { seed: 2, count: 400 } as const;

export async function generateSpeechEvalSet(dir: string, o: { seed?: number; count?: number; threads?: number } = {}): Promise<number> {
  const seed = o.seed ?? SPEECH_EVAL_SET.seed;
  const count = o.count ?? SPEECH_EVAL_SET.count;
  const samples = generateSpeech({ seed, count, noiseRate: 0, heldoutFraction: 1, tasks: ['statement', 'question'], threads: o.threads ?? 2 });
  const m = await writeDataset(dir, samples, { samplesPerShard: 500, name: 'speech-eval', info: { generator: 'generateSpeech', seed, count, heldoutFraction: 1, tasks: ['statement', 'question'], noiseRate: 0 } });
  return m.totalCount;
}
