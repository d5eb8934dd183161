/**
 * The graphs a Llama 3.2 Vision-style model compiles to:
 * - the image graph: tiles → encoder → projector → every cross-attention layer's keys and values,
 *   run once per prompt's images;
 * - the decoder: the frozen core's incremental decoder (`buildDecoder`) with the adapter attached
 *   through its hooks (cross-attention before the scheduled core layers, `<|image|>` embedded from the
 *   adapter's learnable rows), reading the image keys/values and a per-row cross-attention mask as
 *   inputs — so generation reuses them for every token.
 *
 * Legend: I images, N tile slots, P tokens per tile, S = I·N·P image tokens, K kv heads, Dh head dim.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type EmittedModel, Graph, type HostArray, type ParamSpec, type Params, type Tensor } from '@herd/graph';
import { type ForwardHooks, type FrozenWeights, NEW_LEN, buildDecoder, headDim } from '@herd/llama3';
import { type MllamaConfig, coreAttachPoints, patchesPerTile } from '../config.js';
import { crossAttentionLayer, type ImageKv, type PreImageMasking, imageKeysValues, rowsWithImage } from './cross-attention.js';
import { encodeImages, projectToCore } from './encoder.js';
import { adapterParamSpecs, encoderParamSpecs } from './params.js';

/** Host values of the encoder + adapter parameters by name (f32). */
export type VisionWeights = Readonly<Record<string, { readonly shape: readonly number[]; readonly data: HostArray }>>;

export const IMAGE_LEN = 'S';

function declare(g: Graph, specs: readonly ParamSpec[], weights: VisionWeights, trainable: boolean): Params {
  return G.declareParams(g, specs, (name, shape) => {
    const w = weights[name];
    if (!w) throw new HerdError('checkpoint_mismatch', `vision weights: missing '${name}' (shape [${shape}])`);
    if (w.shape.join() !== shape.join()) throw new HerdError('checkpoint_mismatch', `vision weights: '${name}' has shape [${w.shape}], the config needs [${shape}]`);
    return g.param(name, 'f32', shape as number[], { trainable, value: w.data });
  });
}

/**
 * Image graph for I images of one prompt. Inputs: `pixels` [I, N, 3, T, T] f32, `aspectRatioIds` [I]
 * i32, `tileMask` [I, N] bool. Outputs: `xattn.k.{j}` / `xattn.v.{j}` [1, K, S, Dh] per adapter layer j.
 */
export function buildImageGraph(m: MllamaConfig, weights: VisionWeights, nImages: number): EmittedModel {
  const g = new Graph();
  const p = declare(g, [...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)], weights, false);
  const { maxTiles: N, tileSize: T } = m.vision;
  const pixels = g.input('pixels', 'f32', [nImages, N, 3, T, T]);
  const aspectRatioIds = g.input('aspectRatioIds', 'i32', [nImages]);
  const tileMask = g.input('tileMask', 'bool', [nImages, N]);
  const feats = projectToCore(p, encodeImages(m.vision, p, { pixels, aspectRatioIds, tileMask })); // [I, N, P, D]
  const tokens = G.reshape(feats, [1, nImages * N * patchesPerTile(m.vision), m.text.dim]); // [1, S, D]
  const outputs: Record<string, Tensor> = {};
  m.crossAttentionLayers.forEach((c, j) => {
    const kv = imageKeysValues(m.text, p, c, tokens);
    outputs[`xattn.k.${j}`] = kv.k;
    outputs[`xattn.v.${j}`] = kv.v;
  });
  return G.toOnnx(g, { outputs, name: 'vision_image_kv' });
}

/** Adapter hooks for the core's forward: declared into the graph by `declareInputs`, then used by `hooks`. */
export function adapterHooks(m: MllamaConfig, weights: VisionWeights, masking: PreImageMasking = 'meta'): { declareInputs: (g: Graph) => void; hooks: ForwardHooks } {
  const attach = coreAttachPoints(m.crossAttentionLayers);
  const dh = headDim(m.text);
  let state: { p: Params; kv: ImageKv[]; mask: Tensor; rows: Tensor } | undefined;
  const declareInputs = (g: Graph): void => {
    const p = declare(g, adapterParamSpecs(m).filter((s) => !s.name.startsWith('multi_modal_projector')), weights, false);
    const kv = m.crossAttentionLayers.map((_, j) => ({
      k: g.input(`xattn.k.${j}`, 'f32', ['B', m.text.nKvHeads, IMAGE_LEN, dh]),
      v: g.input(`xattn.v.${j}`, 'f32', ['B', m.text.nKvHeads, IMAGE_LEN, dh]),
    }));
    const mask = g.input('xattn.mask', 'bool', ['B', 1, NEW_LEN, IMAGE_LEN]);
    state = { p, kv, mask, rows: rowsWithImage(mask) };
  };
  const need = (): NonNullable<typeof state> => {
    if (!state) throw new HerdError('invalid_argument', 'vision adapter hooks used before declareInputs(graph)');
    return state;
  };
  const V = m.text.vocabSize;
  const hooks: ForwardHooks = {
    beforeLayer: (i, h) => {
      const j = attach.indexOf(i);
      if (j < 0) return h;
      const s = need();
      return crossAttentionLayer(m.text, s.p, m.crossAttentionLayers[j]!, h, s.kv[j]!, s.mask, s.rows, masking);
    },
    // ids ≥ V (the image token) come from the adapter's learnable rows, the rest from the frozen table.
    embedTokens: (tokens, core) => {
      const s = need();
      const extra = G.logicalNot(G.less(tokens, V)); // [B, T]
      const coreRows = G.gather(core('model.embed_tokens.weight'), G.where(extra, 0, tokens));
      const extraRows = G.gather(s.p('learnable_embedding.weight'), G.where(extra, G.sub(tokens, V), 0));
      return G.where(G.unsqueeze(extra, -1), extraRows, coreRows); // [B, T, D]
    },
  };
  return { declareInputs, hooks };
}

/**
 * The core's incremental decoder with the adapter attached. Extra inputs: `xattn.k.{j}`/`xattn.v.{j}`
 * [B, K, S, Dh] (from the image graph) and `xattn.mask` [B, 1, T, S] bool (rows of
 * `crossAttentionMaskRows` for the positions being computed).
 */
export function buildVisionDecoder(m: MllamaConfig, core: FrozenWeights, weights: VisionWeights, masking: PreImageMasking = 'meta'): EmittedModel {
  const { declareInputs, hooks } = adapterHooks(m, weights, masking);
  return buildDecoder(m.text, core, hooks, declareInputs);
}
