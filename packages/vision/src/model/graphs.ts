/**
 * The graphs a Llama 3.2 Vision-style model compiles to:
 * - the image graph: tiles → encoder → projector → every cross-attention layer's keys and values,
 *   run once per prompt's images;
 * - the decoder: the frozen core's incremental decoder (`buildDecoder`) with the adapter attached as
 *   an `LmExtension` (cross-attention before the scheduled core layers, `<|image|>` embedded from the
 *   adapter's learnable rows), reading the image keys/values and a per-row cross-attention mask as
 *   inputs — so generation reuses them for every token.
 *
 * With a silhouette stream (`MllamaConfig.silhouetteLayers`) the encoder also runs on the images' silhouettes
 * (`silhouettePixels`, `inkSilhouette` of each image) through the silhouette projector, and those layers read
 * its tokens; training can then shut one stream for a sequence (`xattn.open.*`).
 *
 * Legend: I images, N tile slots, P tokens per tile, S = I·N·P image tokens, K kv heads, Dh head dim.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type EmittedModel, Graph, type HostArray, type ParamSpec, type Params, type Tensor } from '@herd/graph';
import { type FrozenWeights, type LmExtension, type LmHookContext, type LmInputDecl, buildDecoder, headDim } from '@herd/llama3';
import { type MllamaConfig, coreAttachPoints, patchesPerTile, placeBinsOf, silhouetteLayersOf, visionOutputDim } from '../config.js';
import { crossAttentionLayer, type PreImageMasking, imageKeysValues, rowsWithImage } from './cross-attention.js';
import { encodeImages, projectToCore } from './encoder.js';
import { LOOK_ROWS, LOOK_TOKENS, type LayerLook, lookLoss } from './look.js';
import { IMAGE_PROJECTOR, SILHOUETTE_PROJECTOR, adapterParamSpecs, encoderParamSpecs, isPlaceParam, isProjectorParam } from './params.js';
import { addPlaceEmbeddings } from './place.js';

/** Host values of the encoder + adapter parameters by name (f32). */
export type VisionWeights = Readonly<Record<string, { readonly shape: readonly number[]; readonly data: HostArray }>>;

function declare(g: Graph, specs: readonly ParamSpec[], weights: VisionWeights, trainable: boolean): Params {
  return G.declareParams(g, specs, (name, shape) => {
    const w = weights[name];
    if (!w) throw new HerdError('checkpoint_mismatch', `vision weights: missing '${name}' (shape [${shape}])`);
    if (w.shape.join() !== shape.join()) throw new HerdError('checkpoint_mismatch', `vision weights: '${name}' has shape [${w.shape}], the config needs [${shape}]`);
    return g.param(name, 'f32', shape as number[], { trainable, value: w.data });
  });
}

/**
 * Where a graph's image tokens come from: 'pixels' — the encoder runs on the tiles (every real model);
 * 'features' — the encoder's output is an input, `features` [I, N, P, Dv] (`TiledImage.features`, the
 * vision oracle's ground-truth codes), and the encoder is not in the graph.
 */
export type ImageSource = 'pixels' | 'features';

/**
 * Image graph for I images of one prompt. Inputs: `pixels` [I, N, 3, T, T] f32, `aspectRatioIds` [I]
 * i32, `tileMask` [I, N] bool (source 'pixels'), or `features` [I, N, P, Dv] f32 (source 'features').
 * With place embeddings (`placeBins` > 0) also `placeRow` / `placeCol` [I, N, P] i32 (`packPlaces`).
 * Outputs: `xattn.k.{j}` / `xattn.v.{j}` [1, K, S, Dh] per adapter layer j.
 */
export function buildImageGraph(m: MllamaConfig, weights: VisionWeights, nImages: number, source: ImageSource = 'pixels'): EmittedModel {
  const g = new Graph();
  checkSilhouetteSource(m, source);
  const p = declare(g, [...(source === 'pixels' ? encoderParamSpecs(m.vision) : []), ...adapterParamSpecs(m)], weights, false);
  const { maxTiles: N, tileSize: T } = m.vision;
  const P = patchesPerTile(m.vision);
  // Inputs in the order of the graphs before the silhouette stream (pixels, aspectRatioIds, tileMask | features; places), its own last.
  const pixels = source === 'pixels' ? g.input('pixels', 'f32', [nImages, N, 3, T, T]) : undefined;
  const tiles = pixels ? { aspectRatioIds: g.input('aspectRatioIds', 'i32', [nImages]), tileMask: g.input('tileMask', 'bool', [nImages, N]) } : undefined;
  const image = pixels ? encodeImages(m.vision, p, { pixels, ...tiles! }) : g.input('features', 'f32', [nImages, N, P, visionOutputDim(m.vision)]);
  const places = placeBinsOf(m) > 0 ? { row: g.input('placeRow', 'i32', [nImages, N, P]), col: g.input('placeCol', 'i32', [nImages, N, P]) } : undefined;
  const encoded = { image, ...(silhouetteLayersOf(m).length > 0 ? { silhouette: encodeImages(m.vision, p, { pixels: g.input('silhouettePixels', 'f32', [nImages, N, 3, T, T]), ...tiles! }) } : {}) };
  return G.toOnnx(g, { outputs: crossKeysValues(m, p, encoded, places, (t) => G.reshape(t, [1, nImages * N * P, m.text.dim])), name: 'vision_image_kv' });
}

/** A model with a silhouette stream reads pixels (its silhouettes are made from them): given features are refused. */
function checkSilhouetteSource(m: MllamaConfig, source: ImageSource): void {
  if (source === 'features' && silhouetteLayersOf(m).length > 0) throw new HerdError('invalid_argument', 'a vision model with a silhouette stream (silhouetteLayers) reads pixels: its silhouettes are made from them; given encoder features are not supported');
}

/** Encoder outputs [.., N, P, Dv] of the views a model reads: the image's, and with a silhouette stream its silhouette's. */
interface EncodedViews {
  readonly image: Tensor;
  readonly silhouette?: Tensor;
}

/**
 * Every cross-attention layer's keys and values (`xattn.k.{j}` / `xattn.v.{j}`): each view projected to the core's
 * width by its projector, place embeddings added, flattened to tokens by `flat` ([.., N, P, D] → [B, S, D]); a
 * silhouette layer reads the silhouette's tokens, every other layer the image's.
 */
function crossKeysValues(m: MllamaConfig, p: Params, encoded: EncodedViews, places: { row: Tensor; col: Tensor } | undefined, flat: (t: Tensor) => Tensor): Record<string, Tensor> {
  const tokensOf = (features: Tensor, projector: string) => {
    const projected = projectToCore(p, features, projector); // [.., N, P, D]
    return flat(places ? addPlaceEmbeddings(p, projected, places.row, places.col) : projected);
  };
  const image = tokensOf(encoded.image, IMAGE_PROJECTOR);
  const silhouette = encoded.silhouette ? tokensOf(encoded.silhouette, SILHOUETTE_PROJECTOR) : undefined;
  const sil = silhouetteLayersOf(m);
  const out: Record<string, Tensor> = {};
  m.crossAttentionLayers.forEach((c, j) => {
    const kv = imageKeysValues(m.text, p, c, sil.includes(c) ? silhouette! : image);
    out[`xattn.k.${j}`] = kv.k;
    out[`xattn.v.${j}`] = kv.v;
  });
  return out;
}

/** The streams of cross-attention layers, each shut or open per sequence in training (`xattn.open.{stream}` [B] f32, 1 = open). */
export const VISION_STREAMS = ['image', 'silhouette'] as const;
export type VisionStream = (typeof VISION_STREAMS)[number];

/** The stream a cross-attention layer (stack index c) belongs to. */
export function streamOf(m: MllamaConfig, c: number): VisionStream {
  return silhouetteLayersOf(m).includes(c) ? 'silhouette' : 'image';
}

/**
 * The cross-attention layers that run before core layer i, in stack order (with a silhouette stream two share each
 * attach point: the image's, then the silhouette's). With `open`, a layer's step h → out becomes h + o·(out − h), o its
 * stream's value for the sequence ([B]): 1 leaves it as it is, 0 shuts the layer for that sequence (it adds nothing and
 * gets no gradient from it).
 */
function crossLayersAt(m: MllamaConfig, i: number, h: Tensor, x: Readonly<Record<string, Tensor>>, p: Params, rows: Tensor, masking: PreImageMasking, open?: (s: VisionStream) => Tensor, looks?: LayerLook[]): Tensor {
  const attach = coreAttachPoints(m.crossAttentionLayers);
  m.crossAttentionLayers.forEach((c, j) => {
    if (attach[j] !== i) return;
    const [k, mask] = [x[`xattn.k.${j}`]!, x['xattn.mask']!];
    const out = crossAttentionLayer(m.text, p, c, h, { k, v: x[`xattn.v.${j}`]! }, mask, rows, masking, looks ? (q) => looks.push({ q, k, mask }) : undefined);
    if (!open) {
      h = out;
      return;
    }
    const o = G.unsqueeze(G.unsqueeze(open(streamOf(m, c)), -1), -1); // [B, 1, 1]
    h = G.add(h, G.mul(G.sub(out, h), o));
  });
  return h;
}

/** Name of the adapter's parameter group (cross-attention layers + learnable token rows). */
export const ADAPTER_GROUP = 'vision.adapter';

/**
 * The adapter as an extension of the core's graphs (llama3's `LmExtension`): its parameter group,
 * its inputs and its hooks. Inputs: `xattn.k.{j}` / `xattn.v.{j}` [B, K, S, Dh] (from the image graph),
 * `xattn.mask` [B, 1, T, S] bool (rows of `crossAttentionMaskRows`), and `learnableIds` [B, T] i32
 * (id − vocab for ids past the core's vocabulary such as `<|image|>`, else −1; the `tokens` fed to the
 * core hold a valid id, e.g. 0, at those positions, so the frozen table is never indexed past its end).
 * S is static (one decoder per image-token count) or a symbolic dim's name, e.g. 'S' (one decoder for any count, as exported).
 */
export function visionExtension(m: MllamaConfig, imageTokens: number | string, masking: PreImageMasking = 'meta'): LmExtension {
  const dh = headDim(m.text);
  const K = m.text.nKvHeads;
  const inputs: Record<string, LmInputDecl> = { 'xattn.mask': { dtype: 'bool', shape: ['B', 1, 'T', imageTokens] }, learnableIds: { dtype: 'i32', shape: ['B', 'T'] } };
  m.crossAttentionLayers.forEach((_, j) => {
    inputs[`xattn.k.${j}`] = { dtype: 'f32', shape: ['B', K, imageTokens, dh] };
    inputs[`xattn.v.${j}`] = { dtype: 'f32', shape: ['B', K, imageTokens, dh] };
  });
  return {
    groups: [{ name: ADAPTER_GROUP, specs: adapterParamSpecs(m).filter((s) => !isProjectorParam(s.name) && !isPlaceParam(s.name)) }],
    inputs,
    encode: ({ inputs: x }) => ({ rows: rowsWithImage(x['xattn.mask']!) }),
    // Ids past the vocabulary (the image token) come from the adapter's learnable rows (Meta's
    // `learnable_embedding`), the rest from the frozen table.
    embed: (h, { inputs: x, p }) => {
      const ids = x['learnableIds']!;
      const extra = G.logicalNot(G.less(ids, 0)); // [B, T]
      const rows = G.gather(p('learnable_embedding.weight'), G.where(extra, ids, 0)); // [B, T, D]
      return G.where(G.unsqueeze(extra, -1), rows, h);
    },
    beforeLayer: (i, h, { inputs: x, p, encoded }) => crossLayersAt(m, i, h, x, p, encoded['rows']!, masking),
  };
}

/** Name of the encoder's parameter group (the ViT up to its global layers): trained with the adapter (§7.3: "the encoder is not frozen"). */
export const ENCODER_GROUP = 'vision.encoder';
/** The encoder's gated global layers (`global_transformer.*`), a group of their own so they can train while the rest of the ViT stays frozen. */
export const ENCODER_GLOBAL_GROUP = 'vision.encoder.global';
/** The whole encoder's groups: list them all to train the ViT. */
export const ENCODER_GROUPS = [ENCODER_GROUP, ENCODER_GLOBAL_GROUP] as const;
const isGlobalLayer = (name: string) => name.includes('.global_transformer.');
/** Name of the projector's parameter group (`multi_modal_projector.*`, and `silhouette_projector.*` with a silhouette stream; ViT features → the core's width): trainable apart from the ViT. */
export const PROJECTOR_GROUP = 'vision.projector';
/** Name of the place embeddings' group (`vision_place.*`, `MllamaConfig.placeBins`; empty without them): trains with the adapter. */
export const PLACE_GROUP = 'vision.place';

/**
 * The adapter with the image encoder inside the graph, for training (one image per sequence): the
 * encoder runs on `pixels` ['B', N, 3, T, T], `aspectRatioIds` ['B'], `tileMask` ['B', N] and each
 * sequence's cross-attention layers read its own image. With source 'features' the encoder's output
 * is the input `features` ['B', N, P, Dv] instead (the vision oracle) and the encoder group is empty.
 * With place embeddings also `placeRow` / `placeCol` ['B', N, P] i32. With a silhouette stream also
 * `silhouettePixels` ['B', N, 3, T, T] and `xattn.open.image` / `xattn.open.silhouette` ['B'] f32: whether each
 * stream's layers act on each sequence (1) or are shut for it (0: they add nothing and get no gradient from it). With `look`
 * also `xattn.look.tokens` ['B', S] and `xattn.look.rows` ['B', 'T'] f32 and the look loss as the auxiliary loss (`lookLoss`,
 * metric `lookMass`; training only). Other inputs as `visionExtension`.
 */
export function visionTrainingExtension(m: MllamaConfig, masking: PreImageMasking = 'meta', source: ImageSource = 'pixels', look = false): LmExtension {
  checkSilhouetteSource(m, source);
  const { maxTiles: N, tileSize: T } = m.vision;
  const P = patchesPerTile(m.vision);
  const S = N * P;
  const base = visionExtension(m, S, masking);
  const adapterSpecs = adapterParamSpecs(m);
  const streams = silhouetteLayersOf(m).length > 0;
  const imageInputs: Record<string, LmInputDecl> = source === 'pixels'
    ? { pixels: { dtype: 'f32', shape: ['B', N, 3, T, T] }, aspectRatioIds: { dtype: 'i32', shape: ['B'] }, tileMask: { dtype: 'bool', shape: ['B', N] } }
    : { features: { dtype: 'f32', shape: ['B', N, P, visionOutputDim(m.vision)] } };
  const inputs: Record<string, LmInputDecl> = {
    'xattn.mask': { dtype: 'bool', shape: ['B', 1, 'T', S] },
    learnableIds: { dtype: 'i32', shape: ['B', 'T'] },
    ...imageInputs,
    ...(placeBinsOf(m) > 0 ? { placeRow: { dtype: 'i32', shape: ['B', N, P] }, placeCol: { dtype: 'i32', shape: ['B', N, P] } } : {}),
    ...(streams ? { silhouettePixels: { dtype: 'f32', shape: ['B', N, 3, T, T] }, ...Object.fromEntries(VISION_STREAMS.map((s) => [`xattn.open.${s}`, { dtype: 'f32', shape: ['B'] } as LmInputDecl])) } : {}),
    ...(look ? { [LOOK_TOKENS]: { dtype: 'f32', shape: ['B', S] }, [LOOK_ROWS]: { dtype: 'f32', shape: ['B', 'T'] } } : {}),
  };
  // Every cross-attention layer's queries and keys of the graph being built, for the look loss (the builder runs
  // the layers, then asks for the auxiliary loss).
  let looks: LayerLook[] = [];
  return {
    groups: [
      { name: ENCODER_GROUP, specs: source === 'pixels' ? encoderParamSpecs(m.vision).filter((s) => !isGlobalLayer(s.name)) : [] },
      { name: ENCODER_GLOBAL_GROUP, specs: source === 'pixels' ? encoderParamSpecs(m.vision).filter((s) => isGlobalLayer(s.name)) : [] },
      { name: PROJECTOR_GROUP, specs: adapterSpecs.filter((s) => isProjectorParam(s.name)) },
      { name: PLACE_GROUP, specs: adapterSpecs.filter((s) => isPlaceParam(s.name)) },
      { name: ADAPTER_GROUP, specs: adapterSpecs.filter((s) => !isProjectorParam(s.name) && !isPlaceParam(s.name)) },
    ],
    inputs,
    encode: ({ inputs: x, p }) => {
      const encode = (name: string) => encodeImages(m.vision, p, { pixels: x[name]!, aspectRatioIds: x['aspectRatioIds']!, tileMask: x['tileMask']! });
      const encoded = { image: source === 'pixels' ? encode('pixels') : x['features']!, ...(streams ? { silhouette: encode('silhouettePixels') } : {}) };
      const places = placeBinsOf(m) > 0 ? { row: x['placeRow']!, col: x['placeCol']! } : undefined;
      const [b] = encoded.image.shape;
      const kv = crossKeysValues(m, p, encoded, places, (t) => G.reshape(t, [b!, S, m.text.dim])); // [B, S, D]: each sequence its own image
      looks = [];
      return { rows: rowsWithImage(x['xattn.mask']!), ...kv };
    },
    embed: base.embed!,
    beforeLayer: (i, h, { inputs: x, p, encoded }) => crossLayersAt(m, i, h, { ...x, ...encoded }, p, encoded['rows']!, masking, streams ? (s) => x[`xattn.open.${s}`]! : undefined, look ? looks : undefined),
    ...(look
      ? {
          auxiliaryLoss: ({ inputs: x }: LmHookContext) => {
            const { loss, mass } = lookLoss(looks, x[LOOK_TOKENS]!, x[LOOK_ROWS]!);
            return { loss, metrics: { lookMass: mass } };
          },
        }
      : {}),
  };
}

/** The core's incremental decoder (llama3 `buildDecoder`) with the adapter attached, for S image tokens. */
export function buildVisionDecoder(m: MllamaConfig, core: FrozenWeights, weights: VisionWeights, imageTokens: number, masking: PreImageMasking = 'meta'): EmittedModel {
  return buildDecoder({ config: m.text, extension: visionExtension(m, imageTokens, masking) }, { ...core, ...weights });
}
