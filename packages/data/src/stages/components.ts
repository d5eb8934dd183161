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

