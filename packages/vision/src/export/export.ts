/**
 * The vision part of an export (llama3's `ExportModality`): the image encoder as its own graph (one
 * image → every adapter layer's keys/values, computed once per image), and the cross-attention
 * adapter inside the decoder with the image-token count S left symbolic, so one decoder answers
 * text-only turns (S = 1, a zero key every row masks out) and any number of images (their keys and
 * values concatenated along S). The recipe says how to preprocess and feed, for runtimes without herd.
 *
 * Legend: N tile slots, P tokens per tile, S image tokens, K kv heads, Dh head dim.
 */
import { type ExportModality, headDim } from '@herd/llama3';
import { type MllamaConfig, patchesPerTile, placeBinsOf } from '../config.js';
import { type VisionWeights, buildImageGraph, visionExtension } from '../model/graphs.js';
import { adapterParamSpecs, isPlaceParam } from '../model/params.js';

export function visionExportModality(m: MllamaConfig, weights: VisionWeights): ExportModality {
  const P = patchesPerTile(m.vision);
  const N = m.vision.maxTiles;
  const adapterNames = new Set(adapterParamSpecs(m).filter((s) => !isPlaceParam(s.name)).map((s) => s.name)); // the place tables live in the image graph only
  const placeBins = placeBinsOf(m);
  return {
    name: 'vision',
    extension: visionExtension(m, 'S'),
    weights: Object.fromEntries(Object.entries(weights).filter(([n]) => adapterNames.has(n))),
    graphs: { encoder: buildImageGraph(m, weights, 1) },
    recipe: {
      imageTokenId: m.imageTokenId,
      adapterLayers: m.crossAttentionLayers.length,
      kvHeads: m.text.nKvHeads,
      headDim: headDim(m.text),
      maxTiles: N,
      tokensPerTile: P,
      tokensPerImage: N * P,
      preprocess: {
        tileSize: m.vision.tileSize,
        supportedAspectRatios: m.vision.supportedAspectRatios,
        imageMean: m.vision.imageMean,
        imageStd: m.vision.imageStd,
        text: [
          'Decode to 8-bit RGB. Canvas: for each [rows, cols] in supportedAspectRatios the scale min(cols·tileSize/width, rows·tileSize/height); the smallest scale ≥ 1 if any, else the largest; ties: the smallest rows·cols, first in the list. aspectRatioId = its 1-based index.',
          'Resize without distortion (each side clamped to [tileSize, canvas side]; the side needing the smaller scale sets it, the other is floored) with Pillow\'s antialiased BILINEAR filter.',
          'Pad bottom/right with black, scale to [0, 1], subtract imageMean and divide by imageStd per channel, cut into row-major tiles: pixels [1, maxTiles, 3, tileSize, tileSize], real tiles first, the rest hold the normalised black; tileMask [1, maxTiles] true for real tiles.',
          ...(placeBins > 0 ? [`Place inputs (placeBins = ${placeBins}): placeRow / placeCol [1, maxTiles, tokensPerTile] int32. Token 0 of each tile (the class token), absent tiles and patches whose centre lies in the padding get -1. For patch (r, c) of tile t (canvas row t div cols, column t mod cols) with centre x = tileCol·tileSize + c·patchSize + patchSize/2, y likewise over rows, inside the resized width W and height H: placeRow = min(placeBins − 1, floor(placeBins·y / H)), placeCol = min(placeBins − 1, floor(placeBins·x / W)); token index 1 + r·(tileSize/patchSize) + c.`] : []),
        ],
        ...(placeBins > 0 ? { placeBins, patchSize: m.vision.patchSize } : {}),
      },
      decoderInputs: {
        keys: 'xattn.k.{adapterLayer}',
        values: 'xattn.v.{adapterLayer}',
        mask: 'xattn.mask',
        learnableIds: 'learnableIds',
        text: [
          'Prompt: a user turn with an image starts with imageTokenId (model id, past the core vocabulary), then its text. Feed tokens with every id ≥ core vocab replaced by 0, and learnableIds [1, T] int32 = id − vocab for those positions, −1 elsewhere.',
          'Run the encoder once per image: outputs xattn.k/v.{adapterLayer} [1, K, tokensPerImage, Dh]. Concatenate the images\' keys/values along axis 2 in prompt order: S = images × tokensPerImage. With no image: S = 1, zeros.',
          'xattn.mask [1, 1, T, S] bool for the rows fed now (absolute positions P .. P+T-1): each imageTokenId opens an interval up to the next one (the last to the end, generated tokens included; consecutive image tokens all extend to the end of the last one\'s interval); a row inside image j\'s interval may attend keys j·tokensPerImage .. j·tokensPerImage + nTiles_j·tokensPerTile − 1. Rows before the first image attend nothing (the adapter then leaves them unchanged). No image: all false.',
        ],
      },
      // No image in the prompt: S = 1 zero keys/values, every row masked, no learnable ids.
      idle: {
        ...Object.fromEntries(m.crossAttentionLayers.flatMap((_, j) => [[`xattn.k.${j}`, 0], [`xattn.v.${j}`, 0]])),
        'xattn.mask': false,
        learnableIds: -1,
      },
    },
  };
}
