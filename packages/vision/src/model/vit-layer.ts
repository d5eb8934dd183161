/**
 * One ViT layer of the image encoder (§7.2; HF `MllamaVisionEncoderLayer`) as @herd/graph's shared
 * pre-norm Transformer block: LayerNorm → multi-head self-attention (no biases) → residual →
 * LayerNorm → GELU MLP (with biases) → residual. The global layers the paper adds before adapter
 * training scale both branches by tanh gates (0 at init, so a fresh global stack is the identity).
 *
 * Legend: B images, L tokens (all tiles of an image, padded patches included), D width.
 */
import * as G from '@herd/graph';
import { type ParamSpec, type Params, type Tensor, type TransformerBlockConfig } from '@herd/graph';
import { type VisionConfig } from '../config.js';

/** The block config of an encoder layer; `gated` for the global layers (`gate_attn`, `gate_ffn`). */
export function vitBlockConfig(cfg: VisionConfig, gated: boolean): TransformerBlockConfig {
  return {
    norm: { kind: 'layer', eps: cfg.normEps },
    attention: { dim: cfg.dim, nHeads: cfg.nHeads },
    mlp: { kind: 'gelu', dim: cfg.dim, hidden: cfg.ffnDim },
    gated,
    names: { attnGate: 'gate_attn', mlpGate: 'gate_ffn' },
  };
}

export function vitLayerSpecs(cfg: VisionConfig, prefix: string, gated: boolean): ParamSpec[] {
  return G.transformerBlockParamSpecs(prefix, vitBlockConfig(cfg, gated));
}

/** x [B, L, D], mask bool broadcastable to [B, 1, L, L] → [B, L, D]. */
export function vitLayer(cfg: VisionConfig, p: Params, prefix: string, x: Tensor, mask: Tensor, gated: boolean): Tensor {
  return G.transformerBlock(p, prefix, x, vitBlockConfig(cfg, gated), { mask }).out;
}
