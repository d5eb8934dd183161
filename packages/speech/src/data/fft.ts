/**
 * A real-input FFT of any even length whose half factors into small primes (Whisper's n_fft 400 →
 * a 200-point complex FFT, 2·2·2·5·5). Mixed-radix decimation in time (the kissfft scheme): each
 * level splits into p interleaved sub-transforms and joins them with one generic radix-p butterfly
 * whose twiddles are folded into the inner DFT. f64 throughout.
 */
import { HerdError } from '@herd/core';

function factorize(n: number): number[] {
  const out: number[] = [];
  let m = n;
  for (const p of [4, 2, 3, 5]) while (m % p === 0) (out.push(p), (m /= p));
  for (let p = 7; m > 1; p += 2) while (m % p === 0) (out.push(p), (m /= p));
  return out;
}

/** Complex FFT of a fixed size on interleaved [re, im] f64 buffers. */
class ComplexFft {
  private readonly factors: number[];
  /** exp(−2πi k / n), interleaved. */
  private readonly tw: Float64Array;
  private readonly scratch: Float64Array;

  constructor(readonly n: number) {
    this.factors = factorize(n);
    this.tw = new Float64Array(2 * n);
    for (let k = 0; k < n; k++) {
      this.tw[2 * k] = Math.cos((-2 * Math.PI * k) / n);
      this.tw[2 * k + 1] = Math.sin((-2 * Math.PI * k) / n);
    }
    this.scratch = new Float64Array(2 * Math.max(...this.factors, 1));
  }

  /** out = DFT(in); both interleaved, length 2n. */
  transform(input: Float64Array, out: Float64Array): void {
    this.work(out, 0, input, 0, 1, 0);
  }

  private work(out: Float64Array, o: number, f: Float64Array, fi: number, fstride: number, level: number): void {
    const p = this.factors[level]!;
    const m = this.n / (fstride * p); // size of each sub-transform
    if (m === 1) {
      for (let k = 0; k < p; k++) {
        out[2 * (o + k)] = f[2 * (fi + k * fstride)]!;
        out[2 * (o + k) + 1] = f[2 * (fi + k * fstride) + 1]!;
      }
    } else {
      // Sub-transform q (inputs q, q+p, q+2p, … at this level) lands in out[o + q·m, o + (q+1)·m).
      for (let q = 0; q < p; q++) this.work(out, o + q * m, f, fi + q * fstride, fstride * p, level + 1);
    }
    // Butterflies: X[u + q1·m] = Σ_q Y_q[u] · W_N^{fstride·q·(u + q1·m)}.
    const { tw, scratch, n } = this;
    for (let u = 0; u < m; u++) {
      for (let q = 0; q < p; q++) {
        scratch[2 * q] = out[2 * (o + u + q * m)]!;
        scratch[2 * q + 1] = out[2 * (o + u + q * m) + 1]!;
      }
      for (let q1 = 0; q1 < p; q1++) {
        const k = u + q1 * m;
        let re = scratch[0]!;
        let im = scratch[1]!;
        let t = 0;
        const step = (fstride * k) % n;
        for (let q = 1; q < p; q++) {
          t += step;
          if (t >= n) t -= n;
          const wr = tw[2 * t]!;
          const wi = tw[2 * t + 1]!;
          const sr = scratch[2 * q]!;
          const si = scratch[2 * q + 1]!;
          re += sr * wr - si * wi;
          im += sr * wi + si * wr;
        }
        out[2 * (o + k)] = re;
        out[2 * (o + k) + 1] = im;
      }
    }
  }
}

/** Power spectrum |X[k]|², k = 0..n/2, of a real frame of even length n. */
export class RealFft {
  private readonly half: ComplexFft;
  private readonly packed: Float64Array;
  private readonly z: Float64Array;
  /** exp(−2πi k / n) for the split step. */
  private readonly tw: Float64Array;

  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 2 || n % 2 !== 0) throw new HerdError('invalid_argument', `RealFft: length must be an even integer ≥ 2, got ${n}`);
    const h = n / 2;
    this.half = new ComplexFft(h);
    this.packed = new Float64Array(n);
    this.z = new Float64Array(n);
    this.tw = new Float64Array(n);
    for (let k = 0; k < h; k++) {
      this.tw[2 * k] = Math.cos((-2 * Math.PI * k) / n);
      this.tw[2 * k + 1] = Math.sin((-2 * Math.PI * k) / n);
    }
  }

  /** Bins in the output: n/2 + 1. */
  get bins(): number {
    return this.n / 2 + 1;
  }

  /**
   * `power[k] = |Σ_j frame[j] e^{−2πijk/n}|²` for k = 0..n/2. The real frame is packed as n/2
   * complex values z[j] = x[2j] + i·x[2j+1], transformed once, then split into even/odd parts:
   * X[k] = E[k] + W^k O[k] with E = (Z[k] + conj Z[h−k]) / 2, O = (Z[k] − conj Z[h−k]) / 2i.
   */
  power(frame: Float64Array, power: Float64Array): void {
    const h = this.n / 2;
    this.packed.set(frame.subarray(0, this.n));
    this.half.transform(this.packed, this.z);
    const z = this.z;
    const tw = this.tw;
    for (let k = 0; k <= h; k++) {
      const a = k % h;
      const b = (h - k) % h;
      const zr = z[2 * a]!, zi = z[2 * a + 1]!;
      const cr = z[2 * b]!, ci = -z[2 * b + 1]!; // conj Z[h − k]
      const er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
      // (Z − conj)/2i = (dr + i·di)/2i = (di − i·dr)/2
      const dr = zr - cr, di = zi - ci;
      const or = 0.5 * di, oi = -0.5 * dr;
      const wr = k === h ? -1 : tw[2 * k]!, wi = k === h ? 0 : tw[2 * k + 1]!;
      const xr = er + wr * or - wi * oi;
      const xi = ei + wr * oi + wi * or;
      power[k] = xr * xr + xi * xi;
    }
  }
}
