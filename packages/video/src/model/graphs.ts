/**
 * The video model's graphs (§7.4): the image model (frozen core + frozen image encoder and adapter)
 * with the video parameters added:
 * - the frame graph: each sampled frame through the frozen image encoder + projector → frame
 *   features, and the image adapter's keys/values of the clip's middle frame (what the image
 *   cross-attention layers see of a clip; Meta did not publish what they see, this is herd's choice,
 *   and it makes "video gates at 0" equal to "the image model shown the middle frame");
 * - the video extension (llama3 `LmExtension`, group `video`): the temporal aggregator over the
 *   frame features and the gated video cross-attention layers, composed with the image adapter's
 *   extension (`composeExtensions`), the video layer acting first at a shared core layer ("before
 *   every 4th image cross-attention layer");
 * - the video-tokens graph: the aggregator alone, run once per clip for generation.
 *
 * A clip enters a prompt as one `<|image|>` token: the image layers see its middle frame, the video
 * layers its aggregated frames, with the same rows (text after the token) allowed to look.
 *
 * Legend: B batch, F frames, N tile slots, P tokens per tile, S = N·P image tokens per frame,
 * V video tokens (E effective frames × L latents), D core width, K kv heads, Dh head dim.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type EmittedModel, Graph, type ParamSpec, type Params, type Tensor } from '@herd/graph';
import { type FrozenWeights, type LlamaConfig, type LmExtension, type LmGraphSpec, type LmHookContext, type LmInputDecl, buildDecoder, composeExtensions } from '@herd/llama3';
import { type LayerLook, type MllamaConfig, type VisionWeights, adapterParamSpecs, coreAttachPoints, encodeImages, encoderParamSpecs, imageKeysValues, lookLoss, patchesPerTile, projectToCore, silhouetteLayersOf, visionExtension } from '@herd/vision';
import { type ClipSampling, type VideoConfig, effectiveFrames, videoBeforeImageLayers, videoTokenCount } from '../config.js';
import { type FramePlaces, VIDEO_ASPECT_RATIO_ID, addLook, canvasPlaces, lookParamSpecs, lookTokens, resamplerParamSpecs, videoTokens } from './resampler.js';
import { placeRead, rowsWithVideo, videoAttentionConfig, videoCrossAttentionLayer, videoCrossAttentionSpecs, videoLayerLook, videoLayerPrefix, type VideoLayerShape } from './video-cross-attention.js';

/** The image model a video adapter is added to, and the video side's config. */
export interface VideoModelConfig {
  readonly image: MllamaConfig;
  readonly video: VideoConfig;
}

/**
 * The video parameters' groups (the only ones that train): the temporal aggregator and the video
 * cross-attention layers. Two groups so a recipe can train the cross-attention on a frozen,
 * separately pre-trained aggregator (`pretrainAggregator`); both together are the video checkpoint.
 */
export const VIDEO_AGGREGATOR_GROUP = 'video.aggregator';
export const VIDEO_CROSS_ATTENTION_GROUP = 'video.cross_attention';
/** Both video groups: what trains when the whole video adapter trains. */
export const VIDEO_GROUPS: readonly string[] = [VIDEO_AGGREGATOR_GROUP, VIDEO_CROSS_ATTENTION_GROUP];

/** Image tokens of one frame (all tile slots; padding tiles masked). */
export function frameTokens(m: MllamaConfig): number {
  return m.vision.maxTiles * patchesPerTile(m.vision);
}

/** The sampled frame whose image the image cross-attention layers see: ⌊F/2⌋. */
export function middleFrame(frames: number): number {
  return Math.floor(frames / 2);
}

/** Per video layer: the image layer j it precedes and the core layer it runs before. */
export function videoLayers(m: VideoModelConfig): { readonly imageLayer: number; readonly coreLayer: number }[] {
  const attach = coreAttachPoints(m.image.crossAttentionLayers);
  return videoBeforeImageLayers(m.image.crossAttentionLayers.length, m.video.crossEvery).map((j) => ({ imageLayer: j, coreLayer: attach[j]! }));
}

export function videoParamSpecs(m: VideoModelConfig): ParamSpec[] {
  return [...resamplerParamSpecs(m.video.resampler, m.image.text.dim), ...videoCrossAttentionParamSpecs(m)];
}

/** The video cross-attention layers' shape from the video config. */
function layerShape(m: VideoModelConfig): VideoLayerShape {
  return { ffnHidden: m.video.crossFfnDim, ...(m.video.motionReadout ? { motionReadout: true } : {}), ...(m.video.rowGates ? { rowGates: true } : {}) };
}

/**
 * The video cross-attention layers' parameters (group `video.cross_attention`), and with `look` the look
 * input's map (`LOOK_PROJ`): it trains with the layers, also on a frozen aggregator.
 */
export function videoCrossAttentionParamSpecs(m: VideoModelConfig): ParamSpec[] {
  return [...videoLayers(m).flatMap((_, j) => videoCrossAttentionSpecs(m.image.text, j, layerShape(m))), ...(m.video.look ? lookParamSpecs(m.image.text.dim) : [])];
}

/** Object-motion tokens per clip (E·S): how many of the video tokens the look input adds to (the last ones). */
export function lookTokenCount(m: VideoModelConfig, clip: ClipSampling): number {
  return effectiveFrames(clip) * frameTokens(m.image);
}

/** Rows per sequence the look-up loss trains (`lookupLoss`): the end of the asked shape's name and the row that gives the answer's direction word. */
export const LOOKUP_ROWS = 2;

/**
 * The look-up loss (training only, herd's addition; the recipe's `lookupWeight`; needs
 * `resampler.motionTokens`): at `LOOKUP_ROWS` text rows per sequence — the last token of the asked
 * shape's name in "Which way does the red circle move?" and the row whose next token is the answer's
 * direction word — each video layer's attention is run with its own query
 * and keys (input norm, q/k projections and norms: where the row looks) but fixed values that read
 * only the object-motion tokens' place term (`placeDirections`: size × time × place along x and y),
 * averaged over heads and layers: (x, y), the way the tokens the row attends to moved. The logits
 * [−x, x, −y, y] (left, right, up, down: y grows downwards) are trained with cross-entropy towards the
 * shape's direction. Inputs `video.lookupRow` [B, R] i32 (the rows) and `video.lookupTarget` [B, R] i32
 * (`LOOKUP_DIRECTIONS` index; −100 = no target, e.g. not a direction question).
 *
 * Why: the object-motion tokens hold each shape's own motion, readable by the shape's look (34 of 40
 * held-out direction questions in Python, round 19), but the answer loss reaches the video layers'
 * query and key projections only through the core's later layers and a gate near ±0.1, and the adapter
 * learnt the look-up weakly (two moving shapes: 10 of 15). This target teaches where to look and
 * nothing else: the values, output, FFN and gates get no gradient from it, and nothing it reads is
 * written into the core's stream (a first form that scored the attention's output against the
 * direction words' embeddings did write it, and direction fell to 55 %, moving to 85 %; at the name's
 * row alone this form left direction at 75 %: round 20).
 * No parameters of its own: the checkpoint and the exported graphs are unchanged.
 */
export function lookupLoss(cfg: LlamaConfig, p: Params, queries: readonly { readonly j: number; readonly query: Tensor }[], tokens: Tensor, row: Tensor, target: Tensor, keys?: Tensor): Tensor {
  if (queries.length === 0) throw new HerdError('invalid_argument', 'look-up loss: no video layer ran');
  const D = cfg.dim;
  const H = videoAttentionConfig(cfg).nHeads;
  const losses = queries.map(({ j, query }) => {
    const [B, R] = row.shape as number[];
    const at = G.expand(G.reshape(row, [B!, R!, 1]), [B!, R!, D]); // [B, R, D]
    const q = G.gatherElements(query, at, 1); // [B, R, D]: the rows' normed states
    const read = placeRead(cfg, p, `${videoLayerPrefix(j)}.cross_attn`, q, tokens, undefined, keys); // [B, R, 2H]
    const xy = G.mean(G.reshape(read, [B!, R!, H, 2]), 2); // [B, R, 2]
    const [x, y] = [G.slice(xy, 2, 0, 1), G.slice(xy, 2, 1, 2)]; // [B, R, 1] each
    return G.crossEntropy(G.concat([G.neg(x), x, G.neg(y), y], 2), target, -100).loss; // logits [B, R, 4]
  });
  return G.div(losses.reduce((l, r) => G.add(l, r)), losses.length);
}

/**
 * The training-only auxiliary losses of the video layers (the recipe's weights; one at a time, both herd's additions):
 * 'lookup' — the look-up loss (`lookupLoss`: the attended tokens' place term must move the asked shape's way);
 * 'look' — the look loss (`videoLookLoss`: the attention's mass on the asked mover's own tokens).
 */
export type VideoAuxiliary = 'lookup' | 'look';

/** The look loss's inputs (`videoBatch` with 'look'): [B, E, V] f32, 1 on the video tokens a marked row should look at in effective frame e; [B, T] f32, 1 on those rows. */
export const VIDEO_LOOK_TOKENS = 'video.lookAt.tokens';
export const VIDEO_LOOK_ROWS = 'video.lookAt.rows';

/**
 * The look loss of the video layers (training only, herd's addition; the recipe's `lookLoss` option, a `VideoLookLoss`; needs
 * `resampler.motionTokens`): vision's look loss (`lookLoss`: at marked rows, each layer's head-mean attention mass on
 * the marked tokens, −log, averaged over rows and layers) on the video cross-attention layers, once per effective frame e
 * with that frame's marks, averaged over the frames. The recipe marks, on every direction question, the rows ending the
 * asked shape's name and giving the answer's direction word, and in each effective frame the object-motion tokens where
 * that shape IS then (`lookTarget`; the synthetic world's ground truth placed on the frame grid). Split by frame so a row
 * must look at the mover in every part of the clip (the optimum puts 1/E of its mass on each): one part's tokens say where
 * the mover is, only both together where it went; the first form, one mark set for all frames, could be met by looking at
 * one half. Measured (round 35, video README): on both video layers either form binds the answer to the named mover but
 * loses one-mover clips (44 → 30–35 of 48); on the later layer alone (`VideoLookLoss`'s `layers` [1]) both hold. Why at all: round 25 measured that the answer
 * does not change with the name asked — on the two-mover clips whose movers go different ways both names got the same
 * direction word on 16–20 of 20 — and vision's look loss, the direct form, lifted the named object's attended mass from
 * 0.38 to 0.80 (round 34). Reads queries and keys only (`videoLayerLook`); no parameters: checkpoints and exported graphs
 * unchanged. `tokens` [B, E, V]. Returns the loss and the attended mass summed over the frames (a metric).
 */
export function videoLookLoss(cfg: LlamaConfig, p: Params, queries: readonly { readonly j: number; readonly query: Tensor }[], keys: Tensor, mask: Tensor, tokens: Tensor, rows: Tensor): { loss: Tensor; mass: Tensor } {
  if (queries.length === 0) throw new HerdError('invalid_argument', 'look loss: no video layer ran');
  return lookPerFrame(queries.map(({ j, query }) => videoLayerLook(cfg, p, j, query, keys, mask)), tokens, rows);
}

/** `lookLoss` once per effective frame e with marks `tokens[:, e]` ([B, E, V]): the mean of the losses, the sum of the masses. */
export function lookPerFrame(layers: readonly LayerLook[], tokens: Tensor, rows: Tensor): { loss: Tensor; mass: Tensor } {
  const [B, E, V] = tokens.shape as number[];
  const per = Array.from({ length: E! }, (_, e) => lookLoss(layers, G.reshape(G.slice(tokens, 1, e, e + 1), [B!, V!]), rows));
  return { loss: G.div(per.map((x) => x.loss).reduce((a, b) => G.add(a, b)), E!), mass: per.map((x) => x.mass).reduce((a, b) => G.add(a, b)) };
}

/**
 * The video adapter as an extension of the core's graphs. `source` 'frames': inputs `video.frames`
 * [B, F, S, D] and `video.frameMask` [B, S] bool (and with `frameLayout` 'canvas' `video.aspectRatioId` [B] i32), the
 * aggregator runs in the graph (training); 'tokens': input `video.tokens` [B, V, D] from the video-tokens graph (generation). With the video
 * config's `look`, the second feature input too: 'frames' takes `video.lookFrames` [B, F, S, D] (the
 * clip through the second image checkpoint), 'tokens' its parameter-free look tokens `video.look`
 * [B, E·S, D] (the video-tokens graph's second output; one clip's tokens, V fixed), and the learned
 * map of them is added to the object-motion tokens here (`addLook`), so it trains in the
 * language-model stages whether or not the aggregator does. Without `look` nothing of it is declared:
 * the graphs are those of the one-input model byte for byte. Both take
 * `video.mask` [B, 1, T, V] bool (true where a text row may see the clip). With `auxiliary` (training) its inputs and
 * loss as the auxiliary loss: 'lookup', `video.lookupRow` and `video.lookupTarget` [B, LOOKUP_ROWS] i32 (`lookupLoss`);
 * 'look', `VIDEO_LOOK_TOKENS` [B, E, V] and `VIDEO_LOOK_ROWS` [B, T] f32 (`videoLookLoss`, metric `lookMass`), on the video layers
 * `lookLayers` (indices into `videoLayers`; default every one; the recipe's `VideoLookLoss`'s `layers`).
 */
export function videoExtension(m: VideoModelConfig, clip: ClipSampling, source: 'frames' | 'tokens', auxiliary?: VideoAuxiliary, lookLayers?: readonly number[]): LmExtension {
  const t = m.image.text;
  const S = frameTokens(m.image);
  const V = videoTokenCount(m.video, clip, S);
  // Fed tokens (the export) take any count: several clips' tokens side by side, each row's mask
  // opening the clip it sees (the way the image cross-attention takes several images).
  const look = m.video.look === true;
  const tokens = source === 'frames' || look ? V : 'V';
  const inputs: Record<string, LmInputDecl> =
    source === 'frames'
      ? { 'video.frames': { dtype: 'f32', shape: ['B', clip.frames, S, t.dim] }, 'video.frameMask': { dtype: 'bool', shape: ['B', S] } }
      : { 'video.tokens': { dtype: 'f32', shape: ['B', tokens, t.dim] } };
  if (look && source === 'frames') inputs['video.lookFrames'] = { dtype: 'f32', shape: ['B', clip.frames, S, t.dim] };
  const canvas = m.video.frameLayout === 'canvas';
  if (canvas && source === 'frames') inputs[VIDEO_ASPECT_RATIO_ID] = { dtype: 'i32', shape: ['B'] };
  if (look && source === 'tokens') inputs['video.look'] = { dtype: 'f32', shape: ['B', lookTokenCount(m, clip), t.dim] };
  inputs['video.mask'] = { dtype: 'bool', shape: ['B', 1, 'T', tokens] };
  if (auxiliary === 'lookup' && !m.video.resampler.motionTokens) throw new HerdError('invalid_config', 'the look-up loss reads the object-motion tokens: it needs resampler.motionTokens');
  if (auxiliary === 'look' && !m.video.resampler.motionTokens) throw new HerdError('invalid_config', "the look loss marks the object-motion tokens at the asked shape's places: it needs resampler.motionTokens");
  if (auxiliary === 'lookup') {
    inputs['video.lookupRow'] = { dtype: 'i32', shape: ['B', LOOKUP_ROWS] };
    inputs['video.lookupTarget'] = { dtype: 'i32', shape: ['B', LOOKUP_ROWS] };
  }
  const nLayers = videoLayers(m).length;
  if (lookLayers !== undefined && (auxiliary !== 'look' || lookLayers.length === 0 || lookLayers.some((j) => !(Number.isSafeInteger(j) && j >= 0 && j < nLayers)) || new Set(lookLayers).size !== lookLayers.length)) throw new HerdError('invalid_argument', `look layers [${lookLayers}]: the look loss's layers are distinct indices in 0..${nLayers - 1} of the ${nLayers} video layers, given only with the look loss`);
  if (auxiliary === 'look') {
    inputs[VIDEO_LOOK_TOKENS] = { dtype: 'f32', shape: ['B', effectiveFrames(clip), tokens] };
    inputs[VIDEO_LOOK_ROWS] = { dtype: 'f32', shape: ['B', 'T'] };
  }
  const layers = videoLayers(m);
  // The video layers' normed queries of the graph being built, for the auxiliary loss (the builder runs
  // the layers, then asks for it).
  let queries: { j: number; query: Tensor }[] = [];
  return {
    groups: [
      { name: VIDEO_AGGREGATOR_GROUP, specs: resamplerParamSpecs(m.video.resampler, t.dim) },
      { name: VIDEO_CROSS_ATTENTION_GROUP, specs: videoCrossAttentionParamSpecs(m) },
    ],
    inputs,
    encode: ({ inputs: x, p }) => {
      queries = [];
      const at = canvas && source === 'frames' ? canvasPlaces(m.image.vision, x[VIDEO_ASPECT_RATIO_ID]!) : undefined;
      const base = source === 'frames' ? videoTokens(m.video.resampler, clip, p, x['video.frames']!, x['video.frameMask']!, m.image.vision, at) : x['video.tokens']!;
      const withLook = look ? addLook(p, base, source === 'frames' ? lookTokens(x['video.lookFrames']!, x['video.frameMask']!, m.image.vision, clip) : x['video.look']!) : base;
      // lookKeys: the look decides where a row looks (keys), the tokens without it what it reads (values).
      return {
        tokens: m.video.lookKeys ? base : withLook,
        ...(m.video.lookKeys ? { keys: withLook } : {}),
        rows: rowsWithVideo(x['video.mask']!),
      };
    },
    beforeLayer: (i, h, { inputs: x, p, encoded }) =>
      layers.reduce((acc, l, j) => (l.coreLayer === i ? videoCrossAttentionLayer(t, p, j, layerShape(m), acc, encoded['tokens']!, x['video.mask']!, encoded['rows']!, auxiliary ? (query) => queries.push({ j, query }) : undefined, encoded['keys']) : acc), h),
    ...(auxiliary === 'lookup'
      ? { auxiliaryLoss: ({ inputs: x, p, encoded }: LmHookContext) => ({ loss: lookupLoss(t, p, queries, encoded['tokens']!, x['video.lookupRow']!, x['video.lookupTarget']!, encoded['keys']), metrics: {} }) }
      : {}),
    ...(auxiliary === 'look'
      ? {
          auxiliaryLoss: ({ inputs: x, p, encoded }: LmHookContext) => {
            const r = videoLookLoss(t, p, lookLayers ? queries.filter((q) => lookLayers.includes(q.j)) : queries, encoded['keys'] ?? encoded['tokens']!, x['video.mask']!, x[VIDEO_LOOK_TOKENS]!, x[VIDEO_LOOK_ROWS]!);
            return { loss: r.loss, metrics: { lookMass: r.mass } };
          },
        }
      : {}),
  };
}

/** The whole video model's spec: the video extension (with `auxiliary`, that training loss; `lookLayers` its layers) composed with the (frozen) image adapter's. */
export function videoModelSpec(m: VideoModelConfig, clip: ClipSampling, source: 'frames' | 'tokens', auxiliary?: VideoAuxiliary, lookLayers?: readonly number[]): LmGraphSpec {
  return { config: m.image.text, extension: composeExtensions(videoExtension(m, clip, source, auxiliary, lookLayers), visionExtension(m.image, frameTokens(m.image))) };
}

function declare(g: Graph, specs: readonly ParamSpec[], weights: Readonly<Record<string, { readonly shape: readonly number[]; readonly data?: unknown }>>, what: string): Params {
  return G.declareParams(g, specs, (name, shape) => {
    const w = weights[name];
    if (!w?.data) throw new HerdError('checkpoint_mismatch', `${what}: missing '${name}' (shape [${shape}])`);
    if (w.shape.join() !== shape.join()) throw new HerdError('checkpoint_mismatch', `${what}: '${name}' has shape [${w.shape}], the config needs [${shape}]`);
    return g.param(name, 'f32', shape as number[], { trainable: false, value: w.data as Float32Array });
  });
}

/**
 * Refuses an image checkpoint with inputs beyond pixels as the one frames go through, naming each: place embeddings (the
 * frames' image tokens would need the place inputs, `packPlaces`, fed as the image graph does) and a silhouette stream
 * (each frame's silhouette); the video line feeds neither yet. `what` names the checkpoint (its folder where the caller knows it).
 */
export function checkFrameImage(m: MllamaConfig, what: string): void {
  const unfed = [
    ...((m.placeBins ?? 0) > 0 ? [{ has: `place embeddings (placeBins ${m.placeBins})`, flag: '--place-embeddings' }] : []),
    ...(silhouetteLayersOf(m).length > 0 ? [{ has: 'a silhouette stream (silhouetteLayers)', flag: '--silhouette-stream' }] : []),
  ];
  if (unfed.length > 0) throw new HerdError('invalid_argument', `${what} has ${unfed.map((u) => u.has).join(' and ')}, which the video line does not feed to frames yet: give an image checkpoint without them — the video model's own, packages/video/weights/mini-image (the video commands' default), or one trained by 'herd vision train' without ${unfed.map((u) => u.flag).join(' and ')}`);
}

/**
 * Frame graph for one clip of F frames (frozen image encoder): inputs `pixels` [F, N, 3, T, T] f32,
 * `aspectRatioIds` [F] i32, `tileMask` [F, N] bool; outputs `features` [F, S, D] and the image
 * adapter's `${kvPrefix}xattn.k.{j}` / `${kvPrefix}xattn.v.{j}` [1, K, S, Dh] of the middle frame (the export
 * names them as the decoder inputs of the video model's own image layers, `video.image.`).
 */
export function buildFrameGraph(m: MllamaConfig, vision: VisionWeights, frames: number, kvPrefix = ''): EmittedModel {
  checkFrameImage(m, 'video frame graph: the image checkpoint');
  const g = new Graph();
  const p = declare(g, [...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)], vision, 'vision weights');
  const { maxTiles: N, tileSize: T } = m.vision;
  const S = frameTokens(m);
  const pixels = g.input('pixels', 'f32', [frames, N, 3, T, T]);
  const aspectRatioIds = g.input('aspectRatioIds', 'i32', [frames]);
  const tileMask = g.input('tileMask', 'bool', [frames, N]);
  const features = G.reshape(projectToCore(p, encodeImages(m.vision, p, { pixels, aspectRatioIds, tileMask })), [frames, S, m.text.dim]); // [F, S, D]
  const mid = middleFrame(frames);
  const midTokens = G.slice(features, 0, mid, mid + 1); // [1, S, D]
  const outputs: Record<string, Tensor> = { features };
  m.crossAttentionLayers.forEach((c, j) => {
    const kv = imageKeysValues(m.text, p, c, midTokens);
    outputs[`${kvPrefix}xattn.k.${j}`] = kv.k;
    outputs[`${kvPrefix}xattn.v.${j}`] = kv.v;
  });
  return G.toOnnx(g, { outputs, name: 'video_frames' });
}

/** With the video config's `frameLayout` 'canvas': the graph input `video.aspectRatioId` [batch] i32 and the clips' token places it picks (`canvasPlaces`); else nothing. */
export function clipPlacesInput(g: Graph, m: VideoModelConfig, batch: number): FramePlaces | undefined {
  return m.video.frameLayout === 'canvas' ? canvasPlaces(m.image.vision, g.input(VIDEO_ASPECT_RATIO_ID, 'i32', [batch])) : undefined;
}

/**
 * The aggregator alone (and the motion tokens, `resampler.motionTokens`) for one clip: `video.frames` [1, F, S, D], `video.frameMask` [1, S]
 * (and with `frameLayout` 'canvas' `video.aspectRatioId` [1] i32, the clip's canvas) → `video.tokens` [1, V, D].
 * With the video config's `look` also `video.lookFrames` [1, F, S, D] (the second feature input) → `video.look` [1, E·S, D] (`lookTokens`, no parameters; the decoder maps it).
 */
export function buildVideoTokensGraph(m: VideoModelConfig, clip: ClipSampling, video: VisionWeights): EmittedModel {
  const g = new Graph();
  const p = declare(g, resamplerParamSpecs(m.video.resampler, m.image.text.dim), video, 'video weights');
  const S = frameTokens(m.image);
  const frames = g.input('video.frames', 'f32', [1, clip.frames, S, m.image.text.dim]);
  const frameMask = g.input('video.frameMask', 'bool', [1, S]);
  const at = clipPlacesInput(g, m, 1);
  const look: Record<string, Tensor> = m.video.look ? { 'video.look': lookTokens(g.input('video.lookFrames', 'f32', [1, clip.frames, S, m.image.text.dim]), frameMask, m.image.vision, clip) } : {};
  return G.toOnnx(g, { outputs: { 'video.tokens': videoTokens(m.video.resampler, clip, p, frames, frameMask, m.image.vision, at), ...look }, name: 'video_tokens' });
}

/** The core's incremental decoder with the image adapter and the video adapter attached (fed video tokens). */
export function buildVideoDecoder(m: VideoModelConfig, clip: ClipSampling, core: FrozenWeights, weights: VisionWeights): EmittedModel {
  return buildDecoder(videoModelSpec(m, clip, 'tokens'), { ...core, ...weights });
}
