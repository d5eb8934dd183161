/**
 * The look loss (training only; herd's addition, not the paper's): where a reply row's cross-attention looks.
 *
 * A question names one object — by place ("What is near the bottom?") or by shape ("What colour is the
 * circle?") — and the reply's key words are that object's facts. Measured (docs/research-log.md, Vision,
 * rounds 22–33): in scenes of several objects the adapter answers another object's shape or place about as
 * often as the asked one's, with real features and with perfect ones (the vision oracle), so the look-up of
 * the named object, not what its tokens hold, is what fails there. The answer loss reaches the look (the
 * query and key sides) only through the gates and the core's later layers; this loss trains it directly.
 *
 * At the rows `xattn.look.rows` [B, T] marks (1: a reply row with a key-word target in a sequence whose
 * object is in the scene), each cross-attention layer's attention, averaged over heads, should put its mass on
 * the image tokens `xattn.look.tokens` [B, S] marks (1: the tokens of the object's grid cell):
 *   loss = mean over layers of  Σ_rows −log(mass + ε) / Σ_rows.
 * It reads each layer's queries and keys only (the values are the token marks): a layer's values, output, FFN and gates
 * get no gradient from its own term, only, for a layer before another, through the stream the later layer's queries
 * read. No parameters of its own: the checkpoint and every exported graph are unchanged.
 *
 * Legend: B sequences, T text rows, S image tokens, H query heads, K kv heads, Dh head dim.
 */
import * as G from '@herd/graph';
import { type Tensor } from '@herd/graph';

/** The look loss's inputs (`visionTrainingExtension` with `look`; fed by `adapterBatch`). */
export const LOOK_TOKENS = 'xattn.look.tokens';
export const LOOK_ROWS = 'xattn.look.rows';

/** Added to the attended mass before the log: a row that looks wholly elsewhere costs −log ε ≈ 13.8, not ∞. */
export const LOOK_EPS = 1e-6;

/** One cross-attention layer's look: its normed queries [B, H, T, Dh], keys [B, K, S, Dh] and mask [B, 1, T, S] (true = may attend). */
export interface LayerLook {
  readonly q: Tensor;
  readonly k: Tensor;
  readonly mask: Tensor;
}

/** Head-mean attention mass [B, T] of one layer on the marked tokens `tokens` [B, S]. */
export function lookedMass(layer: LayerLook, tokens: Tensor): Tensor {
  const [B, K] = layer.k.shape as number[];
  const S = tokens.shape[1] as number;
  const marks = G.expand(G.reshape(tokens, [B!, 1, S, 1]), [B!, K!, S, 1]); // the values: 1 on the marked tokens
  const mass = G.attention(layer.q, layer.k, marks, { mask: layer.mask }); // [B, H, T, 1]
  return G.squeeze(G.mean(mass, 1), -1); // [B, T]
}

/** The look loss (scalar) over `layers`, and the head-mean mass on the marked tokens averaged over the marked rows and layers (a metric). */
export function lookLoss(layers: readonly LayerLook[], tokens: Tensor, rows: Tensor): { loss: Tensor; mass: Tensor } {
  const count = G.maximum(G.sum(rows), 1); // a batch with no marked row has loss 0
  const per = layers.map((l) => {
    const mass = lookedMass(l, tokens);
    return { nll: G.div(G.sum(G.mul(G.neg(G.log(G.add(mass, LOOK_EPS))), rows)), count), mass: G.div(G.sum(G.mul(mass, rows)), count) };
  });
  const avg = (xs: Tensor[]) => G.div(xs.reduce((a, b) => G.add(a, b)), xs.length);
  return { loss: avg(per.map((x) => x.nll)), mass: avg(per.map((x) => x.mass)) };
}
