/** Score histograms as standalone SVG files a person can open in a browser (no plotting dependency). */

export interface Histogram {
  title: string;
  bins: { lo: number; hi: number; count: number }[];
  n: number;
}

export function histogram(title: string, values: readonly number[], binCount = 20): Histogram {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { title, bins: [], n: 0 };
  // A loop, not Math.min(...values): spreading a million values overflows the call stack.
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of finite) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const w = (hi - lo) / binCount;
  const bins = Array.from({ length: binCount }, (_, i) => ({ lo: lo + i * w, hi: lo + (i + 1) * w, count: 0 }));
  for (const v of finite) (bins[Math.min(binCount - 1, Math.floor((v - lo) / w))] as { count: number }).count++;
  return { title, bins, n: finite.length };
}

/**
 * A histogram gathered one value at a time in bounded memory (a report over millions of kept
 * samples must not hold a number per sample): values are kept exactly up to `exactLimit`, then
 * counted in 4096 fine bins whose range doubles (neighbours merged) when a value falls outside it.
 * `build` re-bins into the plot's bins over the exact minimum and maximum (a value may land one
 * fine bin, 1/4096 of the range or less, from where the exact count would put it).
 */
export class HistogramBuilder {
  private values: number[] | null = [];
  private fine: Float64Array | null = null;
  private lo = 0;
  private width = 0;
  private min = Infinity;
  private max = -Infinity;
  n = 0;
  private static readonly FINE = 4096;

  constructor(private readonly exactLimit = 100_000) {}

  add(v: number): void {
    if (!Number.isFinite(v)) return;
    this.n++;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (this.values) {
      this.values.push(v);
      if (this.values.length > this.exactLimit) this.toBins();
      return;
    }
    this.count(v);
  }

  private toBins(): void {
    const vals = this.values as number[];
    this.values = null;
    this.lo = this.min;
    this.width = Math.max(this.max - this.min, 1e-9) * (1 + 1e-9);
    this.fine = new Float64Array(HistogramBuilder.FINE);
    for (const v of vals) this.count(v);
  }

  private count(v: number): void {
    const F = HistogramBuilder.FINE;
    let fine = this.fine as Float64Array;
    while (v < this.lo || v >= this.lo + this.width) {
      // Double the range towards v, merging neighbouring fine bins.
      const next = new Float64Array(F);
      const left = v < this.lo;
      for (let i = 0; i < F; i++) next[left ? (i + F) >> 1 : i >> 1]! += fine[i]!;
      if (left) this.lo -= this.width;
      this.width *= 2;
      fine = this.fine = next;
    }
    fine[Math.min(F - 1, Math.floor(((v - this.lo) / this.width) * F))]!++;
  }

  build(title: string, binCount = 20): Histogram {
    if (this.values) return histogram(title, this.values, binCount);
    let lo = this.min;
    let hi = this.max;
    if (hi === lo) {
      lo -= 0.5;
      hi += 0.5;
    }
    const w = (hi - lo) / binCount;
    const bins = Array.from({ length: binCount }, (_, i) => ({ lo: lo + i * w, hi: lo + (i + 1) * w, count: 0 }));
    const F = HistogramBuilder.FINE;
    const fine = this.fine as Float64Array;
    for (let i = 0; i < F; i++) {
      if (fine[i] === 0) continue;
      const centre = this.lo + ((i + 0.5) / F) * this.width;
      const b = Math.max(0, Math.min(binCount - 1, Math.floor((centre - lo) / w)));
      bins[b]!.count += fine[i]!;
    }
    return { title, bins, n: this.n };
  }
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(x: number): string {
  return Math.abs(x) >= 1000 || Number.isInteger(x) ? x.toFixed(0) : x.toPrecision(3);
}

export function histogramSvg(h: Histogram, width = 640, height = 360): string {
  const m = { l: 56, r: 16, t: 36, b: 48 };
  const pw = width - m.l - m.r;
  const ph = height - m.t - m.b;
  const max = Math.max(1, ...h.bins.map((b) => b.count));
  const bw = h.bins.length > 0 ? pw / h.bins.length : pw;
  let bars = '';
  h.bins.forEach((b, i) => {
    const bh = (b.count / max) * ph;
    bars += `<rect x="${(m.l + i * bw + 1).toFixed(1)}" y="${(m.t + ph - bh).toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${bh.toFixed(1)}" fill="#4a78b5"><title>${fmt(b.lo)}–${fmt(b.hi)}: ${b.count}</title></rect>`;
  });
  let ticks = '';
  for (let t = 0; t <= 4; t++) {
    const y = m.t + ph - (t / 4) * ph;
    ticks += `<line x1="${m.l - 4}" x2="${m.l}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#333"/><text x="${m.l - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" font-size="11">${fmt((t / 4) * max)}</text>`;
  }
  const first = h.bins[0];
  const last = h.bins[h.bins.length - 1];
  const xl = first && last ? [first.lo, (first.lo + last.hi) / 2, last.hi] : [];
  xl.forEach((v, i) => {
    ticks += `<text x="${(m.l + (i / 2) * pw).toFixed(1)}" y="${m.t + ph + 16}" text-anchor="middle" font-size="11">${fmt(v)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, sans-serif">
<rect width="${width}" height="${height}" fill="white"/>
<text x="${width / 2}" y="22" text-anchor="middle" font-size="14">${esc(h.title)} (n = ${h.n})</text>
${bars}
<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#333"/><line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#333"/>
${ticks}
<text x="${m.l + pw / 2}" y="${height - 10}" text-anchor="middle" font-size="12">score</text>
</svg>
`;
}
