/**
 * The temporal aggregator (§7.4): a perceiver resampler that merges each group of `k` consecutive
 * frames into one effective frame of L latent tokens. Learned latents cross-attend to the image
 * features of the group's frames (and to themselves, as Flamingo's resampler does), then a GELU FFN;
 * pre-LayerNorm residual layers; a final LayerNorm. A learned time embedding of the frame's place in
 * the clip is added to every token of that frame: without it the aggregator could not tell the order
 * of frames inside a group, and the video layers (whose keys carry no position) could not tell the
 * order of the effective frames — direction of motion is exactly that order. Padding tiles are
 * masked out of the keys.
 *
 * Built from the shared blocks (`G.multiHeadAttention`, `G.mlp`, `G.norm`).
 *
 * Herd's addition, off by default (`resampler.motionQuery`): the clip's motion features — where in the
 * frame the clip changes, frame by frame (`motionFeatures`) — projected and added to the latent queries.
 * See `motionFeatures` for why the mini model needs it. And (`resampler.motionTokens`, off by default)
 * object-motion tokens appended to the output (`videoTokens`, `motionTokens`): a clip-level motion
 * feature cannot say which of two shapes moved which way.
 *
 * Legend: B clips, F frames, k frames per group, E = F/k effective frames, S image tokens per frame
 * (tiles × tokens per tile), L latents, D width (the core's), H heads, M = MOTION_FEATURES.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type AttentionConfig, type MlpConfig, type NormConfig, type ParamSpec, type ParamValues, type Params, type Tensor } from '@herd/graph';
import { type Canvas, type VisionConfig, patchesPerTile } from '@herd/vision';
import { type ClipSampling, type ResamplerConfig } from '../config.js';

export const RESAMPLER_PREFIX = 'video.resampler';

const attnConfig = (r: ResamplerConfig, dim: number): AttentionConfig => ({ dim, nHeads: r.heads });
const ffnConfig = (r: ResamplerConfig, dim: number): MlpConfig => ({ kind: 'gelu', dim, hidden: r.ffnDim });
const lnConfig = (r: ResamplerConfig): NormConfig => ({ kind: 'layer', eps: r.normEps });

/**
 * Why the value and output projections start at std 1/√D, not the shared 0.02 / 0.02/√(2·layers):
 * at init q·k ≈ 0, so every latent's attention is a near-uniform mean over the group's frame tokens,
 * and the layer adds W_o·W_v·mean(LN(frames)) to a learned latent. With both projections at 0.02 the
 * product shrinks that frame summary far below the latents' own scale (|W x| ≈ std·√D·|x| per
 * projection), so the output is mostly the latents, whatever the clip. At 1/√D each projection keeps
 * the summary's norm. On its own that is not enough: frozen image features share one dominant
 * direction across clips, so the frame summaries themselves are nearly equal — `centreFrameNorms`
 * removes it. Measured on the mini model with mini image features of generated clips (cosine of two
 * clips' video tokens at init): 0.995 as before; 0.979 centred only; 0.994 this init only; −0.30
 * both. The video cross-attention gates still start at 0, so the model's output is unchanged at init.
 */
function preservingInit(dim: number, s: ParamSpec): ParamSpec {
  return /\.attn\.(v_proj|o_proj)\.weight$/.test(s.name) ? { ...s, init: { normal: 1 / Math.sqrt(dim) } } : s;
}

/**
 * Why the time embedding starts at std 0.5, not the shared 0.02: it is added to the raw projected
 * frame features (per-element RMS ~0.8–1.4 with the mini image models), and the frames' order —
 * direction of motion — reaches the tokens only through it. At 0.02 it is ~2 % of a token, so at init
 * the aggregator can hardly tell frame 0 from frame 7 and the signal that would teach it is as small.
 */
export const TIME_EMBEDDING_STD = 0.5;

export function resamplerParamSpecs(r: ResamplerConfig, dim: number): ParamSpec[] {
  const pre = RESAMPLER_PREFIX;
  const specs: ParamSpec[] = [
    { name: `${pre}.latents`, shape: [r.latents, dim], init: { normal: 0.25 } },
    { name: `${pre}.time_embedding`, shape: [r.maxFrames, dim], init: { normal: TIME_EMBEDDING_STD } },
    ...(r.positionTokens > 0 ? [{ name: `${pre}.position_embedding`, shape: [r.positionTokens, dim], init: { normal: TIME_EMBEDDING_STD } } satisfies ParamSpec] : []),
    ...(r.motionQuery ? [{ name: `${pre}.motion_proj.weight`, shape: [dim, MOTION_FEATURES], init: { normal: MOTION_PROJ_STD } } satisfies ParamSpec] : []),
  ];
  for (let l = 0; l < r.layers; l++) {
    const lp = `${pre}.layers.${l}`;
    specs.push(
      ...G.normParamSpecs(`${lp}.frames_norm`, dim, lnConfig(r)),
      ...G.normParamSpecs(`${lp}.latents_norm`, dim, lnConfig(r)),
      ...G.attentionParamSpecs(`${lp}.attn`, attnConfig(r, dim)).map((s) => preservingInit(dim, s)),
      ...G.normParamSpecs(`${lp}.mlp_norm`, dim, lnConfig(r)),
      ...G.mlpParamSpecs(`${lp}.mlp`, ffnConfig(r, dim)),
    );
  }
  specs.push(...G.normParamSpecs(`${pre}.norm`, dim, lnConfig(r)));
  return specs;
}

/** The image model's tiling, which fixes where each frame token lies in the frame (its canvases: `canvasPlaces`). */
export type TileGrid = Pick<VisionConfig, 'maxTiles' | 'tileSize' | 'patchSize' | 'supportedAspectRatios'>;

/** The input that says each clip's canvas (video config `frameLayout` 'canvas'): its frames' aspect-ratio id [B] i32, 1-based into `supportedAspectRatios` as the image encoder takes it. */
export const VIDEO_ASPECT_RATIO_ID = 'video.aspectRatioId';

/** Motion features per clip: direction of the displacement (x, y), direction of the trajectory's slope (x, y), log(1 + mean saliency). */
export const MOTION_FEATURES = 5;

/** Init std of the motion projection: the features are O(1), the latents start at std 0.25. */
const MOTION_PROJ_STD = 0.5;

/**
 * Below this length (tile widths) a displacement or slope is shrunk towards 0 rather than made unit
 * length: a static clip's is 0 (up to rounding), a moving clip's 0.05–0.3 on the mini world (the centroid is
 * pulled towards the frame's middle by the saliency every place has).
 */
const MOTION_DIRECTION_EPS = 0.01;

/**
 * Each frame token's place in the frame, in tile widths (x right, y down), and whether it is a patch
 * token (not a tile's class token). Tiles sit row by row on `canvas` (HF's tile order: tile t at row
 * ⌊t / cols⌋, column t mod cols); without one, on the squarest canvas of `maxTiles` tiles (2 × 2 for
 * the mini image model) — the video config's default layout, `frameLayout` 'slots', which the frame
 * features alone allow (they do not say which canvas a clip had): a clip on another canvas (1 × 2 and
 * 2 × 1 both fill tile slots 0 and 1) gets its within-tile places right and its across-tile places as
 * if on the squarest one. Measured on the mini world's held-out clips: direction read from the
 * centroid displacement 93 % with the squarest places, 95 % with each clip's true canvas (round 18,
 * reel18); the trained adapter paid more — a tall clip's (2 × 1) direction items failed about twice
 * as often as a wide one's (round 38, `bench/probes/video-direction-canvas.mjs`), which is why
 * `frameLayout` 'canvas' gives each clip its own canvas (`canvasPlaces`). Padding tiles (past the
 * canvas) get place 0; their tokens are masked. → places [S, 2], patch [S] (1 = patch token).
 */
export function tokenPlaces(v: TileGrid, canvas?: Canvas): { places: Float32Array; patch: Float32Array } {
  const P = patchesPerTile(v);
  const side = v.tileSize / v.patchSize;
  const cols = canvas?.cols ?? Math.ceil(Math.sqrt(v.maxTiles));
  const real = canvas ? canvas.rows * canvas.cols : v.maxTiles;
  if (real > v.maxTiles) throw new HerdError('invalid_argument', `tokenPlaces: a ${canvas!.rows} × ${canvas!.cols} canvas has more tiles than maxTiles ${v.maxTiles}`);
  const places = new Float32Array(v.maxTiles * P * 2);
  const patch = new Float32Array(v.maxTiles * P);
  for (let t = 0; t < v.maxTiles; t++) {
    const [row, col] = [Math.floor(t / cols), t % cols];
    for (let j = 1; j < P; j++) {
      const s = t * P + j; // token 0 of a tile is its class token
      if (t < real) {
        places[2 * s] = col + ((j - 1) % side + 0.5) / side;
        places[2 * s + 1] = row + (Math.floor((j - 1) / side) + 0.5) / side;
      }
      patch[s] = 1;
    }
  }
  return { places, patch };
}

/** Each frame token's place per clip, [B, S, 2] (`canvasPlaces`): as is, and centred on the clip's canvas (the mean place of its real patch tokens). */
export interface FramePlaces {
  readonly places: Tensor;
  readonly centred: Tensor;
}

/**
 * The video config's `frameLayout` 'canvas': each clip's token places on its own canvas, picked by its
 * aspect-ratio id [B] i32 (1-based into `supportedAspectRatios`; id 0, HF's "no image", gets the
 * squarest layout) from a table of every supported canvas's `tokenPlaces`. Why: a tall clip's second
 * tile lies below its first, not to the right of it (see `tokenPlaces`).
 */
export function canvasPlaces(grid: TileGrid, aspectRatioId: Tensor): FramePlaces {
  const g = aspectRatioId.graph;
  const [B] = aspectRatioId.shape as number[];
  const P = patchesPerTile(grid);
  const S = grid.maxTiles * P;
  const canvases: (Canvas | undefined)[] = [undefined, ...grid.supportedAspectRatios.map(([rows, cols]) => ({ rows, cols }))];
  const table = new Float32Array(canvases.length * S * 2);
  const centred = new Float32Array(canvases.length * S * 2);
  canvases.forEach((c, i) => {
    const { places, patch } = tokenPlaces(grid, c);
    const real = c ? c.rows * c.cols * P : S;
    const centre = [0, 1].map((a) => {
      let sum = 0;
      let n = 0;
      for (let s = 0; s < real; s++) if (patch[s]) [sum, n] = [sum + places[2 * s + a]!, n + 1];
      return sum / Math.max(1, n);
    });
    table.set(places, i * S * 2);
    for (let s = 0; s < S; s++) for (let a = 0; a < 2; a++) centred[(i * S + s) * 2 + a] = s < real && patch[s] ? places[2 * s + a]! - centre[a]! : 0;
  });
  const pick = (t: Float32Array) => G.reshape(G.gather(g.constant(t, 'f32', [canvases.length, S * 2]), aspectRatioId), [B!, S, 2]);
  return { places: pick(table), centred: pick(centred) };
}

/**
 * A clip's motion features [B, M] from its frames [B, F, S, D] (frameMask [B, S] bool, real tiles; `at`, each
 * clip's own token places, `canvasPlaces`, else the squarest layout's).
 * Per token place p a saliency s_t(p) = ‖f_t(p) − b(p)‖, with b(p) the place's mean over the clip's
 * frames (the background: a moving shape covers any place only briefly); its centroid over the token
 * places c_t (where the clip changes at frame t); then the directions (v / (‖v‖ + ε)) of the
 * displacement c_{F−1} − c_0 and of the least-squares slope of c_t over t, and log(1 + the mean
 * saliency). A static or blinded clip gets all zeros. Why directions, not the raw vectors: the raw
 * ones are ~0.1 tile on the mini world against a saliency term of 1–2.6, and through a projection
 * trained 400 steps they reached stage 0's motion head hardly at all (16 of 49 held-out clips).
 *
 * Why the mini model needs it (the paper's aggregator is a plain perceiver): the mini image features
 * tell where a shape is only through which tokens it changes, and the perceiver's attention, trained
 * through a head on its mean token, did not learn to read that — stage 0's motion head read direction
 * on 13 of 49 held-out clips (chance ~25 %). Read out as here, the same frozen features give direction
 * on 55–56 of 59 held-out single-direction clips (93–95 %: the sign of the larger displacement axis,
 * no training; 48 of stage 0's 49 with this graph, `bench/probes/video-motion-features.mjs`), and a
 * logistic probe on them tells static from moving on all 90 held-out clips (round 18, reel18). With it,
 * stage 0's motion head reads 46 of the 49.
 */
export function motionFeatures(frames: Tensor, frameMask: Tensor, grid: TileGrid, at?: FramePlaces): Tensor {
  const [B, F, S] = frames.shape as number[];
  const g = frames.graph;
  const { places, patch } = tokenPlaces(grid);
  if (patch.length !== S) throw new HerdError('shape_mismatch', `motion features: frames have ${S} tokens, the image model's tiling gives ${patch.length}`);
  const background = G.mean(frames, 1, true); // [B, 1, S, D]
  const change = G.sub(frames, background);
  const seen = G.mul(G.reshape(G.cast(frameMask, 'f32'), [B!, 1, S!]), g.constant(patch, 'f32', [1, 1, S!])); // [B, 1, S]: patch tokens of real tiles
  const saliency = G.mul(G.sqrt(G.add(G.sum(G.mul(change, change), 3), 1e-12)), seen); // [B, F, S]
  const total = G.sum(saliency, 2, true); // [B, F, 1]
  const centroid = G.matmul(G.div(saliency, G.add(total, 1e-6)), at ? at.places : g.constant(places, 'f32', [S!, 2])); // [B, F, 2]
  const displacement = G.sub(G.slice(centroid, 1, F! - 1, F!), G.slice(centroid, 1, 0, 1)); // [B, 1, 2]
  const tau = Float32Array.from({ length: F! }, (_, t) => t - (F! - 1) / 2);
  const tauNorm = tau.reduce((a, v) => a + v * v, 0) || 1;
  const slope = G.sum(G.mul(centroid, g.constant(tau.map((v) => (v * (F! - 1)) / tauNorm), 'f32', [1, F!, 1])), 1, true); // [B, 1, 2]
  const direction = (v: Tensor) => G.div(v, G.add(G.sqrt(G.add(G.sum(G.mul(v, v), 2, true), 1e-12)), MOTION_DIRECTION_EPS)); // [B, 1, 2]
  const seenCount = G.add(G.sum(seen, 2, true), 1e-6); // [B, 1, 1]
  const magnitude = G.log(G.add(G.div(G.mean(total, 1, true), seenCount), 1)); // [B, 1, 1]
  return G.reshape(G.concat([direction(displacement), direction(slope), magnitude], 2), [B!, MOTION_FEATURES]); // [B, M]
}

/**
 * frames [B, F, S, D] (projected image features), frameMask [B, S] bool (true for tokens of real
 * tiles; every frame of a clip has the same tiling) → video tokens [B, E·L, D], effective frames in
 * order, each frame's L latents together. `grid` (the image model's tiling) places the frame tokens
 * for the motion features (`resampler.motionQuery`); `at`, each clip's own places (`canvasPlaces`).
 */
export function perceiverResampler(r: ResamplerConfig, clip: ClipSampling, p: Params, frames: Tensor, frameMask: Tensor, grid: TileGrid, at?: FramePlaces): Tensor {
  const [B, F, S, D] = frames.shape as number[];
  const k = clip.groupFrames;
  const E = F! / k;
  const L = r.latents;
  const pre = RESAMPLER_PREFIX;
  // Time embedding of each frame's place in the clip, added to all its tokens.
  const time = G.reshape(G.slice(p(`${pre}.time_embedding`), 0, 0, F!), [1, F!, 1, D!]); // [1, F, 1, D]
  // Each frame's change since the clip's first sampled frame (frameDifference > 0): zero for a static
  // clip, and its mean over a frame's tokens moves with the objects' displacement — direction in a form
  // a mean (a near-uniform cross-attention, the aggregator's own first steps) can read.
  // Position embedding of each token's place in the frame (positionTokens > 0), scaling that token's
  // change: Δ ⊙ (1 + e_p). A mean over tokens (what a near-uniform attention and stage 0's heads read)
  // then is a position-weighted sum of the change, the form of a per-token linear read of direction,
  // which a plain mean over tokens cannot give (vid6: per-token probe 68 %, pooled 53 %). Measured: no
  // gain in stage 0 or the language-model stage yet (video README, round 7); added to the frame tokens
  // instead (the keys) it did worse and was dropped.
  if (r.positionTokens > 0 && r.positionTokens < S!) throw new HerdError('shape_mismatch', `video aggregator: frames have ${S} tokens, resampler.positionTokens is ${r.positionTokens}`);
  const place = r.positionTokens > 0 ? G.reshape(G.slice(p(`${pre}.position_embedding`), 0, 0, S!), [1, 1, S!, D!]) : undefined; // [1, 1, S, D]
  const change = G.sub(frames, G.slice(frames, 1, 0, 1)); // [B, F, S, D]
  const scaled = place ? G.add(change, G.mul(change, place)) : change;
  const moved = r.frameDifference > 0 ? G.add(frames, G.mul(scaled, r.frameDifference)) : frames; // [B, F, S, D]
  const x = G.reshape(G.add(moved, time), [B! * E, k * S!, D!]); // [B·E, k·S, D]: group e = frames ek..ek+k−1
  // Keys: the group's frame tokens (padding tiles masked) then the latents (always visible).
  const frameKeys = G.reshape(G.expand(G.reshape(G.cast(frameMask, 'f32'), [B!, 1, 1, S!]), [B!, E, k, S!]), [B! * E, 1, 1, k * S!]);
  const mask = G.logicalNot(G.less(G.pad(frameKeys, [[0, 0], [0, 0], [0, 0], [0, L]], 1), 0.5)); // [B·E, 1, 1, k·S + L]
  let lat = G.expand(G.reshape(p(`${pre}.latents`), [1, L, D!]), [B! * E, L, D!]); // [B·E, L, D]
  if (r.motionQuery) {
    // The clip's motion, projected, starts every latent of every effective frame: the output tokens (and
    // their mean, what stage 0's heads read) then carry direction whether or not attention finds it.
    const motion = G.linear(motionFeatures(frames, frameMask, grid, at), p(`${pre}.motion_proj.weight`)); // [B, D]
    lat = G.add(lat, G.reshape(G.expand(G.reshape(motion, [B!, 1, 1, D!]), [B!, E, 1, D!]), [B! * E, 1, D!]));
  }
  for (let l = 0; l < r.layers; l++) {
    const lp = `${pre}.layers.${l}`;
    const ln = G.norm(p, `${lp}.latents_norm`, lat, lnConfig(r));
    const kv = G.concat([G.norm(p, `${lp}.frames_norm`, x, lnConfig(r)), ln], 1); // [B·E, k·S + L, D]
    lat = G.add(lat, G.multiHeadAttention(p, `${lp}.attn`, ln, { ...attnConfig(r, D!), kv, mask }).out);
    lat = G.add(lat, G.mlp(p, `${lp}.mlp`, G.norm(p, `${lp}.mlp_norm`, lat, lnConfig(r)), ffnConfig(r, D!)));
  }
  return G.reshape(G.norm(p, `${pre}.norm`, lat, lnConfig(r)), [B!, E * L, D!]); // [B, E·L, D]
}

/**
 * Fixed directions of the core's width that carry a motion token's place (x, y): orthogonal ±1/√D
 * patterns, so the video cross-attention's learned projections can read place apart from look.
 */
export function placeDirections(D: number): Float32Array {
  const u = new Float32Array(2 * D); // [2, D]
  for (let i = 0; i < D; i++) {
    u[i] = (i % 2 === 0 ? 1 : -1) / Math.sqrt(D);
    u[D + i] = (Math.floor(i / 2) % 2 === 0 ? 1 : -1) / Math.sqrt(D);
  }
  return u;
}

/**
 * Object-motion tokens (`resampler.motionTokens`, herd's addition) from frames [B, F, S, D] (frameMask
 * [B, S] bool) → [B, E·S, D], one per effective frame e (its k frames averaged) and token place p:
 *   c_e(p) = mean over e's frames of f_t(p) − b(p),  b(p) the place's mean over the clip's frames,
 *   token_e(p) = c_e(p) + ‖c_e(p)‖ · τ_e · ((x_p − x̄) u_x + (y_p − ȳ) u_y)   (c_e without its part along u_x, u_y)
 * with τ_e the effective frame's centred time (−1 … 1), (x_p, y_p) the place (tile widths, `tokenPlaces`,
 * centred on the canvas; each clip's own with `at`, `canvasPlaces`), u_x, u_y fixed orthogonal directions. Class tokens and padding tiles give zero
 * tokens; a static or blinded clip gives all zeros. No parameters: the video cross-attention's own
 * projections learn to read them.
 *
 * Why: the clip-level motion features (`motionFeatures`) decide the adapter's direction answers — on the
 * 40 held-out direction questions it answered as their displacement's larger axis on nearly every one,
 * right on 17 of 19 one-shape clips and 10 of 21 where another shape moves, appears or disappears
 * (round 19, bench/probes/video-direction-answers.mjs). Here a text row that asks about "the red circle"
 * can attend to the tokens whose change looks like a red circle (c_e(p) is the shape where it is, minus
 * where it was), and the attention-weighted mean of their τ·x term is the sign of that shape's own motion
 * along x (a shape moving right is on the left early, τ < 0, and on the right late), likewise y.
 */
export function motionTokens(frames: Tensor, frameMask: Tensor, grid: TileGrid, clip: ClipSampling, at?: FramePlaces): Tensor {
  const [B, F, S, D] = frames.shape as number[];
  const g = frames.graph;
  const k = clip.groupFrames;
  const E = F! / k;
  const { places, patch } = tokenPlaces(grid);
  if (patch.length !== S) throw new HerdError('shape_mismatch', `motion tokens: frames have ${S} tokens, the image model's tiling gives ${patch.length}`);
  const centre = [0, 1].map((a) => places.reduce((acc, v, i) => (i % 2 === a && patch[i >> 1] ? acc + v : acc), 0) / Math.max(1, patch.reduce((x, y) => x + y, 0)));
  const half = (E - 1) / 2;
  // Per effective frame e and place p: τ_e (x_p − x̄) and τ_e (y_p − ȳ). → [E, S, 2]
  const tau = Float32Array.from({ length: E }, (_, e) => (half ? (e - half) / half : 0));
  const when = new Float32Array(E * S! * 2);
  for (let e = 0; e < E; e++) for (let p = 0; p < S!; p++) for (let a = 0; a < 2; a++) when[(e * S! + p) * 2 + a] = tau[e]! * (places[2 * p + a]! - centre[a]!);
  const u = g.constant(placeDirections(D!), 'f32', [2, D!]);
  const change = effectiveChange(frames, k); // [B, E, S, D]
  // The change's part along u_x, u_y is taken out: else a shape's look would read as a place.
  const look = G.sub(change, G.matmul(G.matmul(change, G.transpose(u, [1, 0])), u)); // [B, E, S, D]
  const seen = G.reshape(G.mul(G.reshape(G.cast(frameMask, 'f32'), [B!, 1, S!]), g.constant(patch, 'f32', [1, 1, S!])), [B!, 1, S!, 1]); // [B, 1, S, 1]
  const size = G.sqrt(G.add(G.sum(G.mul(look, look), 3, true), 1e-12)); // [B, E, S, 1]
  const place = at
    ? G.matmul(G.mul(g.constant(tau, 'f32', [1, E, 1, 1]), G.reshape(at.centred, [B!, 1, S!, 2])), u) // [B, E, S, D]
    : G.matmul(g.constant(when, 'f32', [1, E, S!, 2]), u); // [1, E, S, D]
  const tokens = G.mul(G.add(look, G.mul(size, place)), seen); // [B, E, S, D]
  return G.reshape(tokens, [B!, E * S!, D!]); // [B, E·S, D]
}

/** c_e(p): per effective frame e (its k frames averaged) and token place p, the change against the place's mean over the clip's frames. frames [B, F, S, D] → [B, E, S, D]. */
function effectiveChange(frames: Tensor, k: number): Tensor {
  const [B, F, S, D] = frames.shape as number[];
  return G.mean(G.reshape(G.sub(frames, G.mean(frames, 1, true)), [B!, F! / k, k, S!, D!]), 2);
}

/**
 * The look input of the object-motion tokens (video config `look`, herd's addition), from a SECOND feature
 * input: the clip's frames through another image checkpoint, look [B, F, S, D] (frameMask [B, S] bool, the
 * same tiling as the first input) → [B, E·S, D], per effective frame and token place the same change c_e(p)
 * the motion token's look is made of (`motionTokens`), with class tokens and padding tiles zero; a static or
 * blinded clip gives zeros. No parameters: the video model adds a learned map of it to the motion token at the
 * same place (`LOOK_PROJ`, graphs.ts `addLook`).
 *
 * Why: the committed image checkpoint's features carry a mover's motion (stage 0's motion head 47 of 49, the
 * centroid rule 46 of 48 one-shape clips) but hardly its shape (15 % at a mover's token, majority 29 %); a shape
 * encoder's carry its shape (35 %) but lose motion (32 / 36 of them; round 23). Two inputs keep each for its job.
 */
export function lookTokens(look: Tensor, frameMask: Tensor, grid: TileGrid, clip: ClipSampling): Tensor {
  const [B, F, S, D] = look.shape as number[];
  const g = look.graph;
  const { patch } = tokenPlaces(grid);
  if (patch.length !== S) throw new HerdError('shape_mismatch', `look tokens: frames have ${S} tokens, the image model's tiling gives ${patch.length}`);
  const E = F! / clip.groupFrames;
  const seen = G.reshape(G.mul(G.reshape(G.cast(frameMask, 'f32'), [B!, 1, S!]), g.constant(patch, 'f32', [1, 1, S!])), [B!, 1, S!, 1]); // [B, 1, S, 1]
  return G.reshape(G.mul(effectiveChange(look, clip.groupFrames), seen), [B!, E * S!, D!]); // [B, E·S, D]
}

/** The learned map of the look input into the core's width ([D, D], zeros at start: the model starts as the one-input one); in the video cross-attention group, so it trains on a frozen aggregator. */
export const LOOK_PROJ = 'video.look_proj.weight';

export function lookParamSpecs(dim: number): ParamSpec[] {
  return [{ name: LOOK_PROJ, shape: [dim, dim], init: 'zeros' }];
}

/**
 * tokens [B, V, D] ending with the object-motion tokens [B, E·S, D], look [B, E·S, D] (`lookTokens`) →
 * the same tokens with W · look added to each motion token, W = `LOOK_PROJ`, its part along the place
 * directions u_x, u_y taken out (as the motion token's own look is), so the look never reads as a place.
 */
export function addLook(p: Params, tokens: Tensor, look: Tensor): Tensor {
  const [B, V, D] = tokens.shape as number[];
  const n = look.shape[1] as number;
  if (look.shape[0] !== B || look.shape[2] !== D || n > V!) throw new HerdError('shape_mismatch', `look: [${look.shape}] does not fit the last tokens of the video tokens [${tokens.shape}]`);
  const u = tokens.graph.constant(placeDirections(D!), 'f32', [2, D!]);
  const mapped = G.linear(look, p(LOOK_PROJ)); // [B, E·S, D]
  const lookPart = G.sub(mapped, G.matmul(G.matmul(mapped, G.transpose(u, [1, 0])), u));
  return G.concat([G.slice(tokens, 1, 0, V! - n), G.add(G.slice(tokens, 1, V! - n, V!), lookPart)], 1);
}

/**
 * The video tokens the cross-attention layers see, frames [B, F, S, D] → [B, V, D]: the aggregator's
 * output [B, E·L, D], followed with `resampler.motionTokens` by the object-motion tokens [B, E·S, D].
 */
export function videoTokens(r: ResamplerConfig, clip: ClipSampling, p: Params, frames: Tensor, frameMask: Tensor, grid: TileGrid, at?: FramePlaces): Tensor {
  const latents = perceiverResampler(r, clip, p, frames, frameMask, grid, at);
  return r.motionTokens ? G.concat([latents, motionTokens(frames, frameMask, grid, clip, at)], 1) : latents;
}

/**
 * Data-dependent init of the aggregator's frame LayerNorms (call on fresh values, before training):
 * each layer's `frames_norm.bias` becomes −γ ⊙ μ, with μ the mean over `clips`' real tokens of the
 * normalised frame features. Why: at init attention is a near-uniform mean over a group's tokens, and
 * frozen image features share one dominant direction across all clips (mini image model on the
 * synthetic world: LayerNorm'd tokens of different clips at cosine ~0.9, their means at 0.994), so
 * without centring every clip gives nearly the same video tokens and the video layers have nothing
 * to learn from. Centred, the tokens carry what differs between clips. The time embedding (std 0.02
 * against unit-scale normalised features) is left out of μ.
 *
 * clips: features [F·S·D] f32 with frameMask [S] (1 = real tile token), any F.
 */
export function centreFrameNorms(r: ResamplerConfig, dim: number, values: ParamValues, clips: readonly { features: Float32Array; frameMask: Uint8Array }[]): ParamValues {
  if (clips.length === 0) throw new HerdError('invalid_argument', 'centreFrameNorms: no clips to take the mean frame feature from');
  const mu = new Float64Array(dim);
  let n = 0;
  for (const c of clips) {
    const S = c.frameMask.length;
    const tokens = c.features.length / dim;
    if (!Number.isInteger(tokens) || tokens % S !== 0) throw new HerdError('shape_mismatch', `centreFrameNorms: features of length ${c.features.length} are not [F, ${S}, ${dim}]`);
    for (let t = 0; t < tokens; t++) {
      if (!c.frameMask[t % S]) continue;
      const x = c.features.subarray(t * dim, (t + 1) * dim);
      let mean = 0;
      for (const v of x) mean += v;
      mean /= dim;
      let variance = 0;
      for (const v of x) variance += (v - mean) ** 2;
      const inv = 1 / Math.sqrt(variance / dim + r.normEps);
      for (let i = 0; i < dim; i++) mu[i]! += (x[i]! - mean) * inv;
      n++;
    }
  }
  const out: ParamValues = { ...values };
  for (let l = 0; l < r.layers; l++) {
    const name = `${RESAMPLER_PREFIX}.layers.${l}.frames_norm`;
    const gamma = values[`${name}.weight`];
    const beta = values[`${name}.bias`];
    if (!gamma || !beta) throw new HerdError('checkpoint_mismatch', `centreFrameNorms: no ${name}.weight / .bias in the values`);
    out[`${name}.bias`] = { dtype: 'f32', shape: [...beta.shape], data: Float32Array.from({ length: dim }, (_, i) => -(gamma.data[i]! * mu[i]!) / Math.max(1, n)) };
  }
  return out;
}
