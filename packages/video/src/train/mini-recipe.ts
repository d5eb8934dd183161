/**
 * The whole mini video recipe, top to bottom: clips → frozen image features (once, cached as a
 * shard dataset) → two-stage training of the video group (`trainMiniVideo`) → held-out video QA
 * (`evaluateVideoQa`) → the f16 checkpoint with its eval report and model card.
 */
import { existsSync } from 'node:fs';
import { HerdError, cardPath } from '@herd/core';
import { join } from 'node:path';
import { type LanguageCore, type Llama3Tokenizer } from '@herd/llama3';
import { DEFAULT_DEVICE, type Device, deviceDescription } from '@herd/runtime';
import { type MiniVision, type VisionWeights } from '@herd/vision';
import { type ClipSampling } from '../config.js';
import { type VideoExample, blindClip, extractClipFeatures, readVideoExamples, withLook } from '../data/features.js';
import { readClipTimings, withClipTimings } from '../data/object-places.js';
import { type TokenSpread, videoTokenSpread } from '../eval/token-spread.js';
import { type VideoQaReport, evaluateVideoQa, videoQaItems, videoQaTable } from '../eval/video-qa.js';
import { checkFrameImage } from '../model/graphs.js';
import { saveMiniVideo } from '../mini.js';
import { type LayerOverrides, type MiniVideoResult, type QaRepeat, type ResamplerOverrides, type VideoLookLoss, miniVideoConfig, trainMiniVideo } from './mini.js';

export interface MiniVideoRecipe {
  readonly core: LanguageCore;
  readonly tokenizer: Llama3Tokenizer;
  readonly vision: MiniVision;
  /** The clips dataset (`writeClipWorld`). */
  readonly clipsDir: string;
  /** Where the frozen features are cached (made when missing). */
  readonly featuresDir: string;
  /** Use at most this many clips of the dataset (features are extracted for these only). */
  readonly clips?: number;
  readonly workDir: string;
  readonly outDir: string;
  readonly captionSteps: number;
  readonly qaSteps: number;
  readonly batch: number;
  readonly lr: number;
  readonly seed: number;
  readonly evalPerType: number;
  /** The exact command that re-trains this checkpoint (for the card). */
  readonly command: string;
  readonly dataDescription: string;
  readonly log?: (line: string) => void;
  /** The blind control: train and evaluate with every clip's frame features zeroed (`blindClip`). */
  readonly blind?: boolean;
  /** Stage 0: aggregator pre-training steps with the caption-words head (`pretrainAggregator`; 0 = none) and its peak LR. */
  readonly aggregatorSteps?: number;
  readonly aggregatorLr?: number;
  /** Aggregator settings replacing the mini preset's (`trainMiniVideo`'s `resampler`). */
  readonly resampler?: ResamplerOverrides;
  /** Video cross-attention settings replacing the mini preset's (`trainMiniVideo`'s `layers`). */
  readonly layers?: LayerOverrides;
  /** The QA stage's mix (`trainMiniVideo`'s `qaRepeat`). */
  readonly qaRepeat?: QaRepeat;
  /** Starting values of the video group (`trainMiniVideo`'s `init`; default fresh). */
  readonly init?: VisionWeights;
  /** Stage 0's motion head weight (`trainMiniVideo`'s `motionWeight`; 0 = none). */
  readonly motionWeight?: number;
  /** Whether the aggregator trains in the language-model stages (default: frozen after stage 0, trained without it). */
  readonly aggregator?: 'train' | 'frozen';
  /** The aggregator from a trained checkpoint instead of stage 0 (`trainMiniVideo`'s `aggregatorFrom`), and that checkpoint's folder (for the card). */
  readonly aggregatorFrom?: { readonly dir: string; readonly weights: VisionWeights };
  /** Fresh video cross-attention layers start their query side and keys as the image layers they precede (`trainMiniVideo`'s `attentionFromImage`). */
  readonly attentionFromImage?: boolean;
  /** Weight of the look-up loss in the language-model stages (`trainMiniVideo`'s `lookupWeight`; 0 = none). */
  readonly lookupWeight?: number;
  /** The look loss in the language-model stages (`trainMiniVideo`'s `lookLoss`: its weight, video layers, targets and rows; default none). */
  readonly lookLoss?: VideoLookLoss;
  /** Direction answers name their mover in the QA stage (`trainMiniVideo`'s `directionNamed`; the eval's references unchanged). */
  readonly directionNamed?: boolean;
  /**
   * The second feature input (video config `look`; set `layers.look` too): the image checkpoint whose frame
   * features give the object-motion tokens their look, and where its feature cache is (made when missing).
   */
  readonly look?: { readonly vision: MiniVision; readonly featuresDir: string };
  /** Where every ONNX session of the run (frame features, training, eval) runs; resolved by the app (default DEFAULT_DEVICE); stated in the card. */
  readonly device?: Device;
}

export interface MiniVideoRecipeResult {
  readonly train: MiniVideoResult;
  readonly eval: VideoQaReport;
  /** How different the trained aggregator's tokens are between held-out clips (collapse check). */
  readonly spread: TokenSpread;
  readonly evalSeconds: number;
}

/**
 * Features of every usable clip, extracted once (the frame count is the recipe's; both stages use the same frames),
 * each with its clip's timing from the clips dataset's index (where it has one: what the look loss places objects with); with `look`, each clip also gets the second feature input from that image checkpoint's cache (`withLook`).
 */
export async function videoFeatures(o: Pick<MiniVideoRecipe, 'vision' | 'clipsDir' | 'featuresDir' | 'clips' | 'log' | 'look' | 'device'>, frames: number): Promise<{ train: VideoExample[]; heldout: VideoExample[] }> {
  const first = withClipTimings(await cachedFeatures(o, frames), await readClipTimings(o.clipsDir), `clips ${o.clipsDir}`);
  const all = o.look ? withLook(first, await cachedFeatures({ ...o, vision: o.look.vision, featuresDir: o.look.featuresDir }, frames), `look features ${o.look.featuresDir}`) : first;
  return { train: all.filter((x) => x.split === 'train'), heldout: all.filter((x) => x.split === 'heldout') };
}

/** One image checkpoint's feature cache of the clips: read, or extracted first when missing. */
async function cachedFeatures(o: Pick<MiniVideoRecipe, 'vision' | 'clipsDir' | 'featuresDir' | 'clips' | 'log' | 'device'>, frames: number): Promise<VideoExample[]> {
  checkFrameImage(o.vision.config, `image checkpoint ${o.vision.dir}`);
  if (!existsSync(join(o.featuresDir, 'manifest.json'))) {
    const t0 = performance.now();
    o.log?.(`extracting frozen image features of ${o.clipsDir} (${frames} frames per clip) → ${o.featuresDir}`);
    const r = await extractClipFeatures({
      clips: o.clipsDir, out: o.featuresDir, config: o.vision.config, vision: o.vision.weights, frames, ...(o.clips !== undefined ? { limit: o.clips } : {}), device: o.device,
      onClip: (n, key) => { if (n % 100 === 0) o.log?.(`  ${n} clips (${key}), ${((performance.now() - t0) / 1000).toFixed(0)} s`); },
      onDrop: (key, reason) => o.log?.(`  dropped ${key}: ${reason}`),
    });
    o.log?.(`  ${r.clips} clips in ${((performance.now() - t0) / 1000).toFixed(0)} s, ${r.dropped.length} dropped`);
  }
  return readVideoExamples(o.featuresDir, o.vision.config);
}

function pct(x: number): string {
  return `${(100 * x).toFixed(0)}%`;
}

export async function runMiniVideoRecipe(o: MiniVideoRecipe): Promise<MiniVideoRecipeResult> {
  const m = miniVideoConfig(o.vision.config, o.resampler, o.layers);
  if ((m.video.look === true) !== (o.look !== undefined)) throw new HerdError('invalid_argument', 'runMiniVideoRecipe: the look input needs both layers.look and look (its image checkpoint and feature cache)');
  const frames = m.video.finetune.frames;
  const data = await videoFeatures(o, frames);
  o.log?.(`${data.train.length} train clips, ${data.heldout.length} held-out clips`);
  const train = await trainMiniVideo({
    core: o.core, tokenizer: o.tokenizer, image: o.vision.config, vision: o.vision.weights, examples: data.train, heldout: data.heldout,
    workDir: o.workDir, captionSteps: o.captionSteps, qaSteps: o.qaSteps, batch: o.batch, lr: o.lr, seed: o.seed, ...(o.blind ? { blind: true } : {}),
    ...(o.aggregatorSteps ? { aggregatorSteps: o.aggregatorSteps } : {}), ...(o.aggregatorLr !== undefined ? { aggregatorLr: o.aggregatorLr } : {}), ...(o.motionWeight ? { motionWeight: o.motionWeight } : {}), ...(o.resampler ? { resampler: o.resampler } : {}), ...(o.layers ? { layers: o.layers } : {}), ...(o.qaRepeat ? { qaRepeat: o.qaRepeat } : {}), ...(o.init ? { init: o.init } : {}), ...(o.aggregator ? { aggregator: o.aggregator } : {}), ...(o.attentionFromImage ? { attentionFromImage: true } : {}), ...(o.aggregatorFrom ? { aggregatorFrom: o.aggregatorFrom.weights } : {}), ...(o.lookupWeight ? { lookupWeight: o.lookupWeight } : {}), ...(o.lookLoss ? { lookLoss: o.lookLoss } : {}), ...(o.directionNamed ? { directionNamed: true } : {}),
    device: o.device,
  });
  const ro = train.aggregatorReadout;
  if (ro) o.log?.(`stage 0 readout on held-out clips (aggregator + caption-words head, no language model): direction ${ro.direction.right}/${ro.direction.n}${ro.motionHead ? ` (motion head ${ro.motionHead.right}/${ro.motionHead.n})` : ''}, moving-vs-static AUC ${ro.movingAuc.toFixed(3)} (${ro.moving} moving, ${ro.static} static)`);
  o.log?.(`trained in ${train.seconds.toFixed(0)} s; held-out loss caption ${train.evalLoss.caption?.toFixed(3)}, QA ${train.evalLoss.qa?.toFixed(3)}`);
  const t0 = performance.now();
  const clip: ClipSampling = m.video.finetune;
  const heldout = o.blind ? data.heldout.map((x) => ({ ...x, clip: blindClip(x.clip) })) : data.heldout;
  const report = await evaluateVideoQa({ config: m, clip, core: o.core, vision: o.vision.weights, video: train.weights, tokenizer: o.tokenizer, items: videoQaItems(heldout, o.evalPerType), device: o.device });
  const spread = await videoTokenSpread(m, clip, train.weights, data.heldout.slice(0, 24).map((x) => x.clip), { device: o.device });
  o.log?.(`video tokens of ${spread.clips} held-out clips: pairwise cosine mean ${spread.cosine.mean.toFixed(4)} (min ${spread.cosine.min.toFixed(4)}, max ${spread.cosine.max.toFixed(4)}), relative difference ${spread.relativeDifference.toFixed(4)}`);
  const evalSeconds = (performance.now() - t0) / 1000;
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const tail = (xs: readonly number[]) => mean(xs.slice(-10));
  const lookLoss = o.lookLoss;
  const card = `# herd mini video adapter

The video parameters of the mini herd (Llama 3 paper §7.4 in miniature): a perceiver-resampler
temporal aggregator and gated video cross-attention layers, trained on top of the frozen mini image
model (\`${cardPath(o.vision.dir)}\`: image encoder + image adapter) and the frozen mini language
core (\`${cardPath(o.core.dir)}\`). Only the \`video\` group trained; every other weight is frozen.

- Aggregator: ${m.video.resampler.latents} latents, ${m.video.resampler.layers} layers, ${m.video.resampler.heads} heads, time embedding of up to ${m.video.resampler.maxFrames} frames, frameDifference ${m.video.resampler.frameDifference}${m.video.resampler.positionTokens ? `, a position embedding of ${m.video.resampler.positionTokens} token places scaling each token\'s frame difference` : ''}${m.video.resampler.motionQuery ? ', the clip\'s motion features (the centroid of where its frames change: the directions of its displacement and slope, and the amount of change) projected onto the latent queries (motionQuery)' : ''}${m.video.resampler.motionTokens ? ', and object-motion tokens beside its output (motionTokens: per effective frame and token place, what changed there against the mean frame plus its place times its time, so the video cross-attention can read the asked shape\'s own motion)' : ''}${m.video.frameLayout === 'canvas' ? '; their place terms put each clip\'s tiles on its own canvas (frameLayout canvas: a tall clip\'s second tile below its first)' : ''}.
- Video cross-attention before image cross-attention layers ${JSON.stringify(m.image.crossAttentionLayers.map((_, j) => j).filter((j) => (j + 1) % m.video.crossEvery === 0))} (crossEvery ${m.video.crossEvery}; the mini image model has ${m.image.crossAttentionLayers.length} image layers)${m.video.motionReadout ? '; each also reads the object-motion tokens\' place term where its heads look and adds a learned projection of it to its output (motionReadout)' : ''}${m.video.rowGates ? '; each gate also depends on its row (rowGates: tanh(g + w · the normed row))' : ''}${m.video.look ? `; the object-motion tokens also get a learned map of a second feature input, the clip through the image checkpoint ${o.look?.vision.dir} (look: its change per effective frame and place${m.video.lookKeys ? '; in the keys only, lookKeys' : ''})` : ''}${o.attentionFromImage ? '; their query side and keys started as those image layers\' (`attentionFromImage`: where a text row looks), values, output and FFN fresh, gates 0' : ''}.
- Pre-training: ${m.video.pretrain.frames} frames merged ${m.video.pretrain.groupFrames}→1; fine-tuning: ${m.video.finetune.frames} frames merged ${m.video.finetune.groupFrames}→1. A clip enters a prompt as one \`<|image|>\`: the image layers see its middle frame, the video layers all its frames.
- Stored f16 (${Object.keys(train.weights).length} tensors).

## Data
${o.dataDescription}
${data.train.length} train clips, ${data.heldout.length} held-out clips (held-out = colour×shape pairs never seen in training).

## Training
Re-train: \`${o.command}\`
${o.qaRepeat ? `QA mix: ${Object.entries(o.qaRepeat).map(([k, n]) => `${k} questions ×${n}`).join(', ')} (other types ×1) in the training set; held-out sets unchanged.
` : ''}${o.aggregatorSteps ? `Stage 0 aggregator pre-training (caption-words head on the mean video token${o.motionWeight ? `, plus a motion head (left/right/up/down/still) with weight ${o.motionWeight} trained on the synthetic world's motion labels — a stand-in target, as vision's dense stage is` : ''}, \`pretrainAggregator\`): ${o.aggregatorSteps} steps, peak LR ${o.aggregatorLr ?? o.lr}; loss first 10 ${mean(train.losses.aggregator?.slice(0, 10) ?? []).toFixed(3)}, last 10 ${tail(train.losses.aggregator ?? []).toFixed(3)}${ro ? `; held-out readout: direction ${ro.direction.right}/${ro.direction.n}${ro.motionHead ? ` (motion head ${ro.motionHead.right}/${ro.motionHead.n})` : ''}, moving-vs-static AUC ${ro.movingAuc.toFixed(3)}` : ''}. The aggregator is then ${(o.aggregator ?? 'frozen') === 'frozen' ? 'frozen' : 'trained further'} in the language-model stages.
` : ''}${o.aggregatorFrom ? `Aggregator: taken from ${o.aggregatorFrom.dir} (no stage 0 here) and frozen; the video cross-attention layers fresh.
` : ''}${o.lookupWeight ? `Look-up loss (weight ${o.lookupWeight}) beside the answer loss in the language-model stages: on every direction question the rows ending the asked shape's name and saying the direction word must attend, in each video layer (its query and keys only), to the object-motion tokens whose place term moved the shape's way (\`lookupLoss\`; no parameters of its own).
` : ''}${lookLoss ? `Look loss (weight ${lookLoss.weight}) beside the answer loss in the language-model stages: on every direction question${lookLoss.movers && lookLoss.movers > 1 ? ` about a clip where at least ${lookLoss.movers} shapes move (--look-movers${lookLoss.fewer ? `; on a clip of fewer, onto the aggregator's latents alone, --look-fewer` : ''})` : ''} ${lookLoss.rows && lookLoss.rows.length === 1 ? (lookLoss.rows[0] === 'name' ? "the row ending the asked shape's name (--look-rows name) must put its" : 'the row before the direction word (--look-rows answer) must put its') : "the rows ending the asked shape's name and saying the direction word must put their"} attention, in ${lookLoss.layers ? `video layer${lookLoss.layers.length > 1 ? 's' : ''} ${lookLoss.layers.join(', ')} (the others free)` : 'each video layer'} (its query and keys only), on the object-motion tokens where that shape is in each effective frame${lookLoss.latents ? ' or on the aggregator\'s latents (--look-latents: the loss keeps the rows off the other shapes\' and the background\'s tokens)' : ''} (\`videoLookLoss\`, vision's look loss on the video layers; the targets are the synthetic world's ground truth placed on the frame grid, not the paper's; no parameters of its own). The QA loss below is the answer loss plus ${lookLoss.weight} × the look loss; the work folder's qa.jsonl has \`lmLoss\` and \`lookMass\` per step.
` : ''}${o.directionNamed ? `Direction answers name the mover in the QA stage ("The red circle moves up." instead of "It moves up."; \`videoQuestions\`' \`nameMover\`, the text corpus's --direction-named wording), in its training and held-out-loss sets; the eval's references stay "It moves …" (graded on the key word).
` : ''}Stage 1 clip–caption: ${o.captionSteps} steps; stage 2 QA: ${o.qaSteps} steps; batch ${o.batch}, peak LR ${o.lr} (cosine, re-warmed per stage), seed ${o.seed}, through llama3's \`trainAdapter\`.
Loss (mean of the last 10 steps): caption ${tail(train.losses.caption).toFixed(3)} (first 10: ${mean(train.losses.caption.slice(0, 10)).toFixed(3)}), QA ${tail(train.losses.qa).toFixed(3)} (first 10: ${mean(train.losses.qa.slice(0, 10)).toFixed(3)}).
Held-out loss: caption ${train.evalLoss.caption?.toFixed(3) ?? '—'}, QA ${train.evalLoss.qa?.toFixed(3) ?? '—'}.
Training took ${train.seconds.toFixed(0)} s on device ${deviceDescription(o.device ?? DEFAULT_DEVICE)}, eval ${evalSeconds.toFixed(0)} s.

## Held-out video QA (greedy answers, graded on the key word)
${videoQaTable(report)}
${o.blind ? '**Blind control**: trained and evaluated with every clip\'s frame features zeroed (the video layers see no frames; the image layers still see the middle frame). Not a usable checkpoint — it measures what QA training alone teaches.\n\n' : ''}Aggregator output on ${spread.clips} held-out clips (real frames): pairwise cosine of the video tokens mean ${spread.cosine.mean.toFixed(4)} (min ${spread.cosine.min.toFixed(4)}, max ${spread.cosine.max.toFixed(4)}), relative difference ${spread.relativeDifference.toFixed(4)} (1.0000 / ~0 = the aggregator ignores its frames).

Moving vs static: ${pct(report.accuracy.video.moving)} with the video adapter vs ${pct(report.accuracy.image.moving)} for the image model on the middle frame; direction: ${pct(report.accuracy.video.direction)} vs ${pct(report.accuracy.image.direction)}.
`;
  await saveMiniVideo(o.outDir, m, train.weights, o.vision.dir, { eval: { ...report, steps: { caption: o.captionSteps, qa: o.qaSteps }, trainSeconds: train.seconds, evalLoss: train.evalLoss, tokenSpread: spread, ...(o.aggregatorSteps ? { aggregatorSteps: o.aggregatorSteps, aggregatorReadout: ro ?? null, ...(o.motionWeight ? { motionWeight: o.motionWeight } : {}) } : {}), ...(o.blind ? { blind: true } : {}) }, card }, o.look?.vision.dir);
  return { train, eval: report, spread, evalSeconds };
}
