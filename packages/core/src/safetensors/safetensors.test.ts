import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isHerdError } from '../errors.js';
import { Rng } from '../rng.js';
import { type StorageDType } from '../tensor/dtype.js';
import { decodeBf16, encodeBf16 } from '../tensor/f16.js';
import { type HostTensor, castFloat, hostTensor } from '../tensor/host-tensor.js';
import { SafetensorsFile } from './read.js';
import { ShardedSafetensors, openSafetensors, writeShardedSafetensors } from './sharded.js';
import { writeSafetensors, writeSafetensorsSync } from './write.js';

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

describe('safetensors round trip', () => {
  const rng = new Rng(1);
  const f32 = Float32Array.from({ length: 24 }, () => rng.normal());
  const tensors: Record<string, HostTensor<StorageDType>> = {
    'model.f64': hostTensor('f64', [3], Float64Array.from([Math.PI, -1e300, 5e-324])),
    'model.f32': hostTensor('f32', [2, 3, 4], f32),
    'model.f16': castFloat(hostTensor('f32', [4], Float32Array.from([1, -2, 0.5, 65504])), 'f16'),
    'model.f16bits': hostTensor('f16', [2], Uint16Array.from([0x3c00, 0x0001])),
    'model.bf16': castFloat(hostTensor('f32', [2, 2], Float32Array.from([1, -3.140625, 2 ** 100, 0])), 'bf16'),
    'model.i64': hostTensor('i64', [3], BigInt64Array.from([-(2n ** 63n), 0n, 2n ** 62n])),
    'model.i32': hostTensor('i32', [2], Int32Array.from([-2147483648, 2147483647])),
    'model.u8': hostTensor('u8', [3], Uint8Array.from([0, 128, 255])),
    'model.bool': hostTensor('bool', [2, 2], Uint8Array.from([1, 0, 0, 1])),
    'model.scalar': hostTensor('f32', [], Float32Array.from([42])),
    'model.empty': hostTensor('f32', [0, 5], new Float32Array(0)),
  };
  const path = join(dir, 'all.safetensors');

  it('writes and reads every herd dtype, with metadata', async () => {
    await writeSafetensors(path, tensors, { format: 'pt', note: 'herd test' });
    const f = SafetensorsFile.open(path);
    expect(f.metadata).toEqual({ format: 'pt', note: 'herd test' });
    expect(new Set(f.names())).toEqual(new Set(Object.keys(tensors)));
    for (const [name, t] of Object.entries(tensors)) expect(f.read(name), name).toEqual(t);
    expect(f.info('model.bf16').dtype).toBe('BF16');
    expect(f.read('model.f16').data).toEqual(Uint16Array.from([0x3c00, 0xc000, 0x3800, 0x7bff]));
    expect(f.readFloat32('model.f16bits')).toEqual(Float32Array.from([1, 2 ** -24]));
    expect(f.readFloat32('model.bf16')).toEqual(Float32Array.from([1, -3.140625, 2 ** 100, 0]));
    expect(f.read('model.scalar')).toEqual({ dtype: 'f32', shape: [], data: Float32Array.from([42]) });
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

  it('reads the format dtypes herd has no name for by widening them exactly; F8 only as bytes', () => {
    const parts: [string, string, number[], Uint8Array][] = [
      ['u64', 'U64', [2], new Uint8Array(BigUint64Array.from([2n ** 63n - 1n, 7n]).buffer)],
      ['u64big', 'U64', [1], new Uint8Array(BigUint64Array.from([2n ** 64n - 1n]).buffer)],
      ['u32', 'U32', [1], new Uint8Array(Uint32Array.from([4294967295]).buffer)],
      ['i16', 'I16', [2], new Uint8Array(Int16Array.from([-5, 32767]).buffer)],
      ['u16', 'U16', [1], new Uint8Array(Uint16Array.from([65535]).buffer)],
      ['i8', 'I8', [2], new Uint8Array(Int8Array.from([-128, 127]).buffer)],
      ['f8', 'F8_E4M3', [2], Uint8Array.from([0x38, 0xb8])],
    ];
    const header: Record<string, unknown> = {};
    let off = 0;
    for (const [name, dtype, shape, bytes] of parts) {
      header[name] = { dtype, shape, data_offsets: [off, off + bytes.length] };
      off += bytes.length;
    }
    const data = new Uint8Array(off);
    off = 0;
    for (const [, , , bytes] of parts) {
      data.set(bytes, off);
      off += bytes.length;
    }
    const p = join(dir, 'format-dtypes.safetensors');
    writeFileSync(p, handMade(header, data));
    const f = SafetensorsFile.open(p);
    expect(f.read('u64')).toEqual({ dtype: 'i64', shape: [2], data: BigInt64Array.from([2n ** 63n - 1n, 7n]) });
    expectHerdError(() => f.read('u64big'), 'dtype_mismatch', p, "'u64big'", 'does not fit i64');
    expect(f.read('u32')).toEqual({ dtype: 'i64', shape: [1], data: BigInt64Array.from([4294967295n]) });
    expect(f.read('i16')).toEqual({ dtype: 'i32', shape: [2], data: Int32Array.from([-5, 32767]) });
    expect(f.read('u16')).toEqual({ dtype: 'i32', shape: [1], data: Int32Array.from([65535]) });
    expect(f.read('i8')).toEqual({ dtype: 'i32', shape: [2], data: Int32Array.from([-128, 127]) });
    expect(f.readBytes('f8')).toEqual(Uint8Array.from([0x38, 0xb8]));
    expectHerdError(() => f.read('f8'), 'dtype_mismatch', 'F8_E4M3', 'readBytes');
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
        a: { dtype: 'f32', shape: [3], data: new Float32Array(2) },
        b: { dtype: 'i32', shape: [1], data: new Float32Array(1) },
        c: { dtype: 'bool', shape: [1], data: Uint8Array.from([2]) },
      }),
    ).rejects.toThrow(/tensor 'a'.*12 bytes[\s\S]*tensor 'b'.*Int32Array[\s\S]*tensor 'c'.*bool/);
    expect(readdirSync(dir).includes('never.safetensors')).toBe(false);
  });
});

describe('safetensors corruption', () => {
  async function fresh(name: string): Promise<string> {
    const p = join(dir, name);
    await writeSafetensors(p, {
      'layers.0.w': hostTensor('f32', [16], new Float32Array(16).fill(1)),
      'layers.1.w': hostTensor('f32', [16], new Float32Array(16).fill(2)),
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
  const tensors: Record<string, HostTensor<StorageDType>> = {};
  for (let i = 0; i < 5; i++) {
    tensors[`layers.${i}.attention.wq.weight`] = hostTensor('bf16', [8, 8], encodeBf16(Float32Array.from({ length: 64 }, () => rng.normal())));
  }
  tensors['tok_embeddings.weight'] = hostTensor('f32', [10, 8], Float32Array.from({ length: 80 }, (_, i) => i));

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
    expect(ck.readFloat32('layers.3.attention.wq.weight')).toEqual(decodeBf16(tensors['layers.3.attention.wq.weight']?.data as Uint16Array));
    expect(ck.read('layers.3.attention.wq.weight')).toEqual(tensors['layers.3.attention.wq.weight']);
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
