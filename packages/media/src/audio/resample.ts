/**
 * Band-limited resampling: a polyphase Kaiser-windowed sinc. For a rational ratio to/from = L/M the
 * L phases of the filter are tabulated once; each output sample is one dot product.
 *
 * The cut-off sits at 0.90 of the lower Nyquist frequency, with 32 zero crossings a side and Kaiser
 * β = 9: the passband (up to about 0.82 of the lower Nyquist) is flat to within 0.01 dB and content
 * above the new Nyquist is attenuated by at least 80 dB (measured in resample.test.ts).
 */
import { HerdError } from '@herd/core';

const ZERO_CROSSINGS = 32;
const CUTOFF = 0.9;
const KAISER_BETA = 9;

/** Zeroth-order modified Bessel function of the first kind (series). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Resamples `samples` (any numeric array) from `from` Hz to `to` Hz; returns float samples. */
export function resample(samples: ArrayLike<number>, from: number, to: number): Float32Array {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from <= 0 || to <= 0) {
    throw new HerdError('invalid_argument', `resample: sample rates must be positive integers, got ${from} → ${to}`);
  }
  if (from === to) return Float32Array.from(samples);
  const g = gcd(from, to);
  const L = to / g; // up
  const M = from / g; // down
  const n = Math.ceil((samples.length * L) / M);
  const out = new Float32Array(n);
  // Cut-off relative to the input Nyquist; the kernel is measured in input samples.
  const fc = CUTOFF * Math.min(1, to / from);
  const half = Math.ceil(ZERO_CROSSINGS / fc); // taps a side, in input samples
  const i0b = besselI0(KAISER_BETA);
  const kernel = (d: number): number => {
    const r = d / (half + 1);
    if (r <= -1 || r >= 1) return 0;
    const x = fc * d;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    return fc * sinc * (besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / i0b);
  };
  // Output sample j sits at input time t = j·M/L = i + p/L with phase p = (j·M) mod L.
  const taps = 2 * half;
  const tabulate = L <= 4096;
  const table = tabulate ? new Float32Array(L * taps) : undefined;
  if (table) for (let p = 0; p < L; p++) for (let k = 0; k < taps; k++) table[p * taps + k] = kernel(p / L - (k - half + 1));
  const row = new Float32Array(taps);
  for (let j = 0; j < n; j++) {
    const i = Math.floor((j * M) / L);
    const p = j * M - i * L;
    let h: Float32Array;
    if (table) h = table.subarray(p * taps, (p + 1) * taps);
    else {
      for (let k = 0; k < taps; k++) row[k] = kernel(p / L - (k - half + 1));
      h = row;
    }
    // Input sample i + k - half + 1 pairs with tap k.
    const k0 = Math.max(0, half - 1 - i);
    const k1 = Math.min(taps, samples.length - i + half - 1);
    let acc = 0;
    for (let k = k0; k < k1; k++) acc += samples[i + k - half + 1]! * h[k]!;
    out[j] = acc;
  }
  return out;
}
