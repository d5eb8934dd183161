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
import { type MllamaConfig, patchesPerTile, placeBinsOf, silhouetteLayersOf } from '../config.js';
import { INK_DIFF } from '../data/ink.js';
import { type VisionWeights, buildImageGraph, visionExtension } from '../model/graphs.js';
import { adapterParamSpecs, isPlaceParam } from '../model/params.js';

/**
 * How to feed one set of image cross-attention layers in an export's decoder (the part of a recipe
 * every modality that carries such a set shares: the vision modality's own, and the video modality's
 * — the layers of the image model it was trained on, under `prefix` 'video.image.'): the slot shape,
 * the preprocessing of an image it reads, the decoder inputs it takes and their idle values.
 * `prefix` names those inputs (`${prefix}xattn.k.{adapterLayer}` …) so two sets sit in one decoder;
 * `serves` records which `<|image|>` slots the set reads (the prompt's images, or its clips' middle
 * frames), `source` which checkpoint its layers are (the sha256 of its weights file), when known.
 */
export function imageLayersRecipe(m: MllamaConfig, prefix = '', serves: 'images' | 'clips' = 'images', source?: ImageLayersSource): Record<string, unknown> & { readonly idle: Readonly<Record<string, number | boolean>> } {
  const P = patchesPerTile(m.vision);
  const N = m.vision.maxTiles;
  const placeBins = placeBinsOf(m);
  const silhouette = silhouetteLayersOf(m).length > 0;
  return {
    serves,
    ...(source ? { source } : {}),
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
        ...(silhouette ? [`Silhouette (silhouette = true; the checkpoint's silhouette stream, its cross-attention layers ${JSON.stringify(silhouetteLayersOf(m).map((c) => m.crossAttentionLayers.indexOf(c)))} by adapter layer, read it): silhouettePixels, shaped and laid out as pixels, is the same tiled image repainted. Over the resized image (width × height, not the padding), with v the 0–255 value of a channel (the normalised pixel times imageStd plus imageMean, times 255): the background is the most common colour at 16 levels per channel (min(15, floor(v / 16))), taken as the mean colour of the pixels at that level; a pixel is ink when some channel differs from the background by more than ${INK_DIFF}. Ink pixels become black (0, 0, 0), all others white (1, 1, 1), normalised with imageMean / imageStd; the padding and absent tiles keep their values.`] : []),
        ...(placeBins > 0 ? [`Place inputs (placeBins = ${placeBins}): placeRow / placeCol [1, maxTiles, tokensPerTile] int32. Token 0 of each tile (the class token), absent tiles and patches whose centre lies in the padding get -1. For patch (r, c) of tile t (canvas row t div cols, column t mod cols) with centre x = tileCol·tileSize + c·patchSize + patchSize/2, y likewise over rows, inside the resized width W and height H: placeRow = min(placeBins − 1, floor(placeBins·y / H)), placeCol = min(placeBins − 1, floor(placeBins·x / W)); token index 1 + r·(tileSize/patchSize) + c.`] : []),
      ],
      ...(placeBins > 0 ? { placeBins, patchSize: m.vision.patchSize } : {}),
      ...(silhouette ? { silhouette: true } : {}),
    },
    decoderInputs: {
      keys: `${prefix}xattn.k.{adapterLayer}`,
      values: `${prefix}xattn.v.{adapterLayer}`,
      mask: `${prefix}xattn.mask`,
      learnableIds: `${prefix}learnableIds`,
      text: [
        `Prompt: a user turn with an image starts with imageTokenId (model id, past the core vocabulary), then its text. Feed tokens with every id ≥ core vocab replaced by 0, and ${prefix}learnableIds [1, T] int32 = id − vocab at the positions of this set's <|image|> tokens, −1 elsewhere.`,
        `Keys/values [1, K, tokensPerImage, Dh] per image of this set (its graph's ${prefix}xattn.k/v.{adapterLayer} outputs): concatenate them along axis 2 in prompt order: S = images × tokensPerImage. With no image: S = 1, zeros.`,
        `${prefix}xattn.mask [1, 1, T, S] bool for the rows fed now (absolute positions P .. P+T-1): each imageTokenId of the prompt (of any set) opens an interval up to the next one (the last to the end, generated tokens included; consecutive image tokens all extend to the end of the last one's interval); a row inside the interval of this set's image j may attend keys j·tokensPerImage .. j·tokensPerImage + nTiles_j·tokensPerTile − 1. Rows before the first image attend nothing (the layers then leave them unchanged). No image: all false.`,
      ],
    },
    // No image of this set in the prompt: S = 1 zero keys/values, every row masked, no learnable ids.
    idle: {
      ...Object.fromEntries(m.crossAttentionLayers.flatMap((_, j) => [[`${prefix}xattn.k.${j}`, 0], [`${prefix}xattn.v.${j}`, 0]])),
      [`${prefix}xattn.mask`]: false,
      [`${prefix}learnableIds`]: -1,
    },
  };
}

/** Which image checkpoint a set of image layers comes from: the sha256 of its weights file (`vision.safetensors`). */
export interface ImageLayersSource {
  readonly weightsSha256: string;
}

/** `source`: the checkpoint these layers come from, recorded in the recipe when given. */
export function visionExportModality(m: MllamaConfig, weights: VisionWeights, source?: ImageLayersSource): ExportModality {
  const adapterNames = new Set(adapterParamSpecs(m).filter((s) => !isPlaceParam(s.name)).map((s) => s.name)); // the place tables live in the image graph only
  return {
    name: 'vision',
    extension: visionExtension(m, 'S'),
    weights: Object.fromEntries(Object.entries(weights).filter(([n]) => adapterNames.has(n))),
    graphs: { encoder: buildImageGraph(m, weights, 1) },
    recipe: imageLayersRecipe(m, '', 'images', source),
  };
}
