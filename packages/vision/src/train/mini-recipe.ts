/**
 * The whole mini vision recipe, top to bottom: read the scenes → train (caption, then QA) → evaluate
 * on held-out scenes (three rows) → save the checkpoint with its eval report and model card.
 */
import { type LanguageCore, type Llama3Tokenizer } from '@herd/llama3';
import { type VqaReport, evaluateVqa, vqaItems, vqaTable } from '../eval/vqa.js';
import { saveMiniVision } from '../mini.js';
import { type MiniVisionResult, miniVisionConfig, readSceneExamples, trainMiniVision } from './mini.js';

export interface MiniVisionRecipe {
  readonly core: LanguageCore;
  readonly tokenizer: Llama3Tokenizer;
  /** An images dataset of the synthetic world (`@herd/datasets` `images/`). */
  readonly dataDir: string;
  readonly outDir: string;
  readonly captionSteps: number;
  readonly qaSteps: number;
  readonly batch: number;
  readonly lr: number;
  readonly seed: number;
  /** Held-out questions per type in the eval. */
  readonly evalPerType: number;
  /** How the data was made, for the card. */
  readonly dataDescription: string;
  readonly log?: (line: string) => void;
}

export interface MiniVisionRecipeResult {
  readonly train: MiniVisionResult;
  readonly eval: VqaReport;
  readonly scenes: { readonly train: number; readonly heldout: number };
  readonly readSeconds: number;
  readonly evalSeconds: number;
}

export async function runMiniVisionRecipe(o: MiniVisionRecipe): Promise<MiniVisionRecipeResult> {
  const log = o.log ?? (() => {});
  const m = miniVisionConfig(o.core.config);
  let t = performance.now();
  const scenes = await readSceneExamples(o.dataDir, m);
  const train = scenes.filter((s) => s.split === 'train');
  const heldout = scenes.filter((s) => s.split === 'heldout');
  const readSeconds = (performance.now() - t) / 1000;
  log(`read ${train.length} train + ${heldout.length} held-out scenes in ${readSeconds.toFixed(1)} s`);
  const result = await trainMiniVision({
    core: o.core, tokenizer: o.tokenizer, scenes: train, captionSteps: o.captionSteps, qaSteps: o.qaSteps, batch: o.batch, lr: o.lr, seed: o.seed,
    onStep: (stage, step, loss) => { if (step % 20 === 0) log(`${stage} step ${step} loss ${loss.toFixed(3)}`); },
  });
  log(`trained in ${result.seconds.toFixed(0)} s`);
  t = performance.now();
  const report = await evaluateVqa({ config: m, core: o.core, vision: result.weights, tokenizer: o.tokenizer, items: vqaItems(heldout, o.evalPerType) });
  const evalSeconds = (performance.now() - t) / 1000;
  log(`\n${vqaTable(report)}`);
  const out = { train: result, eval: report, scenes: { train: train.length, heldout: heldout.length }, readSeconds, evalSeconds };
  await saveMiniVision(o.outDir, m, result.weights, { eval: report, card: miniVisionCard(o, out) });
  return out;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function miniVisionCard(o: MiniVisionRecipe, r: MiniVisionRecipeResult): string {
  const { vision: v } = miniVisionConfig(o.core.config);
  const l = r.train.losses;
  return `# Mini vision adapter

The mini herd's eyes: a ViT image encoder and gated cross-attention adapter (Llama 3 §7) trained by
\`runMiniVisionRecipe\` (packages/vision/src/train/mini-recipe.ts) against the frozen committed mini
language core (packages/llama3/weights/mini, not copied here). Only the groups \`vision.encoder\` and
\`vision.adapter\` trained; every core weight was a frozen initializer.

## Architecture
Encoder: ${v.tileSize}-px tiles (up to ${v.maxTiles}), patch ${v.patchSize}, width ${v.dim}, ${v.nLayers} local + ${v.nGlobalLayers} gated global layers,
${v.nHeads} heads, FFN ${v.ffnDim}, intermediate features of layers [${v.intermediateLayers.join(', ')}]. Adapter: projector to the core's
width and gated cross-attention before core layers 1 and 3 (of 4); \`<|image|>\` from the adapter's own learnable rows (the core's
${o.core.config.vocabSize}-row table is unchanged). Stored as f16.

## Data
${o.dataDescription}
${r.scenes.train} clean train scenes; ${r.scenes.heldout} held-out scenes (held-out colour×shape combinations) for the eval.

## Training
Stage 1, caption pre-training: ${o.captionSteps} steps (\`<|begin_of_text|><|image|>caption<|end_of_text|>\`, loss on the caption).
Stage 2, QA SFT: ${o.qaSteps} steps in the chat format (image + question as the user turn, loss on the reply).
Batch ${o.batch} × 48 tokens, AdamW (weight decay 0.01), peak learning rate ${o.lr}, re-warmed per stage, cosine to 10 %; seed ${o.seed}.
Caption loss ${l.caption.length ? `${l.caption[0]!.toFixed(3)} → ${mean(l.caption.slice(-10)).toFixed(3)}` : '—'} (first step → mean of the last 10);
QA loss ${l.qa.length ? `${l.qa[0]!.toFixed(3)} → ${mean(l.qa.slice(-10)).toFixed(3)}` : '—'}.
Training took ${r.train.seconds.toFixed(0)} s on CPU (2 shared cores), plus ${r.readSeconds.toFixed(0)} s decoding and tiling the images.

## Eval: visual QA on held-out scenes
Greedy answers (at most 24 tokens) to the first question of each type about held-out scenes. Graded on the
fact the type asks for: the reference's colour / shape / number / position / written word must be in the
answer, and no other of its kind. Word questions only on scenes with a written word. Eval took ${r.evalSeconds.toFixed(0)} s.

${vqaTable(r.eval)}
Issue targets: ≥ 90 % colour and shape, ≥ 80 % count and position, ≥ 70 % written word.

## Re-train
\`npm run build && node apps/cli/dist/main.js vision train --caption-steps ${o.captionSteps} --qa-steps ${o.qaSteps} --batch ${o.batch} --lr ${o.lr} --seed ${o.seed}\`
(the scene images are generated when missing).
`;
}
