import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isHerdError } from './errors.js';
import { Rng } from './rng.js';
import {
  SafetensorsFile,
  ShardedSafetensors,
  bf16ToF32,
  decodeBf16,
  decodeF16,
  encodeBf16,
  encodeF16,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  openSafetensors,
  writeSafetensors,
  writeSafetensorsSync,
  writeShardedSafetensors,
  type TensorToWrite,
} from './safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'herd-safetensors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectHerdError(fn: () => unknown, code: Parameters<typeof isHerdError>[1], ...fragments: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(isHerdError(caught, code), `expected HerdError(${code}), got ${String(caught)}`).toBe(true);
  for (const f of fragments) expect((caught as Error).message).toContain(f);
}

/** Builds a file byte by byte, independent of our writer, to check the reader against the format. */
function handMade(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('f16 / bf16 conversions', () => {
  it('f16 decodes known bit patterns exactly', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x0400)).toBe(2 ** -14);
    expect(f16ToF32(0x3555)).toBe(0.333251953125);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Number.isNaN(f16ToF32(0x7e00))).toBe(true);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
  });

  it('every finite f16 value survives f16 -> f32 -> f16 unchanged', () => {
    for (let h = 0; h < 0x10000; h++) {
      const exp = (h >>> 10) & 0x1f;
      if (exp === 0x1f && (h & 0x3ff) !== 0) continue; // NaN payloads are not preserved bit for bit
      expect(f32ToF16(f16ToF32(h))).toBe(h);
    }
    const all = new Uint16Array(0x10000).map((_, i) => i);
    const back = encodeF16(decodeF16(all));
    for (let h = 0; h < 0x10000; h++) {
      const isNaN16 = ((h >>> 10) & 0x1f) === 0x1f && (h & 0x3ff) !== 0;
      if (isNaN16) expect(((back[h] as number) & 0x7c00) === 0x7c00 && ((back[h] as number) & 0x3ff) !== 0).toBe(true);
      else expect(back[h]).toBe(h);
    }
  });

  it('f32 -> f16 rounds to nearest even, overflows to Infinity, underflows to zero', () => {
    // 1 + 2^-11 is exactly half way between 1 and 1 + 2^-10: ties to even (1).
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00);
    // 1 + 3*2^-11 is half way between 1+2^-10 (odd) and 1+2^-9 (even): rounds up.
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    expect(f32ToF16(65520)).toBe(0x7c00); // half way past the largest finite rounds to Infinity
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal -> 0
    expect(f32ToF16(3 * 2 ** -26)).toBe(0x0001);
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // subnormal rounding carries into the first normal
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(1e10)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f16ToF32(f32ToF16(NaN))).toBeNaN();
  });

  it('bf16 is exact on representable values and rounds to nearest even', () => {
    for (const x of [0, 1, -1, 2, 0.5, 3.140625, -1.5, 2 ** 100, 2 ** -126, 2 ** -133, 65536, 1.0078125]) {
      expect(bf16ToF32(f32ToBf16(x))).toBe(x);
    }
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie -> even (up)
    expect(f32ToBf16(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(f32ToBf16(Infinity)).toBe(0x7f80);
    expect(f32ToBf16(3.4028234663852886e38)).toBe(0x7f80); // rounds past the largest bf16
    expect(bf16ToF32(f32ToBf16(NaN))).toBeNaN();
    const rng = new Rng(7);
    const bits = new Uint16Array(4096).map(() => rng.int(0x10000));
    const back = encodeBf16(decodeBf16(bits));
    for (let i = 0; i < bits.length; i++) {
      const b = bits[i] as number;
      const isNaN16 = (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
      if (!isNaN16) expect(back[i]).toBe(b);
    }
  });
});

describe('safetensors round trip', () => {
  const rng = new Rng(1);
  const f32 = Float32Array.from({ length: 24 }, () => rng.normal());
  const tensors: Record<string, TensorToWrite> = {
    'model.f64': { dtype: 'F64', shape: [3], data: Float64Array.from([Math.PI, -1e300, 5e-324]) },
    'model.f32': { dtype: 'F32', shape: [2, 3, 4], data: f32 },
    'model.f16': { dtype: 'F16', shape: [4], data: Float32Array.from([1, -2, 0.5, 65504]) },
    'model.f16bits': { dtype: 'F16', shape: [2], data: Uint16Array.from([0x3c00, 0x0001]) },
    'model.bf16': { dtype: 'BF16', shape: [2, 2], data: Float32Array.from([1, -3.140625, 2 ** 100, 0]) },
    'model.i64': { dtype: 'I64', shape: [3], data: BigInt64Array.from([-(2n ** 63n), 0n, 2n ** 62n]) },
    'model.i32': { dtype: 'I32', shape: [2], data: Int32Array.from([-2147483648, 2147483647]) },
    'model.i16': { dtype: 'I16', shape: [1], data: Int16Array.from([-5]) },
    'model.i8': { dtype: 'I8', shape: [2], data: Int8Array.from([-128, 127]) },
    'model.u64': { dtype: 'U64', shape: [1], data: BigUint64Array.from([2n ** 64n - 1n]) },
    'model.u32': { dtype: 'U32', shape: [1], data: Uint32Array.from([4294967295]) },
    'model.u16': { dtype: 'U16', shape: [1], data: Uint16Array.from([65535]) },
    'model.u8': { dtype: 'U8', shape: [3], data: Uint8Array.from([0, 128, 255]) },
    'model.bool': { dtype: 'BOOL', shape: [2, 2], data: Uint8Array.from([1, 0, 0, 1]) },
    'model.scalar': { dtype: 'F32', shape: [], data: Float32Array.from([42]) },
    'model.empty': { dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
    'model.f8raw': { dtype: 'F8_E4M3', shape: [2], data: Uint8Array.from([0x38, 0xb8]) },
  };
  const path = join(dir, 'all.safetensors');

  it('writes and reads every dtype, with metadata', async () => {
    await writeSafetensors(path, tensors, { format: 'pt', note: 'herd test' });
    const f = SafetensorsFile.open(path);
    expect(f.metadata).toEqual({ format: 'pt', note: 'herd test' });
    expect(new Set(f.names())).toEqual(new Set(Object.keys(tensors)));
    expect(f.read('model.f64').data).toEqual(Float64Array.from([Math.PI, -1e300, 5e-324]));
    expect(f.read('model.f32').data).toEqual(f32);
    expect(f.read('model.f32').shape).toEqual([2, 3, 4]);
    expect(f.read('model.f16').data).toEqual(Float32Array.from([1, -2, 0.5, 65504]));
    expect(f.read('model.f16bits').data).toEqual(Float32Array.from([1, 2 ** -24]));
    expect(f.read('model.bf16').data).toEqual(Float32Array.from([1, -3.140625, 2 ** 100, 0]));
    expect(f.read('model.i64').data).toEqual(BigInt64Array.from([-(2n ** 63n), 0n, 2n ** 62n]));
    expect(f.read('model.i32').data).toEqual(Int32Array.from([-2147483648, 2147483647]));
    expect(f.read('model.i16').data).toEqual(Int16Array.from([-5]));
    expect(f.read('model.i8').data).toEqual(Int8Array.from([-128, 127]));
    expect(f.read('model.u64').data).toEqual(BigUint64Array.from([2n ** 64n - 1n]));
    expect(f.read('model.u32').data).toEqual(Uint32Array.from([4294967295]));
    expect(f.read('model.u16').data).toEqual(Uint16Array.from([65535]));
    expect(f.read('model.u8').data).toEqual(Uint8Array.from([0, 128, 255]));
    expect(f.read('model.bool').data).toEqual(Uint8Array.from([1, 0, 0, 1]));
    expect(f.read('model.scalar')).toEqual({ dtype: 'F32', shape: [], data: Float32Array.from([42]) });
    expect(f.read('model.empty').data).toEqual(new Float32Array(0));
    expect(f.readBytes('model.f8raw')).toEqual(Uint8Array.from([0x38, 0xb8]));
    expect(() => f.read('model.f8raw')).toThrow(/F8_E4M3.*readBytes/);
    expect(f.readFloat32('model.f16')).toEqual(Float32Array.from([1, -2, 0.5, 65504]));
    expect(f.readFloat32('model.f64')[0]).toBe(Math.fround(Math.PI));
    expectHerdError(() => f.readFloat32('model.i32'), 'dtype_mismatch', 'model.i32', 'I32');
  });

  it('exposes absolute byte ranges that hold exactly the tensor bytes, aligned, without gaps', () => {
    const f = SafetensorsFile.open(path);
    const file = readFileSync(path);
    const infos = f.infos();
    expect((8 + f.headerBytes) % 8).toBe(0);
    let expectedOffset = 8 + f.headerBytes;
    for (const info of infos) {
      expect(info.byteOffset).toBe(expectedOffset);
      expect(info.byteOffset % Math.max(1, info.byteLength / Math.max(1, info.numel))).toBe(0);
      expectedOffset += info.byteLength;
      const slice = new Uint8Array(file.buffer, file.byteOffset + info.byteOffset, info.byteLength);
      expect(f.readBytes(info.name)).toEqual(Uint8Array.from(slice));
    }
    expect(expectedOffset).toBe(file.length);
    const i32 = f.info('model.i32');
    expect(file.readInt32LE(i32.byteOffset + 4)).toBe(2147483647);
  });

  it('reads files built by hand to the format (hex-exact header layout)', () => {
    const data = new Uint8Array(new Float32Array([1.5, -2]).buffer);
    const p = join(dir, 'hand.safetensors');
    writeFileSync(
      p,
      handMade({ __metadata__: { a: 'b' }, w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data),
    );
    const f = openSafetensors(p);
    expect(f.metadata).toEqual({ a: 'b' });
    expect(f.read('w').data).toEqual(Float32Array.from([1.5, -2]));
  });

  it('the sync writer writes the same bytes as the async one', async () => {
    const a = join(dir, 'a.safetensors');
    const b = join(dir, 'b.safetensors');
    await writeSafetensors(a, tensors);
    writeSafetensorsSync(b, tensors);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('names a missing tensor and suggests close names', () => {
    const f = SafetensorsFile.open(path);
    expectHerdError(() => f.info('model.f33'), 'checkpoint_mismatch', path, "'model.f33'", 'model.f32');
  });

  it('rejects bad data before writing anything, listing every problem', async () => {
    const p = join(dir, 'never.safetensors');
    await expect(
      writeSafetensors(p, {
        a: { dtype: 'F32', shape: [3], data: new Float32Array(2) },
        b: { dtype: 'I32', shape: [1], data: new Float32Array(1) },
        c: { dtype: 'BOOL', shape: [1], data: Uint8Array.from([2]) },
      }),
    ).rejects.toThrow(/tensor 'a'.*12 bytes[\s\S]*tensor 'b'.*Int32Array[\s\S]*tensor 'c'.*BOOL/);
    expect(readdirSync(dir).includes('never.safetensors')).toBe(false);
  });
});

describe('safetensors corruption', () => {
  async function fresh(name: string): Promise<string> {
    const p = join(dir, name);
    await writeSafetensors(p, {
      'layers.0.w': { dtype: 'F32', shape: [16], data: new Float32Array(16).fill(1) },
      'layers.1.w': { dtype: 'F32', shape: [16], data: new Float32Array(16).fill(2) },
    });
    return p;
  }

  it('a truncated file names the file and the tensor that no longer fits', async () => {
    const p = await fresh('trunc.safetensors');
    const f = SafetensorsFile.open(p);
    const last = f.infos()[f.infos().length - 1];
    truncateSync(p, (last?.byteOffset ?? 0) + 10);
    expectHerdError(() => SafetensorsFile.open(p), 'corrupt_data', p, `'${last?.name}'`, 'truncated');
  });

  it('truncation after opening is caught when reading', async () => {
    const p = await fresh('trunc-late.safetensors');
    const f = SafetensorsFile.open(p);
    const last = f.infos()[f.infos().length - 1] as { name: string; byteOffset: number };
    truncateSync(p, last.byteOffset + 4);
    expectHerdError(() => f.read(last.name), 'corrupt_data', p, last.name, 'truncated');
  });

  it('a file cut inside the header, or too short, is corrupt_data', async () => {
    const p = await fresh('trunc-header.safetensors');
    truncateSync(p, 20);
    expectHerdError(() => SafetensorsFile.open(p), 'corrupt_data', p, 'header');
    const q = join(dir, 'tiny.safetensors');
    writeFileSync(q, Uint8Array.from([1, 2, 3]));
    expectHerdError(() => SafetensorsFile.open(q), 'corrupt_data', q, 'too short');
  });

  it('an absurd header length is refused without allocating it', () => {
    const p = join(dir, 'huge-header.safetensors');
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 60n, true);
    writeFileSync(p, bytes);
    expectHerdError(() => SafetensorsFile.open(p), 'corrupt_data', p, 'header length');
  });

  it('bad header contents are all reported at once, each naming its tensor', () => {
    const p = join(dir, 'bad-header.safetensors');
    writeFileSync(
      p,
      handMade(
        {
          a: { dtype: 'F17', shape: [1], data_offsets: [0, 4] },
          b: { dtype: 'F32', shape: [2], data_offsets: [0, 4] },
          c: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] },
          d: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
          e: { dtype: 'F32', shape: [1], data_offsets: [2, 6] },
        },
        new Uint8Array(8),
      ),
    );
    expectHerdError(
      () => SafetensorsFile.open(p),
      'corrupt_data',
      p,
      "tensor 'a': unknown dtype \"F17\"",
      "tensor 'b'",
      "tensor 'c'",
      "'d' and 'e' overlap",
    );
    const q = join(dir, 'not-json.safetensors');
    const bytes = handMade({}, new Uint8Array(0));
    bytes[8] = 0x7b;
    bytes[9] = 0x7b;
    writeFileSync(q, bytes);
    expectHerdError(() => SafetensorsFile.open(q), 'corrupt_data', q, 'not valid JSON');
  });
});

describe('sharded checkpoints', () => {
  const rng = new Rng(3);
  const tensors: Record<string, TensorToWrite> = {};
  for (let i = 0; i < 5; i++) {
    tensors[`layers.${i}.attention.wq.weight`] = {
      dtype: 'BF16',
      shape: [8, 8],
      data: encodeBf16(Float32Array.from({ length: 64 }, () => rng.normal())),
    };
  }
  tensors['tok_embeddings.weight'] = { dtype: 'F32', shape: [10, 8], data: Float32Array.from({ length: 80 }, (_, i) => i) };

  it('writes shards with an index and reads every tensor back through it', async () => {
    const sub = join(dir, 'sharded');
    const indexPath = await writeShardedSafetensors(sub, tensors, { maxShardBytes: 300, metadata: { format: 'pt' } });
    expect(indexPath).toBe(join(sub, 'model.safetensors.index.json'));
    const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { weight_map: Record<string, string>; metadata: { total_size: number } };
    const shards = new Set(Object.values(index.weight_map));
    expect(shards.size).toBeGreaterThan(1);
    expect(index.metadata.total_size).toBe(5 * 128 + 320);

    const ck = openSafetensors(sub);
    expect(ck).toBeInstanceOf(ShardedSafetensors);
    expect(new Set(ck.names())).toEqual(new Set(Object.keys(tensors)));
    for (const [name, t] of Object.entries(tensors)) {
      const info = ck.info(name);
      expect(info.file).toBe(join(sub, index.weight_map[name] as string));
      const raw = readFileSync(info.file).subarray(info.byteOffset, info.byteOffset + info.byteLength);
      expect(new Uint8Array(raw)).toEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
    expect(ck.read('layers.3.attention.wq.weight').data).toEqual(decodeBf16(tensors['layers.3.attention.wq.weight']?.data as Uint16Array));
    expect(ck.readFloat32('tok_embeddings.weight')[79]).toBe(79);
    expect(openSafetensors(indexPath).names().length).toBe(6);
  });

  it('reports a missing shard and a tensor its shard lacks, all at once', async () => {
    const sub = join(dir, 'sharded-bad');
    const indexPath = await writeShardedSafetensors(sub, tensors, { maxShardBytes: 300 });
    const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { weight_map: Record<string, string> };
    const firstShard = index.weight_map['layers.0.attention.wq.weight'] as string;
    index.weight_map['layers.9.attention.wq.weight'] = firstShard;
    writeFileSync(indexPath, JSON.stringify(index));
    expectHerdError(() => ShardedSafetensors.open(indexPath), 'checkpoint_mismatch', "'layers.9.attention.wq.weight'", firstShard);

    index.weight_map['extra'] = 'model-00009-of-00009.safetensors';
    writeFileSync(indexPath, JSON.stringify(index));
    expectHerdError(() => ShardedSafetensors.open(indexPath), 'checkpoint_mismatch', 'model-00009-of-00009.safetensors', "'extra'");

    index.weight_map['evil'] = '../outside.safetensors';
    writeFileSync(indexPath, JSON.stringify(index));
    expectHerdError(() => ShardedSafetensors.open(indexPath), 'corrupt_data', 'evil');
  });

  it('a folder without a checkpoint says what it looked for', () => {
    expectHerdError(() => openSafetensors(dir), 'checkpoint_mismatch', 'model.safetensors.index.json', 'model.safetensors');
  });
});
