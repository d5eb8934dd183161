/**
 * The one config of the image side: the ViT image encoder (§7.2 of the paper; Meta's
 * `VisionEncoder`, HF `MllamaVisionConfig`) and the cross-attention adapter's placement (§7.3).
 * Field names are camel-cased HF/Meta names; `parseVisionConfig` rejects unknown keys and checks
 * every invariant at once.
 */
import { HerdError, ProblemList, isRecord } from '@herd/core';

export interface VisionConfig {
  /** Side of one square tile in pixels (336 in the paper, 560 in Llama 3.2 Vision). */
  readonly tileSize: number;
  /** ViT patch side (14: "ViT-H/14"). */
  readonly patchSize: number;
  /** Encoder width. */
  readonly dim: number;
  /** Local (ungated) encoder layers. */
  readonly nLayers: number;
  /** §7.2: gated global layers added on top before adapter training (8 in the paper). */
  readonly nGlobalLayers: number;
  readonly nHeads: number;
  readonly ffnDim: number;
  readonly normEps: number;
  /** Inputs of these local layers are kept as multi-layer features (Meta: [3, 7, 15, 23, 30]). */
  readonly intermediateLayers: readonly number[];
  /**
   * Which state of those layers is kept: Meta's reference keeps each listed layer's INPUT (so [3, 7,
   * 15, 23, 30] are the paper's "outputs of layers 4, 8, 16, 24, 31"); transformers 5.17 keeps each
   * listed layer's OUTPUT (measured on the mllama-tiny fixture — an off-by-one against Meta). Default
   * 'layerInput'.
   */
  readonly intermediateTap: 'layerInput' | 'layerOutput';
  /** Most tiles an image is split into. */
  readonly maxTiles: number;
  /**
   * Tile arrangements as [rows, cols], in the order whose 1-based index is the aspect-ratio id
   * (HF's `get_all_supported_aspect_ratios` order for maxTiles).
   */
  readonly supportedAspectRatios: readonly (readonly [number, number])[];
  /** Per-channel normalisation (CLIP's for Llama 3.2 Vision). */
  readonly imageMean: readonly [number, number, number];
  readonly imageStd: readonly [number, number, number];
}

/** CLIP's normalisation statistics (OpenAI CLIP; Llama 3.2 Vision's preprocessor). */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

const KEYS = [
  'tileSize', 'patchSize', 'dim', 'nLayers', 'nGlobalLayers', 'nHeads', 'ffnDim', 'normEps',
  'intermediateLayers', 'intermediateTap', 'maxTiles', 'supportedAspectRatios', 'imageMean', 'imageStd',
] as const satisfies readonly (keyof VisionConfig)[];

/**
 * Every [rows, cols] with rows·cols ≤ maxTiles, rows-major — the order of HF's
 * `get_all_supported_aspect_ratios` (whose tuples are read as (height, width) by the canvas choice
 * and the id conversion), so our ids are HF's ids.
 */
export function supportedAspectRatios(maxTiles: number): [number, number][] {
  const out: [number, number][] = [];
  for (let r = 1; r <= maxTiles; r++) for (let c = 1; c <= maxTiles; c++) if (r * c <= maxTiles) out.push([r, c]);
  return out;
}

/** Patches per tile plus the class token. */
export function patchesPerTile(cfg: Pick<VisionConfig, 'tileSize' | 'patchSize'>): number {
  return (cfg.tileSize / cfg.patchSize) ** 2 + 1;
}

/** Width of the encoder's output per token: the last layer plus every intermediate layer. */
export function visionOutputDim(cfg: VisionConfig): number {
  return cfg.dim * (1 + cfg.intermediateLayers.length);
}

export function parseVisionConfig(obj: unknown): VisionConfig {
  if (!isRecord(obj)) throw new HerdError('invalid_config', `vision config must be an object, got ${JSON.stringify(obj)}`);
  const unknown = Object.keys(obj).filter((k) => !(KEYS as readonly string[]).includes(k));
  if (unknown.length) throw new HerdError('unknown_config_key', `unknown key(s) in vision config: ${unknown.join(', ')}; valid keys: ${KEYS.join(', ')}`);
  const p = new ProblemList();
  const int = (k: string, min = 1): number => {
    const v = obj[k];
    if (!Number.isSafeInteger(v) || (v as number) < min) p.add(`${k} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const tileSize = int('tileSize');
  const patchSize = int('patchSize');
  const dim = int('dim');
  const nLayers = int('nLayers');
  const nGlobalLayers = int('nGlobalLayers', 0);
  const nHeads = int('nHeads');
  const ffnDim = int('ffnDim');
  const maxTiles = int('maxTiles');
  const normEps = obj['normEps'] ?? 1e-5;
  if (typeof normEps !== 'number' || !(normEps > 0)) p.add(`normEps must be a positive number, got ${JSON.stringify(normEps)}`);
  if (tileSize % patchSize !== 0) p.add(`tileSize ${tileSize} must be a multiple of patchSize ${patchSize}`);
  if (dim % nHeads !== 0) p.add(`dim ${dim} must be a multiple of nHeads ${nHeads}`);
  const inter = obj['intermediateLayers'] ?? [];
  if (!Array.isArray(inter) || inter.some((i) => !Number.isSafeInteger(i) || i < 0 || i >= nLayers)) {
    p.add(`intermediateLayers must be layer indices in [0, ${nLayers}), got ${JSON.stringify(inter)}`);
  }
  const intermediateTap = obj['intermediateTap'] ?? 'layerInput';
  if (intermediateTap !== 'layerInput' && intermediateTap !== 'layerOutput') p.add(`intermediateTap must be 'layerInput' or 'layerOutput', got ${JSON.stringify(intermediateTap)}`);
  const ars = obj['supportedAspectRatios'] ?? supportedAspectRatios(maxTiles);
  if (!Array.isArray(ars) || ars.some((a) => !Array.isArray(a) || a.length !== 2 || a[0] * a[1] > maxTiles || !(a[0] >= 1 && a[1] >= 1))) {
    p.add(`supportedAspectRatios must be [rows, cols] pairs with rows·cols ≤ maxTiles (${maxTiles}), got ${JSON.stringify(ars)}`);
  }
  const triple = (k: string, d: readonly number[]): [number, number, number] => {
    const v = obj[k] ?? d;
    if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) p.add(`${k} must be 3 numbers, got ${JSON.stringify(v)}`);
    return [...(v as number[])] as [number, number, number];
  };
  const imageMean = triple('imageMean', CLIP_MEAN);
  const imageStd = triple('imageStd', CLIP_STD);
  if (imageStd.some((s) => !(s > 0))) p.add(`imageStd must be positive, got ${JSON.stringify(imageStd)}`);
  p.throwIfAny('invalid_config', 'invalid vision config');
  return Object.freeze({
    tileSize, patchSize, dim, nLayers, nGlobalLayers, nHeads, ffnDim, normEps: normEps as number,
    intermediateLayers: Object.freeze([...(inter as number[])]),
    intermediateTap,
    maxTiles,
    supportedAspectRatios: Object.freeze((ars as [number, number][]).map((a) => Object.freeze([a[0], a[1]] as const))),
    imageMean: Object.freeze(imageMean), imageStd: Object.freeze(imageStd),
  }) as VisionConfig;
}

/**
 * A Llama 3.2 Vision model as its checkpoint lays it out: the frozen text core (self-attention
 * layers only, renumbered 0..n−1), the image encoder, and the adapter's cross-attention layers at
 * their indices in the interleaved HF text stack.
 */
export interface MllamaConfig {
  readonly text: import('@herd/llama3').LlamaConfig;
  readonly vision: VisionConfig;
  /** Indices of the cross-attention layers in the interleaved stack (HF `cross_attention_layers`). */
  readonly crossAttentionLayers: readonly number[];
  /** `<|image|>`: the first id past the core's vocabulary. */
  readonly imageTokenId: number;
  /**
   * Meta's `learnable_embedding`: rows for ids ≥ the core's vocabulary (the image token among them),
   * trained with the adapter while the core's table stays frozen. HF stores them appended to the
   * embedding table (608 = 600 + 8 rows in the fixture).
   */
  readonly nLearnableTokens: number;
  /**
   * Learned place embeddings (herd's, not Meta's; round 24): each projected image token gets a learned row of
   * its patch's row and one of its column in a G×G grid over the resized image (`patchPlaces`), tables
   * `vision_place.row.weight` / `vision_place.col.weight` [G, core dim]; class tokens and padding get none.
   * Absent or 0: none (the graphs are those without the field).
   */
  readonly placeBins?: number;
  /**
   * The silhouette stream (herd's, not Meta's; round 32): the cross-attention layers listed here (a subset of
   * `crossAttentionLayers`) read the tokens of the image's silhouette (`inkSilhouette`: ink black, all else white,
   * through the same encoder and its own projector `silhouette_projector.*`) instead of the image's. A path that cannot
   * see colour: in the synthetic world no training image shows a held-out colour × shape pair, so a layer that sees
   * colour learns "this colour is never that shape". Absent or empty: none (the graphs are those without the field).
   */
  readonly silhouetteLayers?: readonly number[];
}

/** Most place bins a model may have (`patchPlaces`' range). */
export const MAX_PLACE_BINS = 64;

/** The model's place bins G, 0 when it has no place embeddings; a value outside 0…64 is refused. */
export function placeBinsOf(m: Pick<MllamaConfig, 'placeBins'>): number {
  const g = m.placeBins ?? 0;
  if (!Number.isInteger(g) || g < 0 || g > MAX_PLACE_BINS) throw new HerdError('invalid_config', `placeBins must be a whole number from 0 (none) to ${MAX_PLACE_BINS}, got ${JSON.stringify(m.placeBins)}`);
  return g;
}

/**
 * The model's silhouette-stream layers (`MllamaConfig.silhouetteLayers`), [] without them; a layer that is not one of
 * `crossAttentionLayers`, or listed twice, is refused.
 */
export function silhouetteLayersOf(m: Pick<MllamaConfig, 'silhouetteLayers' | 'crossAttentionLayers'>): readonly number[] {
  const s = m.silhouetteLayers ?? [];
  if (!Array.isArray(s)) throw new HerdError('invalid_config', `silhouetteLayers must be a list of cross-attention layers, got ${JSON.stringify(s)}`);
  const bad = s.filter((c, i) => !m.crossAttentionLayers.includes(c) || s.indexOf(c) !== i);
  if (bad.length) throw new HerdError('invalid_config', `silhouetteLayers must be distinct cross-attention layers (crossAttentionLayers ${JSON.stringify(m.crossAttentionLayers)}), got ${JSON.stringify(m.silhouetteLayers)}`);
  return s;
}

/**
 * A schedule with a silhouette stream: each cross-attention layer of `crossAttentionLayers` (stack indices) followed at the
 * same core layer by a silhouette layer — the stack indices of both, and the silhouette layers among them.
 */
export function withSilhouetteStream(crossAttentionLayers: readonly number[]): { crossAttentionLayers: number[]; silhouetteLayers: number[] } {
  const layers = coreAttachPoints(crossAttentionLayers).flatMap((a) => [a, a]).map((a, k) => a + k);
  return { crossAttentionLayers: layers, silhouetteLayers: layers.filter((_, k) => k % 2 === 1) };
}

/**
 * Where each cross-attention layer attaches to the core: the core layer it runs before. A cross
 * layer at stack index c, with k cross layers before it, precedes stack layer c + 1, which is core
 * layer c − k (Meta's fusion schedule, as HF interleaves it).
 */
export function coreAttachPoints(crossAttentionLayers: readonly number[]): number[] {
  return crossAttentionLayers.map((c, k) => c - k);
}
