import { describe, expect, it } from 'vitest';
import { MINI_CORE_DIR, loadLanguageCore } from '@herd/llama3';
import { crossScheduleWords, miniVisionRetrainCommand } from './mini-recipe.js';
import { miniVisionConfig } from './mini.js';

describe('miniVisionRetrainCommand (the card\'s Re-train line)', () => {
  const core = loadLanguageCore();
  const recipe = {
    core, encoderFrom: 'packages/vision/weights/mini-encoder', freezeEncoder: true, qkGain: 2, keyWordShare: 0.75,
    keyWordTypes: [['colour', 'shape'], ['colour', 'shape', 'word']], captionSteps: 0, qaSteps: 400, gateInit: 0.5, batch: 16, lr: 0.003, seed: 1,
  };

  it('gives the train command of the options, without --core for the committed core', () => {
    expect(core.dir).toBe(MINI_CORE_DIR);
    expect(miniVisionRetrainCommand(recipe)).toBe(
      'node apps/cli/dist/main.js vision train --encoder-from packages/vision/weights/mini-encoder --clip-steps 0 --dense-steps 0 --dense-lr 0.003 --freeze-encoder --qk-gain 2 --key-word-share 0.75 --key-word-types colour,shape/colour,shape,word --caption-steps 0 --zoom-steps 0 --single-steps 0 --qa-steps 400 --gate-init 0.5 --batch 16 --lr 0.003 --seed 1',
    );
    expect(miniVisionRetrainCommand({ ...recipe, core: { ...core, dir: `${MINI_CORE_DIR}/` } })).not.toContain('--core'); // the same folder spelt with a slash
  });

  it('carries the checkpoint selection (--select-every, --select-per-type) when it is on', () => {
    expect(miniVisionRetrainCommand({ ...recipe, selectEvery: 250 })).toContain('--gate-init 0.5 --select-every 250 --select-per-type 20 --batch 16');
    expect(miniVisionRetrainCommand({ ...recipe, selectEvery: 500, selectPerType: 30 })).toContain('--select-every 500 --select-per-type 30');
    expect(miniVisionRetrainCommand({ ...recipe, selectEvery: 0 })).not.toContain('--select');
    expect(miniVisionRetrainCommand({ ...recipe, trainProjector: true, trainEncoderGlobal: true })).toContain('--freeze-encoder --train-projector --train-encoder-global --qk-gain 2');
    expect(miniVisionRetrainCommand({ ...recipe, trainProjector: true, trainProjectorFromPhase: 2 })).toContain('--train-projector --train-projector-from-phase 2 --qk-gain 2');
    expect(miniVisionRetrainCommand({ ...recipe, trainProjector: true, trainProjectorFromPhase: 1 })).not.toContain('--train-projector-from-phase');
  });

  it('carries place embeddings (--place-embeddings G, --place-init X when not the default); none adds nothing', () => {
    expect(miniVisionRetrainCommand({ ...recipe, placeEmbeddings: 6 })).toContain('--qk-gain 2 --place-embeddings 6 --key-word-share 0.75');
    expect(miniVisionRetrainCommand({ ...recipe, placeEmbeddings: 6, placeInit: 0 })).toContain('--place-embeddings 6 --place-init 0 --key-word-share');
    expect(miniVisionRetrainCommand({ ...recipe, placeEmbeddings: 6, placeInit: 0.1 })).toContain('--place-embeddings 6 --place-init 0.1 --key-word-share');
    expect(miniVisionRetrainCommand({ ...recipe, placeEmbeddings: 6, placeInit: 0.4 })).not.toContain('--place-init'); // the default
    expect(miniVisionRetrainCommand({ ...recipe, placeEmbeddings: 0 })).toBe(miniVisionRetrainCommand(recipe));
  });

  it('carries a cross-attention schedule other than the default (--cross-before), sorted; the default adds nothing', () => {
    expect(miniVisionRetrainCommand({ ...recipe, crossBefore: [3, 0, 1, 2] })).toContain('--qk-gain 2 --cross-before 0,1,2,3 --key-word-share 0.75');
    expect(miniVisionRetrainCommand({ ...recipe, crossBefore: [3, 1] })).toBe(miniVisionRetrainCommand(recipe));
  });

  it('carries --key-word-draw type and --answer-form; the defaults add nothing', () => {
    expect(miniVisionRetrainCommand({ ...recipe, keyWordDraw: 'type' })).toContain('--key-word-types colour,shape/colour,shape,word --key-word-draw type --caption-steps 0');
    expect(miniVisionRetrainCommand({ ...recipe, keyWordDraw: 'question' })).toBe(miniVisionRetrainCommand(recipe));
    expect(miniVisionRetrainCommand({ ...recipe, keyWordDraw: 'type', answerForm: ['position'] })).toContain('--key-word-draw type --answer-form position --caption-steps 0');
    expect(miniVisionRetrainCommand({ ...recipe, answerForm: ['position', 'count'] })).toContain('--key-word-types colour,shape/colour,shape,word --answer-form position,count --caption-steps 0');
    expect(miniVisionRetrainCommand({ ...recipe, answerForm: [] })).toBe(miniVisionRetrainCommand(recipe));
    expect(miniVisionRetrainCommand({ ...recipe, keyWordDraw: 'type', keyWordWeights: { count: 3, word: 1 } })).toContain('--key-word-draw type --key-word-weights count=3,word=1 --caption-steps 0');
    expect(miniVisionRetrainCommand({ ...recipe, keyWordCountBalance: true })).toContain('--key-word-types colour,shape/colour,shape,word --key-word-count-balance --caption-steps 0');
    expect(miniVisionRetrainCommand({ ...recipe, keyWordCountBalance: false })).toBe(miniVisionRetrainCommand(recipe));
    expect(miniVisionRetrainCommand({ ...recipe, keyWordCountBalance: true, keyWordRecolour: 0.5 })).toContain('--key-word-count-balance --key-word-recolour 0.5 --caption-steps 0');
    expect(miniVisionRetrainCommand({ ...recipe, keyWordRecolour: 0 })).toBe(miniVisionRetrainCommand(recipe));
    expect(miniVisionRetrainCommand({ ...recipe, silhouetteStream: true, imageStreamDropout: 0.5 })).toContain('--silhouette-stream --image-stream-dropout 0.5');
    expect(miniVisionRetrainCommand({ ...recipe, silhouetteStream: true, imageStreamDropout: 0 })).toBe(miniVisionRetrainCommand({ ...recipe, silhouetteStream: true }));
    expect(miniVisionRetrainCommand({ ...recipe, lookWeight: 0.5 })).toContain(' --look-weight 0.5');
    expect(miniVisionRetrainCommand({ ...recipe, lookWeight: 0 })).toBe(miniVisionRetrainCommand(recipe));
  });

  it('names the schedule for the card by core layer', () => {
    expect(crossScheduleWords(miniVisionConfig(core.config))).toBe('before core layers 1 and 3 (of 4)');
    expect(crossScheduleWords(miniVisionConfig(core.config, undefined, [0, 1, 2, 3]))).toBe('before core layers 0, 1, 2 and 3 (of 4)');
    expect(crossScheduleWords(miniVisionConfig(core.config, undefined, [2]))).toBe('before core layer 2 (of 4)');
  });

  it('names a core other than the committed one with --core, as the adapter fits only the core it was trained against', () => {
    const line = miniVisionRetrainCommand({ ...recipe, core: { ...core, dir: '/work/cores/chain2' } });
    expect(line).toMatch(/^node apps\/cli\/dist\/main\.js vision train --core \/work\/cores\/chain2 --encoder-from /);
    expect(line.match(/--core/g)).toHaveLength(1);
  });
});
