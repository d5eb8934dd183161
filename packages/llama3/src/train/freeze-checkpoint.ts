/**
 * A training checkpoint of the language core as a core folder (`herd text freeze`): its parameters
 * without the optimizer state, rounded to f16, with the config and vocabulary the run wrote beside its
 * checkpoints — so a run can be evaluated, probed or adopted at any saved step, not only its last.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { HerdError, openSafetensors, writeFileAtomic } from '@herd/core';
import { checkpointMeta } from '@herd/trainer';
import { readHfLlamaConfig, readLlamaWeights } from '../model/load.js';
import { PrunedVocab } from '../tokenizer/pruned.js';
import { LANGUAGE_CORE_FILES, writeCoreShape, writeCoreWeights } from './save-core.js';

export interface FrozenCheckpoint {
  readonly step: number;
  readonly outDir: string;
}

export async function freezeCheckpoint(checkpoint: string, outDir: string): Promise<FrozenCheckpoint> {
  if (!existsSync(checkpoint)) throw new HerdError('io_error', `${checkpoint}: no such checkpoint file`);
  const runDir = dirname(checkpoint);
  if (resolve(outDir) === resolve(runDir)) throw new HerdError('invalid_argument', `--out ${outDir} is the checkpoint folder itself; name a new folder`);
  for (const f of [LANGUAGE_CORE_FILES.config, LANGUAGE_CORE_FILES.vocab]) {
    if (!existsSync(join(runDir, f))) {
      throw new HerdError('io_error', `${checkpoint}: no ${f} beside it — \`herd text train\` writes the run's config.json and vocab.json into its checkpoint folder (runs before this was added did not; copy them from a core of the same run or corpus)`);
    }
  }
  const config = readHfLlamaConfig(runDir);
  const vocab = PrunedVocab.load(join(runDir, LANGUAGE_CORE_FILES.vocab));
  if (vocab.size !== config.vocabSize) throw new HerdError('checkpoint_mismatch', `${runDir}: vocab.json has ${vocab.size} entries but config.json's vocab_size is ${config.vocabSize}`);
  const source = openSafetensors(checkpoint);
  const meta = checkpointMeta(source, checkpoint);
  // The parameters by the config's names and shapes (the optimizer's adam.* state is left behind).
  const weights = readLlamaWeights(source, config, checkpoint);
  const params = Object.fromEntries(Object.entries(weights).map(([k, t]) => [k, { dtype: 'f32' as const, shape: t.shape, data: t.data as Float32Array }]));
  await writeCoreWeights(outDir, params);
  await writeCoreShape(outDir, config, vocab);
  const recipe = meta.info?.['recipe'];
  await writeFileAtomic(join(outDir, LANGUAGE_CORE_FILES.report), JSON.stringify({ frozenFrom: checkpoint, step: meta.step, ...(recipe ? { recipe } : {}) }, null, 2) + '\n');
  await writeFileAtomic(
    join(outDir, LANGUAGE_CORE_FILES.card),
    [
      `# Language core — step ${meta.step} of a training run`,
      '',
      `Frozen from the checkpoint \`${checkpoint}\` by \`herd text freeze\`: the parameters after ${meta.step} steps, rounded to f16,`,
      'without the optimizer state. Not evaluated here: `herd text eval --model <this folder>` measures it. The run\'s recipe',
      '(with the schedule it was on, which may have continued past this step) is in training.json.',
      '',
    ].join('\n'),
  );
  return { step: meta.step, outDir };
}
