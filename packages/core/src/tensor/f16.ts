/**
 * The one f16 / bf16 codec. Encoding rounds to nearest, ties to even (IEEE 754 default), produces
 * subnormals, overflows to ±Infinity and keeps NaN a (quiet) NaN; decoding is exact.
 *
 * Encoding goes through f32 first (the input number is rounded to f32), as every f32 → f16 cast in
 * ONNX Runtime and PyTorch does; double rounding f64 → f32 → f16 can differ from a direct f64 → f16
 * rounding in the last bit, which is the behaviour callers compare against.
 */
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits to a number (exact). */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** A number (first rounded to f32) to binary16 bits. */
export function f32ToF16(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0] as number;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  // NaN keeps its top payload bits and is made quiet so it cannot become Infinity.
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal (or zero): the value is m · 2^(e-1-23) = (m >> (14 - e)) units of 2^-24, with
    // every shifted-out bit kept for the rounding decision (dropping them is the classic bug).
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, up to Infinity: that is the correct rounding.
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** bfloat16 bits to a number (exact). */
export function bf16ToF32(bits: number): number {
  u32Scratch[0] = (bits & 0xffff) << 16;
  return f32Scratch[0] as number;
}

/** A number (first rounded to f32) to bfloat16 bits, round to nearest even; NaN stays (quiet) NaN. */
export function f32ToBf16(x: number): number {
  f32Scratch[0] = x;
  return bf16FromF32Bits(u32Scratch[0] as number);
}

function bf16FromF32Bits(b: number): number {
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The number an f32 value becomes after a trip through f16 (what saving in f16 does to it). */
export function roundToF16(x: number): number {
  return f16ToF32(f32ToF16(x));
}

let f16Table: Float32Array | undefined;

/** f16 bit patterns to f32 values (exact; a 64K-entry table). */
export function decodeF16(bits: Uint16Array): Float32Array {
  if (f16Table === undefined) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  const table = f16Table;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i] as number] as number;
  return out;
}

export function encodeF16(values: Float32Array | Float64Array | readonly number[]): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i] as number);
  return out;
}

export function decodeBf16(bits: Uint16Array): Float32Array {
  const words = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) words[i] = (bits[i] as number) << 16;
  return new Float32Array(words.buffer);
}

export function encodeBf16(values: Float32Array | Float64Array | readonly number[]): Uint16Array {
  const out = new Uint16Array(values.length);
  if (values instanceof Float32Array) {
    const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i++) out[i] = bf16FromF32Bits(words[i] as number);
  } else {
    for (let i = 0; i < values.length; i++) out[i] = f32ToBf16(values[i] as number);
  }
  return out;
}
