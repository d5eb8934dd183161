/** Hostile safetensors files and sharded indexes (issue 14): each one refused naming the file and the problem, or accepted on purpose. */
import { mkdirSync, statSync, symlinkSync, truncateSync } from 'node:fs';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { encodeF16, openSafetensors } from '@herd/core';
import { deepJson, entry, f32Bytes, makeFifo, safetensorsBytes, write } from './build.js';
import { type HostileTable } from './cases.js';

export interface SafetensorsInput {
  readonly path: string;
  readonly checkFinite?: boolean;
}

const one = (dir: string, name: string, bytes: Uint8Array): { input: SafetensorsInput; names: string } => {
  const path = write(join(dir, name), bytes);
  return { input: { path }, names: path };
};

/** A valid two-tensor shard: a [2] f32 and b [2] f32. */
function shard(names: readonly string[]): Uint8Array {
  const parts = names.map((n, i) => `"${n}":${entry('F32', [2], i * 8, i * 8 + 8)}`);
  return safetensorsBytes(`{${parts.join(',')}}`, f32Bytes(names.flatMap(() => [1, 2])));
}

function sharded(dir: string, weightMap: string, shards: Record<string, readonly string[]>): { input: SafetensorsInput; names: string } {
  for (const [file, names] of Object.entries(shards)) write(join(dir, file), shard(names));
  const index = write(join(dir, 'model.safetensors.index.json'), `{"metadata":{"total_size":16},"weight_map":${weightMap}}`);
  return { input: { path: index }, names: index };
}

export const SAFETENSORS_CASES: HostileTable<SafetensorsInput> = {
  reader: 'safetensors',
  read: ({ path, checkFinite }) => {
    const f = openSafetensors(path, checkFinite === undefined ? {} : { checkFinite });
    // Reading every tensor is part of loading: the non-finite check runs here.
    return Object.fromEntries(f.names().map((n) => [n, f.read(n)]));
  },
  cases: [
    {
      name: 'a tensor named twice in the header',
      build: (d) => one(d, 'dup.safetensors', safetensorsBytes(`{"w":${entry('F32', [1], 0, 4)},"w":${entry('F32', [1], 4, 8)}}`, f32Bytes([1, 2]))),
      expect: { code: 'corrupt_data', says: ['names a tensor twice', '"w"'] },
    },
    {
      name: 'header bytes that are not UTF-8',
      build: (d) => {
        const h = new TextEncoder().encode(`{"w\u00e9":${entry('F32', [1], 0, 4)}}`);
        h[3] = 0xff; // inside the name: an invalid UTF-8 lead byte
        return one(d, 'utf8.safetensors', safetensorsBytes(h, f32Bytes([1])));
      },
      expect: { code: 'corrupt_data', says: ['not valid UTF-8'] },
    },
    {
      name: 'a header nested 100000 deep (must not throw a raw RangeError)',
      build: (d) => one(d, 'deep.safetensors', safetensorsBytes(`{"__metadata__":{"x":${deepJson(100_000)}}}`)),
      expect: { code: 'corrupt_data', says: ['nests deeper than 16 levels'] },
    },
    {
      name: 'a header length beyond the 100 MB limit',
      build: (d) => one(d, 'huge-header.safetensors', safetensorsBytes('{}', new Uint8Array(8), 200_000_000n)),
      expect: { code: 'corrupt_data', says: ['header length 200000000 exceeds'] },
    },
    {
      name: 'a gap between two tensors',
      build: (d) => one(d, 'gap.safetensors', safetensorsBytes(`{"a":${entry('F32', [1], 0, 4)},"b":${entry('F32', [1], 8, 12)}}`, f32Bytes([1, 0, 2]))),
      expect: { code: 'corrupt_data', says: ["gap of 4 bytes before tensor 'b'"] },
    },
    {
      name: 'two tensors sharing bytes',
      build: (d) => one(d, 'overlap.safetensors', safetensorsBytes(`{"a":${entry('F32', [2], 0, 8)},"b":${entry('F32', [2], 4, 12)}}`, f32Bytes([1, 2, 3]))),
      expect: { code: 'corrupt_data', says: ["tensors 'a' and 'b' overlap"] },
    },
    {
      name: 'bytes after the last tensor',
      build: (d) => one(d, 'trailing.safetensors', safetensorsBytes(`{"a":${entry('F32', [1], 0, 4)}}`, f32Bytes([1, 666]))),
      expect: { code: 'corrupt_data', says: ["4 trailing bytes after the last tensor ('a')"] },
    },
    {
      name: 'data offsets past the end of the file',
      build: (d) => one(d, 'range.safetensors', safetensorsBytes(`{"a":${entry('F32', [4], 0, 16)}}`, f32Bytes([1]))),
      expect: { code: 'corrupt_data', says: ["tensor 'a': data ends at byte", 'truncated file?'] },
    },
    {
      name: 'an unknown dtype',
      build: (d) => one(d, 'dtype.safetensors', safetensorsBytes(`{"a":${entry('F17', [1], 0, 4)}}`, f32Bytes([1]))),
      expect: { code: 'corrupt_data', says: ["tensor 'a': unknown dtype \"F17\"", 'valid: F64, F32'] },
    },
    {
      name: 'a shape that does not match the byte count',
      build: (d) => one(d, 'shape.safetensors', safetensorsBytes(`{"a":${entry('F32', [3], 0, 8)}}`, f32Bytes([1, 2]))),
      expect: { code: 'corrupt_data', says: ["tensor 'a': F32[3] needs 12 bytes but data_offsets [0, 8] span 8"] },
    },
    {
      name: 'a shape too large to address',
      build: (d) => one(d, 'vast.safetensors', safetensorsBytes(`{"a":${entry('F32', [2 ** 40, 2 ** 40], 0, 4)}}`, f32Bytes([1]))),
      expect: { code: 'corrupt_data', says: ["tensor 'a'", 'too large to address'] },
    },
    {
      name: 'a header that is a JSON array',
      build: (d) => one(d, 'array.safetensors', safetensorsBytes('[1,2]      ')),
      expect: { code: 'corrupt_data', says: ['must be a JSON object, got an array'] },
    },
    {
      name: 'a header that is not JSON',
      build: (d) => one(d, 'notjson.safetensors', safetensorsBytes('{"a": nope}')),
      expect: { code: 'corrupt_data', says: ['not valid JSON', 'line 1 column 7'] },
    },
    {
      name: 'an empty file',
      build: (d) => one(d, 'empty.safetensors', new Uint8Array(0)),
      expect: { code: 'corrupt_data', says: ['0 bytes is too short'] },
    },
    {
      name: 'a file cut inside a tensor',
      build: (d) => {
        const r = one(d, 'cut.safetensors', safetensorsBytes(`{"a":${entry('F32', [4], 0, 16)}}`, f32Bytes([1, 2, 3, 4])));
        truncateSync(r.input.path, statSync(r.input.path).size - 6);
        return r;
      },
      expect: { code: 'corrupt_data', says: ["tensor 'a'", 'truncated'] },
    },
    {
      name: 'a FIFO named model.safetensors (must not hang)',
      build: (d) => {
        const p = makeFifo(join(d, 'model.safetensors'));
        return p === undefined ? undefined : { input: { path: p }, names: p };
      },
      expect: { code: 'corrupt_data', says: ['is a FIFO (named pipe); only regular files are read'] },
    },
    {
      name: 'a folder holding no checkpoint',
      build: (d) => {
        const p = join(d, 'weights.safetensors');
        mkdirSync(p);
        return { input: { path: p }, names: p };
      },
      expect: { code: 'checkpoint_mismatch', says: ['holds neither model.safetensors.index.json nor model.safetensors'] },
    },
    {
      name: 'a folder whose model.safetensors is a directory',
      build: (d) => {
        const p = join(d, 'model.safetensors');
        mkdirSync(p);
        return { input: { path: d }, names: p };
      },
      expect: { code: 'corrupt_data', says: ['safetensors file', 'is a directory, not a file'] },
    },
    {
      name: 'an all-NaN model.norm.weight',
      build: (d) => one(d, 'nan.safetensors', safetensorsBytes(`{"model.norm.weight":${entry('F32', [4], 0, 16)}}`, f32Bytes([NaN, NaN, NaN, NaN]))),
      expect: { code: 'non_finite', says: ["tensor 'model.norm.weight' holds 4 non-finite values (NaN or ±Infinity) of 4", 'checkFinite: false'] },
    },
    {
      name: 'an f16 tensor with one Infinity',
      build: (d) => one(d, 'inf16.safetensors', safetensorsBytes(`{"w":${entry('F16', [4], 0, 8)}}`, new Uint8Array(encodeF16([1, 2, Infinity, 3]).buffer))),
      expect: { code: 'non_finite', says: ["tensor 'w' holds 1 non-finite value (NaN or ±Infinity) of 4"] },
    },
    {
      name: 'NaN weights with the check switched off',
      build: (d) => {
        const r = one(d, 'nan-trusted.safetensors', safetensorsBytes(`{"w":${entry('F32', [2], 0, 8)}}`, f32Bytes([NaN, 1])));
        return { input: { path: r.input.path, checkFinite: false }, names: r.names };
      },
      expect: {
        accept: 'checkFinite: false is the documented way to load a trusted file without the scan (or to inspect a damaged one)',
        check: (r) => assert.ok(Number.isNaN((r as Record<string, { data: Float32Array }>)['w']?.data[0])),
      },
    },
    {
      name: 'a symlink to a valid file',
      build: (d) => {
        const target = write(join(d, 'real.safetensors'), safetensorsBytes(`{"w":${entry('F32', [1], 0, 4)}}`, f32Bytes([5])));
        const link = join(d, 'link.safetensors');
        symlinkSync(target, link);
        return { input: { path: link }, names: link };
      },
      expect: { accept: 'a link to a regular file is how model caches (Hugging Face hub) lay out checkpoints', check: (r) => assert.ok('w' in (r as object)) },
    },
    {
      name: 'an empty checkpoint (header {} and no data)',
      build: (d) => one(d, 'none.safetensors', safetensorsBytes('{}')),
      expect: { accept: 'the format allows it; a model loader then reports every tensor it needs as missing', check: (r) => assert.deepEqual(r, {}) },
    },
    // Sharded checkpoints: the index and its shards must agree.
    {
      name: 'an index naming a shard that does not exist',
      build: (d) => sharded(d, '{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}', { 'model-00001-of-00002.safetensors': ['a'] }),
      expect: { code: 'checkpoint_mismatch', says: ['shard model-00002-of-00002.safetensors', 'does not exist'] },
    },
    {
      name: 'a tensor present in two shards',
      build: (d) => sharded(d, '{"a":"s1.safetensors","b":"s2.safetensors"}', { 's1.safetensors': ['a', 'b'], 's2.safetensors': ['b'] }),
      expect: { code: 'checkpoint_mismatch', says: ["tensor 'b' is in 2 shards (s1.safetensors, s2.safetensors)"] },
    },
    {
      name: 'a tensor listed twice in the weight_map',
      build: (d) => sharded(d, '{"a":"s1.safetensors","a":"s2.safetensors"}', { 's1.safetensors': ['a'], 's2.safetensors': ['b'] }),
      expect: { code: 'corrupt_data', says: ['key "a" appears twice'] },
    },
    {
      name: 'a tensor mapped to a shard that lacks it',
      build: (d) => sharded(d, '{"a":"s1.safetensors","ghost":"s1.safetensors"}', { 's1.safetensors': ['a'] }),
      expect: { code: 'checkpoint_mismatch', says: ["tensor 'ghost' is mapped to s1.safetensors, which does not contain it"] },
    },
    {
      name: 'a shard holding a tensor the index leaves out',
      build: (d) => sharded(d, '{"a":"s1.safetensors"}', { 's1.safetensors': ['a', 'stray'] }),
      expect: { code: 'checkpoint_mismatch', says: ["shard s1.safetensors holds tensor 'stray', which the index does not list"] },
    },
    {
      name: 'a shard path that leaves the folder',
      build: (d) => sharded(d, '{"a":"../elsewhere.safetensors"}', {}),
      expect: { code: 'corrupt_data', says: ["tensor 'a': shard must be a file name beside the index"] },
    },
    {
      name: 'an index that is not JSON',
      build: (d) => {
        const p = write(join(d, 'model.safetensors.index.json'), '{"weight_map": {');
        return { input: { path: p }, names: p };
      },
      expect: { code: 'corrupt_data', says: ['safetensors index', 'not acceptable JSON'] },
    },
    {
      name: 'an index without a weight_map',
      build: (d) => {
        const p = write(join(d, 'model.safetensors.index.json'), '{"metadata": {}}');
        return { input: { path: p }, names: p };
      },
      expect: { code: 'corrupt_data', says: ['no "weight_map" object'] },
    },
  ],
};

