import { describe, expect, it } from 'vitest';
import { bf16ToF32, decodeBf16, decodeF16, encodeBf16, encodeF16, f16ToF32, f32ToBf16, f32ToF16, roundToF16 } from './f16.js';

const isNanBits = (h: number): boolean => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

describe('f16 codec', () => {
  it('every one of the 65536 f16 bit patterns survives decode → encode exactly; NaN stays NaN', () => {
    // (a JS NaN carries no sign or payload, so for NaN only NaN-ness is kept)
    const wrong: string[] = [];
    let exact = 0;
    let nans = 0;
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const dec = decodeF16(all);
    const enc = encodeF16(dec);
    for (let h = 0; h < 65536; h++) {
      const back = f32ToF16(f16ToF32(h));
      if (isNanBits(h)) {
        if (isNanBits(back) && isNanBits(enc[h]!) && Number.isNaN(dec[h])) nans++;
        else wrong.push(`NaN 0x${h.toString(16)} -> 0x${back.toString(16)}`);
      } else if (back === h && enc[h] === h && Object.is(dec[h], f16ToF32(h))) exact++;
      else wrong.push(`0x${h.toString(16)} -> 0x${back.toString(16)} / 0x${enc[h]!.toString(16)}`);
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(exact).toBe(65536 - 2046);
    expect(nans).toBe(2046);
  });

  it('decodes the landmark values exactly', () => {
    expect(f16ToF32(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(f16ToF32(0x0400)).toBe(2 ** -14); // smallest normal
    expect(f16ToF32(0x7bff)).toBe(65504); // largest finite
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x3c00)).toBe(1);
  });

  it('encodes subnormals, ties to even, and overflow to Infinity', () => {
    const u = 2 ** -24; // one f16 subnormal step
    expect(f32ToF16(1023 * u)).toBe(0x03ff); // largest subnormal
    expect(f32ToF16(2 ** -14)).toBe(0x0400); // smallest normal
    expect(f32ToF16(1023.5 * u)).toBe(0x0400); // tie between 0x3ff (odd) and 0x400 → even: 0x400
    expect(f32ToF16(2.5 * u)).toBe(0x0002); // tie → even (2)
    expect(f32ToF16(3.5 * u)).toBe(0x0004); // tie → even (4)
    expect(f32ToF16(2.5 * u + 2 ** -40)).toBe(0x0003); // just above the tie: the sticky bits decide
    expect(f32ToF16(0.5 * u)).toBe(0x0000); // tie between 0 and the smallest subnormal → 0
    expect(f32ToF16(0.5 * u + 2 ** -40)).toBe(0x0001);
    expect(f32ToF16(-1023 * u)).toBe(0x83ff);
    expect(f32ToF16(2 ** -30)).toBe(0); // underflow
    expect(f32ToF16(-(2 ** -30))).toBe(0x8000); // signed zero
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie with even 0x3c00
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie with odd 0x3c01 → 0x3c02
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519.99)).toBe(0x7bff); // below the rounding boundary
    expect(f32ToF16(65520)).toBe(0x7c00); // the boundary rounds to even: Infinity
    expect(f32ToF16(1e6)).toBe(0x7c00);
    expect(f32ToF16(-1e6)).toBe(0xfc00);
    expect(f32ToF16(Infinity)).toBe(0x7c00);
    expect(isNanBits(f32ToF16(NaN))).toBe(true);
    expect(roundToF16(0.1)).toBe(f16ToF32(0x2e66));
  });

  it('a subnormal just above a tie rounds up: the bits shifted out decide (the old graph codec dropped them)', () => {
    // The codec graph/src/ir/tensor.ts had returned 0x0154, 0x0002 and 0x0000 for these three.
    const u = 2 ** -24;
    expect(f32ToF16(0x154 * u + 0.5 * u + 2 ** -38)).toBe(0x0155);
    expect(f32ToF16(2 * u + 0.5 * u + 2 ** -40)).toBe(0x0003);
    expect(f32ToF16(0.5 * u + 2 ** -40)).toBe(0x0001);
    expect(f32ToF16(0x154 * u + 0.5 * u)).toBe(0x0154); // the exact tie still goes to even
  });
});

describe('bf16 codec', () => {
  it('every bf16 pattern survives decode → encode; NaN stays NaN', () => {
    const nan = (h: number): boolean => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const enc = encodeBf16(decodeBf16(all));
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const back = f32ToBf16(bf16ToF32(h));
      const ok = nan(h) ? nan(back) && nan(enc[h]!) : back === h && enc[h] === h;
      if (!ok) wrong.push(h);
    }
    expect(wrong.slice(0, 10)).toEqual([]);
  });

  it('rounds to nearest even and overflows to Infinity', () => {
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie with even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie with odd → up
    expect(f32ToBf16(3.4028234663852886e38)).toBe(0x7f80); // f32 max rounds to Infinity in bf16
    expect(Array.from(encodeBf16([1 + 3 * 2 ** -8]))).toEqual([0x3f82]);
  });
});
