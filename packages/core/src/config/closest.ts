/** The one "did you mean" helper: the known names closest to a misspelt one. */

/** Levenshtein distance, case-insensitive. */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    let prev = d[0] as number;
    d[0] = i;
    for (let j = 1; j <= y.length; j++) {
      const cur = d[j] as number;
      d[j] = Math.min(cur + 1, (d[j - 1] as number) + 1, prev + (x[i - 1] === y[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[y.length] as number;
}

/**
 * Up to `k` names from `known` closest to `name`, best first. With `maxDistance` only names within that
 * many edits are returned (for config keys: a typo, not a different key); without it, the nearest ones
 * whatever the distance (for tensor names, where a listing of neighbours helps). Ties keep `known`'s order.
 */
export function closestNames(name: string, known: Iterable<string>, o: { k?: number; maxDistance?: number } = {}): string[] {
  const k = o.k ?? 5;
  const scored: { n: string; d: number; i: number }[] = [];
  let i = 0;
  for (const n of known) {
    // Long names (tensor paths) are compared in full; the cost is bounded by the caller's list size.
    const d = editDistance(name, n);
    if (o.maxDistance === undefined || d <= o.maxDistance) scored.push({ n, d, i });
    i++;
  }
  scored.sort((a, b) => a.d - b.d || a.i - b.i);
  return scored.slice(0, k).map((s) => s.n);
}

/** " (did you mean 'x'?)" or "". */
export function didYouMean(name: string, known: Iterable<string>, maxDistance = 2): string {
  const near = closestNames(name, known, { k: 1, maxDistance })[0];
  return near === undefined ? '' : ` (did you mean '${near}'?)`;
}
