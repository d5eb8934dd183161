/**
 * Which image each text token sees (Meta's vision-mask intervals; HF
 * `get_cross_attention_token_mask` + `convert_sparse_cross_attention_mask_to_dense`, reasoned from):
 * each `<|image|>` opens an interval that runs to the next `<|image|>` (the last one to the end of the
 * sequence, generated tokens included); consecutive image tokens all run to the end of the last one's
 * interval, so text after `<|image|><|image|>` sees both. Tokens before the first image see nothing.
 * Only an image's real tiles are visible, never its padding tiles.
 */

/** [start, end) per image, in order of their tokens; end may be Infinity. */
export function imageIntervals(tokens: readonly number[], imageTokenId: number): [number, number][] {
  const at = tokens.flatMap((t, i) => (t === imageTokenId ? [i] : []));
  const out: [number, number][] = at.map((s, j) => [s, j + 1 < at.length ? at[j + 1]! : Infinity]);
  for (let j = out.length - 2; j >= 0; j--) if (out[j]![1] === out[j]![0] + 1) out[j]![1] = out[j + 1]![1];
  return out;
}

export interface ImageLayout {
  /** Real tiles per image. */
  readonly nTiles: readonly number[];
  readonly maxTiles: number;
  /** Image tokens per tile (patches + class token). */
  readonly tokensPerTile: number;
}

/** Image tokens of a prompt: images × tile slots × tokens per tile. */
export function imageTokenCount(layout: ImageLayout): number {
  return layout.nTiles.length * layout.maxTiles * layout.tokensPerTile;
}

/**
 * Rows [start, start + count) of the cross-attention mask, row-major [count, S] (1 = may attend); key
 * s = (image · maxTiles + tile) · tokensPerTile + token.
 */
export function crossAttentionMaskRows(intervals: readonly (readonly [number, number])[], layout: ImageLayout, start: number, count: number): Uint8Array {
  const S = imageTokenCount(layout);
  const per = layout.maxTiles * layout.tokensPerTile;
  const m = new Uint8Array(count * S);
  for (let r = 0; r < count; r++) {
    const t = start + r;
    intervals.forEach(([s, e], j) => {
      if (t >= s && t < e) m.fill(1, r * S + j * per, r * S + j * per + layout.nTiles[j]! * layout.tokensPerTile);
    });
  }
  return m;
}
