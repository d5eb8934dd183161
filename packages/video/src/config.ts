/**
 * The video side's config (Llama 3 paper §7.4, SPEC.md "Video adapter"): how many frames a clip
 * gives, how many consecutive frames the temporal aggregator merges into one, the aggregator's
 * (perceiver resampler's) shape, and where the video cross-attention layers sit among the image
 * cross-attention layers. Widths follow the core (the aggregator works on the image features after
 * the image projector, in the core's width). `parseVideoConfig` rejects unknown keys and reports
 * every bad field at once.
 */
import { HerdError, ProblemList, isRecord } from '@herd/core';

/** Frames sampled per clip and the aggregation factor, for one training stage. */
export interface ClipSampling {
  /** Frames sampled uniformly over the whole clip (paper: 16 pre-training, 64 fine-tuning); 1..64. */
  readonly frames: number;
  /** Consecutive frames merged into one effective frame (paper: 16 pre-training, 32 fine-tuning); divides `frames`. */
  readonly groupFrames: number;
}

export interface ResamplerConfig {
  /** Learned latent queries per effective frame (not stated in the paper; Flamingo uses 64). */
  readonly latents: number;
  readonly layers: number;
  readonly heads: number;
  readonly ffnDim: number;
  /**
   * Rows of the learned time embedding: the most frames a clip gives. Indexed by the frame's place in
   * the clip (not in its group), so effective frames also carry their order to the video layers.
   */
  readonly maxFrames: number;
  readonly normEps: number;
  /**
   * Weight of each frame's change since the clip's first sampled frame, added to its tokens before the
   * aggregator (0 = none, the default; herd's addition, see resampler.ts).
   */
  readonly frameDifference: number;
  /**
   * Rows of a learned position embedding that scales each token's frame difference (0 = none, the
   * default; herd's addition, see resampler.ts): one per token place in a frame (tiles × tokens per
   * tile), so the aggregator knows where in the frame a change happens. At least the image model's
   * tokens per frame when > 0.
   */
  readonly positionTokens: number;
  /**
   * The clip's motion features (where in the frame the clip changes, frame by frame: `motionFeatures`)
   * projected and added to the latent queries (false = none, the default; herd's addition, see
   * resampler.ts).
   */
  readonly motionQuery: boolean;
  /**
   * Object-motion tokens appended to the aggregator's output (false = none, the default; herd's addition,
   * see `motionTokens` in resampler.ts): per effective frame and token place, what changed there against
   * the clip's mean frame plus where and when, so the video cross-attention can pick the asked shape's
   * change by its look and read its motion. Adds effective frames × tokens per frame video tokens; no
   * parameters.
   */
  readonly motionTokens: boolean;
}

export interface VideoConfig {
  readonly pretrain: ClipSampling;
  readonly finetune: ClipSampling;
  readonly resampler: ResamplerConfig;
  /**
   * A video cross-attention layer goes before every `crossEvery`-th image cross-attention layer
   * (paper: 4), i.e. before image layers j with (j + 1) % crossEvery = 0; when that picks none (fewer
   * image layers than `crossEvery`), one goes before the last image layer. See `videoAttachPoints`.
   */
  readonly crossEvery: number;
  /** Hidden width of the video cross-attention layers' SwiGLU FFN; 0 = the core's ffnDim (paper form). */
  readonly crossFfnDim: number;
  /**
   * Each video cross-attention layer also reads the object-motion tokens' place term where its heads look and adds a
   * learned projection of it to its output (`motionReadout` in video-cross-attention.ts; absent = none, the default;
   * herd's addition; needs `resampler.motionTokens`). Present only when true, so configs without it stay as they were.
   */
  readonly motionReadout?: boolean;
  /**
   * Each gate of a video cross-attention layer also depends on its row: tanh(g + w · x_row) with w learned, zeros at
   * init (so the model starts as with the plain scalar gates); absent = the paper's scalar gates, the default (herd's
   * addition). Present only when true, so configs without it stay as they were.
   */
  readonly rowGates?: boolean;
  /**
   * A second feature input gives the object-motion tokens their look (`lookTokens` in resampler.ts; absent = none, the
   * default; herd's addition; needs `resampler.motionTokens`): the clip's frames through a second image checkpoint
   * (e.g. a shape encoder's), their change per effective frame and token place, through a learned map (zeros at
   * start) added to the motion token there. The motion (aggregator, centroid, place term) still comes from the first
   * feature input. Present only when true, so configs without it stay as they were.
   */
  readonly look?: boolean;
  /**
   * With `look`: the look enters only the video cross-attention's keys (where a text row looks), not its values (what
   * it reads, the motion tokens as without the look) (absent = keys and values, the default; herd's addition).
   * Present only when true.
   */
  readonly lookKeys?: boolean;
  /**
   * Where a frame's tiles lie for the aggregator's place terms (the motion features and the object-motion tokens'
   * place): 'canvas', each clip on its own canvas (its frames' aspect-ratio id, graph input `video.aspectRatioId`;
   * `canvasPlaces` in resampler.ts; herd's addition); absent, the default ('slots'), every clip as if on the
   * squarest canvas. Present only when 'canvas', so configs without it stay as they were.
   */
  readonly frameLayout?: 'canvas';
}

const KEYS = ['pretrain', 'finetune', 'resampler', 'crossEvery', 'crossFfnDim', 'motionReadout', 'rowGates', 'look', 'lookKeys', 'frameLayout'] as const satisfies readonly (keyof VideoConfig)[];
const RESAMPLER_KEYS = ['latents', 'layers', 'heads', 'ffnDim', 'maxFrames', 'normEps', 'frameDifference', 'positionTokens', 'motionQuery', 'motionTokens'] as const satisfies readonly (keyof ResamplerConfig)[];
const SAMPLING_KEYS = ['frames', 'groupFrames'] as const satisfies readonly (keyof ClipSampling)[];

/** The most frames a clip gives (the paper's fine-tuning count). */
export const MAX_FRAMES = 64;

export function parseVideoConfig(obj: unknown): VideoConfig {
  if (!isRecord(obj)) throw new HerdError('invalid_config', `video config must be an object, got ${JSON.stringify(obj)}`);
  const p = new ProblemList();
  const unknown = (o: Record<string, unknown>, keys: readonly string[], where: string) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) p.add(`unknown key '${where}${k}' (valid: ${keys.join(', ')})`);
  };
  unknown(obj, KEYS, '');
  const int = (o: Record<string, unknown>, k: string, where: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = o[k];
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) p.add(`${where}${k} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return v as number;
  };
  const rec = (k: string): Record<string, unknown> => {
    const v = obj[k];
    if (!isRecord(v)) {
      p.add(`${k} must be an object, got ${JSON.stringify(v)}`);
      return {};
    }
    return v;
  };
  const r = rec('resampler');
  unknown(r, RESAMPLER_KEYS, 'resampler.');
  const normEps = r['normEps'] ?? 1e-5;
  if (typeof normEps !== 'number' || !(normEps > 0)) p.add(`resampler.normEps must be a positive number, got ${JSON.stringify(normEps)}`);
  const frameDifference = r['frameDifference'] ?? 0;
  if (typeof frameDifference !== 'number' || !(frameDifference >= 0)) p.add(`resampler.frameDifference must be a number ≥ 0, got ${JSON.stringify(frameDifference)}`);
  const motionQuery = r['motionQuery'] ?? false;
  if (typeof motionQuery !== 'boolean') p.add(`resampler.motionQuery must be true or false, got ${JSON.stringify(motionQuery)}`);
  const motionTokens = r['motionTokens'] ?? false;
  if (typeof motionTokens !== 'boolean') p.add(`resampler.motionTokens must be true or false, got ${JSON.stringify(motionTokens)}`);
  const resampler: ResamplerConfig = {
    latents: int(r, 'latents', 'resampler.', 1),
    layers: int(r, 'layers', 'resampler.', 1),
    heads: int(r, 'heads', 'resampler.', 1),
    ffnDim: int(r, 'ffnDim', 'resampler.', 1),
    maxFrames: int(r, 'maxFrames', 'resampler.', 1, MAX_FRAMES),
    normEps: normEps as number,
    frameDifference: frameDifference as number,
    positionTokens: int({ positionTokens: r['positionTokens'] ?? 0 }, 'positionTokens', 'resampler.', 0),
    motionQuery: motionQuery as boolean,
    motionTokens: motionTokens as boolean,
  };
  const sampling = (k: 'pretrain' | 'finetune'): ClipSampling => {
    const s = rec(k);
    unknown(s, SAMPLING_KEYS, `${k}.`);
    const frames = int(s, 'frames', `${k}.`, 1, MAX_FRAMES);
    const groupFrames = int(s, 'groupFrames', `${k}.`, 1, MAX_FRAMES);
    if (Number.isSafeInteger(frames) && Number.isSafeInteger(groupFrames) && frames % groupFrames !== 0) p.add(`${k}.groupFrames ${groupFrames} must divide ${k}.frames ${frames}`);
    if (Number.isSafeInteger(frames) && frames > resampler.maxFrames) p.add(`${k}.frames ${frames} is over resampler.maxFrames ${resampler.maxFrames}`);
    return { frames, groupFrames };
  };
  const pretrain = sampling('pretrain');
  const finetune = sampling('finetune');
  const crossEvery = int(obj, 'crossEvery', '', 1);
  const crossFfnDim = int({ crossFfnDim: obj['crossFfnDim'] ?? 0 }, 'crossFfnDim', '', 0);
  const motionReadout = obj['motionReadout'] ?? false;
  if (typeof motionReadout !== 'boolean') p.add(`motionReadout must be true or false, got ${JSON.stringify(motionReadout)}`);
  else if (motionReadout && resampler.motionTokens !== true) p.add('motionReadout reads the object-motion tokens: it needs resampler.motionTokens true');
  const rowGates = obj['rowGates'] ?? false;
  if (typeof rowGates !== 'boolean') p.add(`rowGates must be true or false, got ${JSON.stringify(rowGates)}`);
  const look = obj['look'] ?? false;
  if (typeof look !== 'boolean') p.add(`look must be true or false, got ${JSON.stringify(look)}`);
  else if (look && resampler.motionTokens !== true) p.add('look adds to the object-motion tokens: it needs resampler.motionTokens true');
  const lookKeys = obj['lookKeys'] ?? false;
  if (typeof lookKeys !== 'boolean') p.add(`lookKeys must be true or false, got ${JSON.stringify(lookKeys)}`);
  else if (lookKeys && look !== true) p.add('lookKeys says where the look input goes: it needs look true');
  const frameLayout = obj['frameLayout'] ?? 'slots';
  if (frameLayout !== 'slots' && frameLayout !== 'canvas') p.add(`frameLayout must be 'slots' or 'canvas', got ${JSON.stringify(frameLayout)}`);
  else if (frameLayout === 'canvas' && !(resampler.motionQuery || resampler.motionTokens)) p.add("frameLayout 'canvas' places the frame tokens for the motion features and the object-motion tokens: it needs resampler.motionQuery or resampler.motionTokens");
  p.throwIfAny('invalid_config', 'invalid video config');
  return Object.freeze({ pretrain: Object.freeze(pretrain), finetune: Object.freeze(finetune), resampler: Object.freeze(resampler), crossEvery, crossFfnDim, ...(motionReadout ? { motionReadout: true } : {}), ...(rowGates ? { rowGates: true } : {}), ...(look ? { look: true } : {}), ...(lookKeys ? { lookKeys: true } : {}), ...(frameLayout === 'canvas' ? { frameLayout: 'canvas' as const } : {}) });
}

/** Effective frames (aggregator outputs) of a clip: frames / groupFrames. */
export function effectiveFrames(s: ClipSampling): number {
  return s.frames / s.groupFrames;
}

/**
 * Video tokens the cross-attention layers see: effective frames × latents, and with
 * `resampler.motionTokens` effective frames × `tokensPerFrame` (the image model's tokens per frame) more.
 */
export function videoTokenCount(v: VideoConfig, s: ClipSampling, tokensPerFrame: number): number {
  return effectiveFrames(s) * (v.resampler.latents + (v.resampler.motionTokens ? tokensPerFrame : 0));
}

/**
 * Indices j of the image cross-attention layers that get a video cross-attention layer right before
 * them: every `crossEvery`-th ((j + 1) % crossEvery = 0, so 3, 7, … for the paper's 4), or the last
 * one when there are fewer image layers than `crossEvery` (the mini model's two).
 */
export function videoBeforeImageLayers(nImageLayers: number, crossEvery: number): number[] {
  const js = Array.from({ length: nImageLayers }, (_, j) => j).filter((j) => (j + 1) % crossEvery === 0);
  return js.length || nImageLayers === 0 ? js : [nImageLayers - 1];
}
