/**
 * Connected components of a duplicate graph (union-find with path halving), shared by the image and
 * speech near-duplicate stages. The root of a set is always its best member by `better(a, b)`
 * (e.g. higher quality, then earlier), so the representative to keep is `find(i)`.
 */
export class Components {
  private readonly parent: Int32Array;
  constructor(
    n: number,
    private readonly better: (a: number, b: number) => boolean,
  ) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
  }
  find(i: number): number {
    let x = i;
    while (this.parent[x] !== x) {
      this.parent[x] = this.parent[this.parent[x] as number] as number;
      x = this.parent[x] as number;
    }
    return x;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return;
    if (this.better(ra, rb)) this.parent[rb] = ra;
    else this.parent[ra] = rb;
  }
}


/**
 * Non-chaining grouping of a duplicate graph: union-find joins A and C when A ~ B ~ C even if A and
 * C look nothing alike, and in a world of similar scenes such chains merge unrelated images (more
 * false links with every sample). Here each group is a star: the ungrouped sample with the most
 * links (then the best by `better`) becomes a centre and takes its ungrouped neighbours, repeated
 * until every linked sample is grouped. Every member is linked directly to its centre, so two
 * members are at most two links apart. Returns, for each sample, the member kept for its group (the
 * best by `better`, which may be a neighbour rather than the centre); unlinked samples map to themselves.
 */
export function starGroups(n: number, pairs: readonly (readonly [number, number])[], better: (a: number, b: number) => boolean): Int32Array {
  const degree = new Int32Array(n);
  for (const [a, b] of pairs) {
    if (a === b) continue;
    degree[a]!++;
    degree[b]!++;
  }
  // Adjacency in compressed rows (pairs may be many; no per-sample arrays).
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) start[i + 1] = start[i]! + degree[i]!;
  const adj = new Int32Array(start[n]!);
  const fill = start.slice(0, n);
  for (const [a, b] of pairs) {
    if (a === b) continue;
    adj[fill[a]!++] = b;
    adj[fill[b]!++] = a;
  }
  const order = Array.from({ length: n }, (_, i) => i).filter((i) => degree[i]! > 0);
  order.sort((a, b) => degree[b]! - degree[a]! || (better(a, b) ? -1 : better(b, a) ? 1 : a - b));
  const keep = Int32Array.from({ length: n }, (_, i) => i);
  const grouped = new Uint8Array(n);
  for (const c of order) {
    if (grouped[c]) continue;
    const members = [c];
    grouped[c] = 1;
    for (let k = start[c]!; k < start[c + 1]!; k++) {
      const j = adj[k]!;
      if (grouped[j]) continue;
      grouped[j] = 1;
      members.push(j);
    }
    let best = c;
    for (const m of members) if (better(m, best)) best = m;
    for (const m of members) keep[m] = best;
  }
  return keep;
}
