/**
 * The whole mini vision recipe, top to bottom: read the scenes → train (caption, then QA) → evaluate
 * on held-out scenes (three rows) → save the checkpoint with its eval report and model card.
 */
import { type LanguageCore, type Llama3Tokenizer, isMiniCoreDir } from '@herd/llama3';
import { VQA_TYPES, type VqaReport, type VqaType, evaluateVqa, vqaAdapterAccuracy, vqaGroupTable, vqaItems, vqaTable } from '../eval/vqa.js';
import { saveMiniVision } from '../mini.js';
import { join } from 'node:path';
import { HerdError, readJsonFile } from '@herd/core';
import { DEFAULT_DEVICE, type Device, deviceDescription } from '@herd/runtime';
import { type VisionWeights } from '../model/graphs.js';
import { loadVisionPreset } from '../presets/index.js';
import { loadMiniClip } from './clip-mini.js';
import { loadMiniEncoder } from './dense-mini.js';
import { coreAttachPoints, type MllamaConfig, silhouetteLayersOf } from '../config.js';
import { type KeyWordDraw, MINI_GATE_INIT, MINI_PLACE_INIT, type MiniVisionResult, type SceneExample, freshMiniVision, miniVisionConfig, readSceneExamples, trainMiniVision } from './mini.js';

export interface MiniVisionRecipe {
  readonly core: LanguageCore;
  readonly tokenizer: Llama3Tokenizer;
  /** An images dataset of the synthetic world (`@herd/datasets` `images/`). */
  readonly dataDir: string;
  /** The exact command that re-trains this checkpoint (for the card). */
  readonly command: string;
  /**
   * Train on every sample of `dataDir`, also those the generator labelled as noise (default false:
   * they are skipped). The eval scenes stay the label-clean ones. For training on an uncurated set
   * against its curated output (the curation's own drops are then the only filter).
   */
  readonly trainOnLabelledNoise?: boolean;
  readonly outDir: string;
  /** The image encoder's size, a vision preset (`loadVisionPreset`; default `mini`). An `encoderFrom` encoder must have it. */
  readonly visionPreset?: string;
  /** Stage 0: CLIP pre-training steps of the encoder on the training scenes (`MiniVisionOptions.clipSteps`). */
  readonly clipSteps?: number;
  readonly clipLr?: number;
  /** Stage 0, the mini herd's way: dense pre-training steps of the encoder on the scenes' ground truth (`MiniVisionOptions.denseSteps`). */
  readonly denseSteps?: number;
  readonly denseLr?: number;
  /** Dense stage: weight of the object heads (`MiniVisionOptions.denseObjectWeight`). */
  readonly denseObjectWeight?: number;
  /** Only the adapter trains in the adapter stages (`MiniVisionOptions.freezeEncoder`). */
  readonly freezeEncoder?: boolean;
  /** With `freezeEncoder`, the projector trains too (`MiniVisionOptions.trainProjector`). */
  readonly trainProjector?: boolean;
  /** With `trainProjector`: the QA phase (1-based) from which the projector trains (`MiniVisionOptions.trainProjectorFromPhase`; default 1). */
  readonly trainProjectorFromPhase?: number;
  /** With `freezeEncoder`, the encoder's global layers train too (`MiniVisionOptions.trainEncoderGlobal`). */
  readonly trainEncoderGlobal?: boolean;
  /** Starting q/k RMSNorm gain of the cross-attention (`MiniVisionOptions.qkGain`). */
  readonly qkGain?: number;
  /** The core layers the cross-attention layers run before (`MiniVisionOptions.crossBefore`; default 1 and 3). */
  readonly crossBefore?: readonly number[];
  /** G×G learned place embeddings on the projected image tokens (`MiniVisionOptions.placeEmbeddings`; default 0: none). */
  readonly placeEmbeddings?: number;
  /** Standard deviation of the fresh place tables (`MiniVisionOptions.placeInit`; default `MINI_PLACE_INIT`). */
  readonly placeInit?: number;
  /** Share of QA sequences with the loss on key words only (`MiniVisionOptions.keyWordShare`). */
  readonly keyWordShare?: number;
  /** QA types of the key-word sequences, one list per curriculum phase (`MiniVisionOptions.keyWordTypes`; default all). */
  readonly keyWordTypes?: readonly (readonly string[])[];
  /** How a key-word sequence picks its question (`MiniVisionOptions.keyWordDraw`; default 'question'). */
  readonly keyWordDraw?: KeyWordDraw;
  /** With keyWordDraw 'type': each type's relative weight in the draw (`MiniVisionOptions.keyWordWeights`; default equal). */
  readonly keyWordWeights?: Readonly<Record<string, number>>;
  /** Question types whose key words include their answer-form words (`MiniVisionOptions.answerForm`, `ANSWER_FORM_WORDS`; default none). */
  readonly answerForm?: readonly string[];
  /** Key-word count questions balanced by the number they state (`MiniVisionOptions.keyWordCountBalance`; default off). */
  readonly keyWordCountBalance?: boolean;
  /** Share of the non-colour key-word sequences shown with each object's ink recoloured (`MiniVisionOptions.keyWordRecolour`; default 0). */
  readonly keyWordRecolour?: number;
  /** Share of the one-group colour key-word sequences shown with the objects redrawn as random polygons (`MiniVisionOptions.keyWordReshape`; default 0). */
  readonly keyWordReshape?: number;
  /** A silhouette stream beside the image's (`MiniVisionOptions.silhouetteStream`; default off). */
  readonly silhouetteStream?: boolean;
  /** Share of the non-colour key-word sequences trained with the image stream shut (`MiniVisionOptions.imageStreamDropout`; default 0). */
  readonly imageStreamDropout?: number;
  /** Weight of the look loss on the key-word sequences' rows (`MiniVisionOptions.lookWeight`; default 0: none). */
  readonly lookWeight?: number;
  /** With lookWeight: the question types whose key-word sequences the look loss marks (`MiniVisionOptions.lookTypes`; default every one). */
  readonly lookTypes?: readonly string[];
  /** A folder for per-step JSON-lines logs of each stage (`MiniVisionOptions.stepLogDir`; default none). */
  readonly stepLogDir?: string;
  /**
   * A mini CLIP checkpoint (`saveMiniClip` layout, e.g. packages/vision/weights/mini-clip) whose image
   * tower has this encoder's config: the encoder starts from it instead of fresh (stage 0 done elsewhere).
   */
  readonly encoderFrom?: string;
  readonly captionSteps: number;
  /** QA steps on single-object scenes zoomed to the object's cell (`MiniVisionOptions.zoomSteps`; 0 = none). */
  readonly zoomSteps?: number;
  /** QA steps on single-object scenes before the QA stage on all scenes (curriculum; 0 = none). */
  readonly singleSteps?: number;
  readonly qaSteps: number;
  /** Starting value of the cross-attention gates (`MiniVisionOptions.gateInit`). */
  readonly gateInit?: number;
  readonly batch: number;
  readonly lr: number;
  readonly seed: number;
  /**
   * Checkpoint selection without touching the held-out scenes: every this many steps of the QA stage (and at
   * its end) the adapter answers `selectPerType` questions per type about the validation scenes (the
   * SEEN_IMAGES train-split scenes kept out of training), greedy; the step with the best mean accuracy over
   * the five types is kept (default 0: none, the last step is kept).
   */
  readonly selectEvery?: number;
  /** Validation questions per type for the selection (default 20). */
  readonly selectPerType?: number;
  /** Held-out questions per type in the eval. */
  readonly evalPerType: number;
  /** How the data was made, for the card. */
  readonly dataDescription: string;
  /** Where every ONNX session of the run (training, selection, eval) runs; resolved by the app (default DEFAULT_DEVICE); stated in the card. */
  readonly device?: Device;
  readonly log?: (line: string) => void;
}

/** The selection curve: the adapter's validation accuracy by type at each graded step, and the kept step. */
export interface MiniVisionSelection {
  readonly every: number;
  readonly perType: number;
  readonly n: Readonly<Record<VqaType, number>>;
  readonly curve: readonly { readonly step: number; readonly accuracy: Readonly<Record<VqaType, number>>; readonly mean: number }[];
  readonly step: number;
}

export interface MiniVisionRecipeResult {
  readonly train: MiniVisionResult;
  readonly selection?: MiniVisionSelection;
  /** Held-out scenes: unseen images of unseen colour × shape combinations. */
  readonly eval: VqaReport;
  /** Unseen images of seen combinations (train-split scenes kept out of training): seeing without new bindings. */
  readonly evalSeen: VqaReport;
  readonly scenes: { readonly train: number; readonly heldout: number; readonly seen: number; readonly labelledNoise?: number; readonly undecodable?: number };
  readonly readSeconds: number;
  readonly evalSeconds: number;
}

export async function runMiniVisionRecipe(o: MiniVisionRecipe): Promise<MiniVisionRecipeResult> {
  const log = o.log ?? (() => {});
  const selectEvery = o.selectEvery ?? 0;
  const selectPerType = o.selectPerType ?? 20;
  if (!Number.isInteger(selectEvery) || selectEvery < 0) throw new HerdError('invalid_argument', `selectEvery must be a whole number of steps (0: no selection), got ${selectEvery}`);
  if (!Number.isInteger(selectPerType) || selectPerType < 1) throw new HerdError('invalid_argument', `selectPerType must be a positive whole number, got ${selectPerType}`);
  const m = recipeConfig(o);
  const device = o.device ?? DEFAULT_DEVICE;
  let t = performance.now();
  const skipped = { undecodable: 0 };
  const scenes = await readSceneExamples(o.dataDir, m, { zoom: (o.zoomSteps ?? 0) > 0, labelledNoise: o.trainOnLabelledNoise ?? false, skipped });
  const trainSplit = scenes.filter((s) => s.split === 'train');
  // The last SEEN_IMAGES train-split scenes never train: an eval of seen combinations on unseen images.
  const train = trainSplit.slice(0, -SEEN_IMAGES);
  // Eval scenes are label-clean even when training reads the labelled noise.
  const clean = (s: SceneExample): boolean => (s.noise ?? null) === null;
  const seen = trainSplit.slice(-SEEN_IMAGES).filter(clean);
  const heldout = scenes.filter((s) => s.split === 'heldout' && clean(s));
  const readSeconds = (performance.now() - t) / 1000;
  const noisy = train.filter((s) => !clean(s)).length;
  log(`read ${train.length} train${o.trainOnLabelledNoise ? ` (${noisy} labelled noise, ${skipped.undecodable} undecodable skipped)` : ''} + ${heldout.length} held-out scenes in ${readSeconds.toFixed(1)} s`);
  let init: VisionWeights | undefined;
  if (o.encoderFrom !== undefined) {
    // A pre-trained encoder folder (saveMiniEncoder) or a mini CLIP whose image tower is this encoder.
    const format = (readJsonFile(join(o.encoderFrom, 'config.json'), { what: 'encoder config' }) as { format?: string }).format;
    const tower = format === 'herd-mini-encoder' ? (({ vision, encoder }) => ({ vision, params: encoder }))(loadMiniEncoder(o.encoderFrom)) : (({ config, params }) => ({ vision: config.vision, params }))(loadMiniClip(o.encoderFrom));
    if (JSON.stringify(tower.vision) !== JSON.stringify(m.vision)) throw new HerdError('checkpoint_mismatch', `encoderFrom ${o.encoderFrom}: its image encoder's config ${JSON.stringify(tower.vision)} is not the ${o.visionPreset ?? 'mini'} preset's ${JSON.stringify(m.vision)} (pick its preset with visionPreset / --vision-preset)`);
    const fresh = freshMiniVision(m, o.seed, o.gateInit ?? MINI_GATE_INIT, o.qkGain ?? 1, o.placeInit ?? MINI_PLACE_INIT);
    init = Object.fromEntries(Object.entries(fresh).map(([k, v]) => [k, k.startsWith('vision_model.') ? tower.params[k]! : v]));
  }
  // Selection on the validation scenes (never the held-out ones): the adapter row's mean accuracy over the types.
  const validation = vqaItems(seen, selectPerType);
  const curve: { step: number; accuracy: Record<VqaType, number>; mean: number }[] = [];
  const select = selectEvery > 0 ? {
    every: selectEvery,
    score: async (weights: VisionWeights, step: number) => {
      const accuracy = await vqaAdapterAccuracy({ config: m, core: o.core, vision: weights, tokenizer: o.tokenizer, items: validation, device });
      const score = mean(VQA_TYPES.map((t) => accuracy[t]));
      curve.push({ step, accuracy, mean: score });
      log(`select: step ${step}: ${VQA_TYPES.map((t) => `${t} ${(100 * accuracy[t]).toFixed(0)}%`).join(', ')}; mean ${(100 * score).toFixed(1)}%`);
      return score;
    },
  } : undefined;
  const result = await trainMiniVision({
    ...(init ? { init } : {}), ...(select ? { select } : {}),
    core: o.core, tokenizer: o.tokenizer, vision: m.vision, scenes: train, clipSteps: o.clipSteps ?? 0, ...(o.clipLr !== undefined ? { clipLr: o.clipLr } : {}), denseSteps: o.denseSteps ?? 0, ...(o.denseLr !== undefined ? { denseLr: o.denseLr } : {}), denseObjectWeight: o.denseObjectWeight ?? 0, freezeEncoder: o.freezeEncoder ?? false, trainProjector: o.trainProjector ?? false, ...(o.trainProjectorFromPhase !== undefined ? { trainProjectorFromPhase: o.trainProjectorFromPhase } : {}), trainEncoderGlobal: o.trainEncoderGlobal ?? false, qkGain: o.qkGain ?? 1, ...(o.crossBefore !== undefined ? { crossBefore: o.crossBefore } : {}), ...((o.placeEmbeddings ?? 0) > 0 ? { placeEmbeddings: o.placeEmbeddings!, placeInit: o.placeInit ?? MINI_PLACE_INIT } : {}), keyWordShare: o.keyWordShare ?? 0, ...(o.keyWordTypes ? { keyWordTypes: o.keyWordTypes } : {}), ...(o.keyWordDraw !== undefined ? { keyWordDraw: o.keyWordDraw } : {}), ...(o.keyWordWeights !== undefined ? { keyWordWeights: o.keyWordWeights } : {}), ...(o.keyWordCountBalance ? { keyWordCountBalance: true } : {}), ...((o.keyWordRecolour ?? 0) > 0 ? { keyWordRecolour: o.keyWordRecolour! } : {}), ...((o.keyWordReshape ?? 0) > 0 ? { keyWordReshape: o.keyWordReshape! } : {}), ...(o.silhouetteStream ? { silhouetteStream: true } : {}), ...((o.imageStreamDropout ?? 0) > 0 ? { imageStreamDropout: o.imageStreamDropout! } : {}), ...((o.lookWeight ?? 0) > 0 ? { lookWeight: o.lookWeight! } : {}), ...(o.lookTypes !== undefined ? { lookTypes: o.lookTypes } : {}), ...(o.stepLogDir ? { stepLogDir: o.stepLogDir } : {}), ...(o.answerForm?.length ? { answerForm: o.answerForm } : {}), captionSteps: o.captionSteps, zoomSteps: o.zoomSteps ?? 0, singleSteps: o.singleSteps ?? 0, qaSteps: o.qaSteps, batch: o.batch, lr: o.lr, seed: o.seed,
    gateInit: o.gateInit ?? MINI_GATE_INIT, device, log,
  });
  log(`trained in ${result.seconds.toFixed(0)} s`);
  t = performance.now();
  const report = await evaluateVqa({ config: m, core: o.core, vision: result.weights, tokenizer: o.tokenizer, items: vqaItems(heldout, o.evalPerType), device });
  log(`\nheld-out combinations:\n${vqaTable(report)}\nby object groups in the scene:\n${vqaGroupTable(report)}`);
  const evalSeen = await evaluateVqa({ config: m, core: o.core, vision: result.weights, tokenizer: o.tokenizer, items: vqaItems(seen, o.evalPerType), device });
  log(`\nseen combinations, unseen images:\n${vqaTable(evalSeen)}\nby object groups in the scene:\n${vqaGroupTable(evalSeen)}`);
  const evalSeconds = (performance.now() - t) / 1000;
  const selection = result.selected ? { every: selectEvery, perType: selectPerType, n: Object.fromEntries(VQA_TYPES.map((t) => [t, validation.filter((i) => i.type === t).length])) as Record<VqaType, number>, curve, step: result.selected.step } : undefined;
  const out = { train: result, ...(selection ? { selection } : {}), eval: report, evalSeen, scenes: { train: train.length, heldout: heldout.length, seen: seen.length, ...(o.trainOnLabelledNoise ? { labelledNoise: noisy, undecodable: skipped.undecodable } : {}) }, readSeconds, evalSeconds };
  await saveMiniVision(o.outDir, m, o.core, result.weights, { eval: { heldout: report, seenCombinations: evalSeen }, card: miniVisionCard(o, out) });
  return out;
}

/** Train-split scenes kept out of training for the seen-combinations eval. */
export const SEEN_IMAGES = 200;

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** The recipe's vision model: the mini placement (or `crossBefore`'s) with the encoder of `visionPreset`. */
function recipeConfig(o: Pick<MiniVisionRecipe, 'core' | 'visionPreset' | 'crossBefore' | 'placeEmbeddings' | 'silhouetteStream'>) {
  return miniVisionConfig(o.core.config, loadVisionPreset(o.visionPreset ?? 'mini'), o.crossBefore, o.placeEmbeddings ?? 0, o.silhouetteStream ?? false);
}

/** The card's words for the cross-attention schedule: "before core layers 1 and 3 (of 4)". */
export function crossScheduleWords(m: MllamaConfig): string {
  const at = [...new Set(coreAttachPoints(m.crossAttentionLayers))];
  const list = at.length === 1 ? `layer ${at[0]}` : `layers ${at.slice(0, -1).join(', ')} and ${at[at.length - 1]}`;
  return `before core ${list} (of ${m.text.nLayers})${silhouetteLayersOf(m).length > 0 ? ', two at each: the image\'s, then the silhouette\'s' : ''}`;
}

/** `--key-word-weights`' value: TYPE=N pairs in the given order. */
function weightsFlag(weights: Readonly<Record<string, number>>): string {
  return Object.entries(weights).map(([t, w]) => `${t}=${w}`).join(',');
}

/** The card's words for the answer-form key words of `types` (`ANSWER_FORM_WORDS`). */
function answerFormWords(types: readonly string[]): string {
  const words: Record<string, string> = {
    position: 'a position question\'s key words include the preposition before the place (on / in / near / at), which picks its axis',
    count: 'a count question\'s key words include the verb before the number (is / are, even where the question holds it), which picks one or another number',
  };
  return types.map((t) => words[t] ?? `a ${t} question's key words include its answer-form words`).join('; ');
}

/** Whether the look loss marks word questions (on the word's corner cell; the card says so): they are among the key-word types
 * (default every type) and the look types (default every type). */
export function lookMarksWord(o: { readonly keyWordTypes?: readonly (readonly string[])[]; readonly lookTypes?: readonly string[] }): boolean {
  return (o.keyWordTypes === undefined || o.keyWordTypes.flat().includes('word')) && (o.lookTypes === undefined || o.lookTypes.includes('word'));
}

/** The card's selection paragraph: the validation curve (adapter row by type) and the kept step. */
function selectionCard(s: MiniVisionSelection, qaSteps: number): string {
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  return `Checkpoint selection: every ${s.every} QA steps and at the end, greedy answers to ${s.perType} validation questions per type
(the train-split scenes kept out of training, never the held-out ones; n = ${VQA_TYPES.map((t) => s.n[t]).join(' / ')}); the step with the best mean
over the five types was kept: **step ${s.step} of ${qaSteps}** (the earliest on a tie).

| QA step | ${VQA_TYPES.join(' | ')} | mean |
|---|${VQA_TYPES.map(() => '---').join('|')}|---|
${s.curve.map((c) => `| ${c.step === s.step ? `**${c.step}** (kept)` : c.step} | ${VQA_TYPES.map((t) => pct(c.accuracy[t])).join(' | ')} | ${(100 * c.mean).toFixed(1)}% |`).join('\n')}
`;
}

function miniVisionCard(o: MiniVisionRecipe, r: MiniVisionRecipeResult): string {
  const cfg = recipeConfig(o);
  const { vision: v } = cfg;
  const l = r.train.losses;
  return `# Mini vision adapter

The mini herd's eyes: a ViT image encoder and gated cross-attention adapter (Llama 3 §7) trained by
\`runMiniVisionRecipe\` (packages/vision/src/train/mini-recipe.ts) against ${isMiniCoreDir(o.core.dir) ? 'the frozen committed mini\nlanguage core (packages/llama3/weights/mini, not copied here)' : `the frozen language core at\n${o.core.dir} (given with --core, not copied here; load and evaluate the adapter with that core)`}. Only the groups \`vision.encoder\`, \`vision.projector\`
and \`vision.adapter\` can train (which did is said below); every core weight was a frozen initializer.

## Architecture
Encoder: ${v.tileSize}-px tiles (up to ${v.maxTiles}), patch ${v.patchSize}, width ${v.dim}, ${v.nLayers} local + ${v.nGlobalLayers} gated global layers,
${v.nHeads} heads, FFN ${v.ffnDim}, intermediate features of layers [${v.intermediateLayers.join(', ')}]. Adapter: projector to the core's
width and gated cross-attention ${crossScheduleWords(cfg)}; \`<|image|>\` from the adapter's own learnable rows (the core's
${o.core.config.vocabSize}-row table is unchanged).${(o.placeEmbeddings ?? 0) > 0 ? ` Learned place embeddings (group \`vision.place\`, trained with the adapter):
each projected patch token gets the rows of its patch's row and column in a ${o.placeEmbeddings}×${o.placeEmbeddings} grid over the image (\`vision_place.*\`, fresh N(0, ${o.placeInit ?? MINI_PLACE_INIT}²)).` : ''}${o.silhouetteStream ? ` Silhouette stream: the second cross-attention layer at each of those
core layers reads the image's silhouette (\`inkSilhouette\`: ink black, all else white) through the same encoder and its own projector
(\`silhouette_projector.*\`); both streams trained on every sequence${(o.imageStreamDropout ?? 0) > 0 ? `, except that in ${Math.round(100 * o.imageStreamDropout!)} % of the key-word sequences not about colour the image stream was shut (added nothing, got no gradient) so the silhouette stream answered alone` : ''}.` : ''} Stored as f16.

## Data
${o.dataDescription}
${r.scenes.labelledNoise === undefined ? `${r.scenes.train} clean train scenes` : `${r.scenes.train} train scenes read without the generator's noise labels (${r.scenes.labelledNoise} of them labelled noise; ${r.scenes.undecodable ?? 0} undecodable images skipped)`}; ${r.scenes.heldout} held-out scenes (held-out colour×shape combinations) and ${r.scenes.seen} train-split
scenes kept out of training (seen combinations, unseen images) for the eval.

## Training
${o.encoderFrom !== undefined ? `Encoder start: the pre-trained encoder at \`${o.encoderFrom}\` (see its MODEL_CARD.md for how it was trained and on what).
` : ''}Stage 0, contrastive pre-training of the encoder (CLIP, §7.2; \`trainMiniClip\` with this encoder as its image tower and a
2-layer word Transformer, symmetric InfoNCE, learned temperature) on the same training scenes' captions: ${o.clipSteps ?? 0} steps,
batch 32, peak learning rate ${o.clipLr ?? 2e-3}. Its image tower is the encoder's starting point (the held-out scenes were never seen).
${(o.denseSteps ?? 0) > 0 ? `Stage 0 as the mini herd runs it — NOT the paper's: dense pre-training of the encoder on the synthetic world's ground truth
(\`trainDenseEncoder\`, packages/vision/src/train/dense-mini.ts): every patch token is labelled from the scene spec and the pixels
(its 3×3 grid cell; where its pixels differ from the background, the colour, shape and group count of the object in that cell or
the written word), one linear head per label reads the encoder's output features, loss = sum of the heads' cross-entropies;
${(o.denseObjectWeight ?? 0) > 0 ? `plus object heads (shape, group count) on each object's MEAN ink feature, weight ${o.denseObjectWeight}; ` : ''}${o.denseSteps} steps, batch 32, peak learning rate ${o.denseLr ?? 3e-3}. It stands in for CLIP (§7.2), whose mini version collapsed at ln(batch)
here; the heads are discarded.
` : ''}${o.freezeEncoder ? (o.trainProjector ? `The encoder stays FROZEN in every adapter stage below${o.trainEncoderGlobal ? ' except its gated global layer(s) (`vision.encoder.global`), which train' : ''}; the projector (\`vision.projector\`) trains with the adapter (\`vision.adapter\`)${(o.trainProjectorFromPhase ?? 1) > 1 ? ` from QA phase ${o.trainProjectorFromPhase} on (before it, it keeps its fresh init)` : ''}.
` : `The encoder and the projector stay FROZEN in every adapter stage below (only the group \`vision.adapter\` trains; the projector keeps its fresh init).
`) : ''}${(o.qkGain ?? 1) !== 1 ? `Cross-attention q/k RMSNorm gains start at ${o.qkGain} (attention logits ${((o.qkGain ?? 1) ** 2).toFixed(1)}× wider at the start).
` : ''}Stage 1, caption pre-training: ${o.captionSteps} steps (\`<|begin_of_text|><|image|>caption<|end_of_text|>\`, loss on the caption).
Stage 1b, QA SFT on single-object scenes zoomed to the object's grid cell (curriculum: the object fills most of the canvas;
colour/shape/count/size/existence questions, whose answers stay true of the crop; loss on the key words only): ${o.zoomSteps ?? 0} steps.
Stage 2a, QA SFT on single-object scenes (curriculum): ${o.singleSteps ?? 0} steps.
Stage 2b, QA SFT on all scenes: ${o.qaSteps} steps in the chat format (the image in the first user turn, then as many of the
scene's QA pairs as fit in 48 tokens as turns of one dialogue; loss on every reply${(o.keyWordShare ?? 0) > 0 ? `; a random ${Math.round(100 * o.keyWordShare!)} % of the
sequences instead hold one question with the loss on the reply's key words (colour, shape, number, size, yes/no, place) that the
question does not contain${o.keyWordTypes ? (o.keyWordTypes.length === 1 ? ` (questions of the types ${o.keyWordTypes[0]!.join(', ')} only)` : `; a curriculum of ${o.keyWordTypes.length} phases of equal steps, learning rate re-warmed each, asking about ${o.keyWordTypes.map((p) => `[${p.join(', ')}]`).join(' → ')}`) : ''}${(o.keyWordDraw ?? 'question') === 'type' ? `; each draws its question's type first, ${o.keyWordWeights !== undefined ? `in proportion to the weights ${weightsFlag(o.keyWordWeights)} (1 for a type not named)` : 'uniformly'}, then a question of that type that states a visible fact (a word question: a scene with a written word)` : ''}${o.keyWordCountBalance ? '; a count question asks a number drawn uniformly from those the scenes state (0–3), not as the scenes carry them' : ''}${(o.keyWordRecolour ?? 0) > 0 ? `; in ${Math.round(o.keyWordRecolour! * 100)}% of those not about colour each object's ink is repainted one random RGB colour and the reply's colour words are no targets (the shape is read apart from the colour; a random colour can look like a held-out pair's, whose name is never a label)` : ''}${(o.keyWordReshape ?? 0) > 0 ? `; in ${Math.round(o.keyWordReshape! * 100)}% of the colour questions about scenes of one object group each object is redrawn as a random polygon in its own colour and the question and reply say "shape(s)" for its shape (the colour read where no shape can stand in for it)` : ''}${o.answerForm?.length ? `; ${answerFormWords(o.answerForm)}` : ''}` : ''}).
${(o.lookWeight ?? 0) > 0 ? `Look loss (weight ${o.lookWeight}) beside the answer loss: in every key-word sequence whose question names an object of the scene (by place for shape questions, by
shape for colour, count and position${lookMarksWord(o) ? '; the written word by its corner' : ''}), each cross-attention layer's head-mean attention at the reply's target rows was trained onto the image tokens of
that object's 3×3 grid cell (−log of the mass there; \`lookLoss\`; no parameters of its own)${o.lookTypes ? `; only in the sequences asking ${o.lookTypes.join(', ')} (the others train on their answer alone)` : ''}.
` : ''}Each stage is a call of llama3's shared \`trainAdapter\` (in-memory batches of the tiled scenes).
Batch ${o.batch} × 48 tokens, AdamW (weight decay 0.01), peak learning rate ${o.lr}, re-warmed per stage, cosine to 10 %; seed ${o.seed}.
Cross-attention gates start at ${o.gateInit ?? MINI_GATE_INIT} (the paper: 0; at this budget a zero gate never opens, see \`gateInit\`).
${(['clip', 'dense', 'caption', 'qa-zoom', 'qa-single', 'qa'] as const).filter((k) => l[k].length).map((k) => `Loss (${k}) ${l[k][0]!.toFixed(3)} → ${mean(l[k].slice(-10)).toFixed(3)}`).join('; ')} (first step → mean of the last 10).
${r.selection ? `${selectionCard(r.selection, o.qaSteps)}
` : ''}Training took ${r.train.seconds.toFixed(0)} s on device ${deviceDescription(o.device ?? DEFAULT_DEVICE)}, plus ${r.readSeconds.toFixed(0)} s decoding and tiling the images.

## Eval: visual QA on unseen images
Greedy answers (at most 24 tokens) to the first question of each type about held-out scenes. Graded on the
fact the type asks for: the reference's colour / shape / number / position / written word must be in the
answer, and no other of its kind. Word questions only on scenes with a written word. The blind control row is
this checkpoint with the image's pixels zeroed: what it answers from the question alone (its text prior); the
adapter sees only where it beats that row. Eval took ${r.evalSeconds.toFixed(0)} s.

Held-out scenes (unseen colour × shape combinations):

${vqaTable(r.eval)}
The same by the scene's number of object groups (a question about a named shape among several groups needs the shape found,
not only its colour read):

${vqaGroupTable(r.eval)}
Seen combinations, unseen images (train-split scenes kept out of training): separates seeing from binding
new combinations.${r.selection ? ` These scenes are also the selection's validation set (the kept step scored best on them), so this
table is not an independent measure; the held-out table above is.` : ''}

${vqaTable(r.evalSeen)}
${vqaGroupTable(r.evalSeen)}
Issue targets: ≥ 90 % colour and shape, ≥ 80 % count and position, ≥ 70 % written word.

## Re-train
\`${o.command}\`
(after \`npm run build\`; the scene images are generated when missing).
`;
}
