/**
 * Where a tile sits (§7.2: "tile-position and aspect-ratio embeddings (gated) tell the encoder where
 * each tile sits"; HF `MllamaPrecomputedAspectRatioEmbedding` / `MllamaPrecomputedPositionEmbedding`).
 * Both are looked up by the image's aspect-ratio id (0 = padding image), so one row holds a vector
 * for every tile slot of that arrangement.
 *
 * Legend: B images, N tile slots (maxTiles), P tokens per tile, D width.
 */
import * as G from '@herd/graph';
import { type Params, type Tensor } from '@herd/graph';

/** x [B, N, P, D] + tanh(gate) · table[id] viewed [B, N, 1, D]: one vector per tile, shared by its tokens. */
export function aspectRatioEmbedding(p: Params, prefix: string, x: Tensor, ids: Tensor): Tensor {
  const [b, n, , d] = x.shape;
  const e = G.reshape(G.gather(p(`${prefix}.embedding.weight`), ids), [b!, n!, 1, d!]); // [B, N·D] → [B, N, 1, D]
  return G.add(x, G.mul(e, G.tanh(p(`${prefix}.gate`))));
}

/**
 * x [B, N, P, D] + (1 − tanh g) · pos [P, D] + tanh g · tile[id] viewed [B, N, P, D]: at init (g = 0)
 * the plain ViT position embedding; training moves weight to the per-arrangement one.
 */
export function gatedPositionalEmbedding(p: Params, prefix: string, x: Tensor, ids: Tensor): Tensor {
  const [b, n, tok, d] = x.shape;
  const g = G.tanh(p(`${prefix}.gate`));
  const pos = G.mul(G.sub(1, g), p(`${prefix}.embedding`)); // [P, D]
  const tile = G.reshape(G.gather(p(`${prefix}.tile_embedding.weight`), ids), [b!, n!, tok!, d!]); // [B, N·P·D] → [B, N, P, D]
  return G.add(G.add(x, pos), G.mul(g, tile));
}
