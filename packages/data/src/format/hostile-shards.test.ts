// Hostile tar shards (issue 14): every case ends in kept samples, a marker with a reason naming the
// shard and member, a reported problem, or a clear error, with exact counts. The tars are built
// byte by byte by fixtures/hostile-tars.ts; nothing binary is committed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { END, gnuLongName, header, member, noise, pax, sample, tar } from '../fixtures/hostile-tars.js';
import { isUnreadable, type Sample, type Unreadable } from '../sample.js';
import { readShard, type ReadShardOptions } from './read.js';
import { readTar, unsafeMemberName } from './tar.js';

const root = mkdtempSync(join(tmpdir(), 'herd-hostile-shards-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function shardFile(bytes: Buffer): string {
  const path = join(root, `shard-${String(n++).padStart(6, '0')}.tar`);
  writeFileSync(path, bytes);
  return path;
}

async function read(bytes: Buffer, o: ReadShardOptions = {}): Promise<{ items: string[]; bad: Unreadable[]; good: Sample[]; problems: string[] }> {
  const problems: string[] = [];
  const items: (Sample | Unreadable)[] = [];
  for await (const it of readShard(shardFile(bytes), { tolerant: true, onProblem: (p) => problems.push(p), ...o })) items.push(it);
  return {
    items: items.map((i) => (isUnreadable(i) ? `!${i.key}` : i.key)),
    bad: items.filter(isUnreadable),
    good: items.filter((i): i is Sample => !isUnreadable(i)),
    problems,
  };
}

describe('unsafe member names are refused, naming the shard and the member', () => {
  const cases: [string, Buffer, string, RegExp][] = [
    ['relative traversal', member('../../evil.txt', 'x'), '!../../evil', /unsafe member name "\.\.\/\.\.\/evil\.txt" in shard-\d+\.tar: path traversal/],
    ['absolute path', member('/abs/x.txt', 'x'), '!/abs/x', /"\/abs\/x\.txt" .*absolute path/],
    ['drive letter', member('C:\\x.txt', 'x'), '!C:\\x', /backslash in name/],
    ['drive letter, forward slash', member('C:/x.txt', 'x'), '!C:/x', /drive letter/],
    ['traversal via the ustar prefix field', member('evil.txt', 'x', { prefix: '../..' }), '!../../evil', /"\.\.\/\.\.\/evil\.txt".*path traversal/],
    ['traversal via a pax path record', tar(pax({ path: '../../pax.txt' }), member('benign.txt', 'x')), '!../../pax', /"\.\.\/\.\.\/pax\.txt".*path traversal/],
    ['traversal via a GNU long name', tar(gnuLongName('a/../../gnu.txt'), member('././@LongLink', 'x', { format: 'gnu' })), '!a/../../gnu', /path traversal/],
    ['control characters', member('a\u0007b.txt', 'x'), '!a\u0007b', /control character/],
    ['invalid UTF-8', member('', 'x', { rawName: Uint8Array.from([0x61, 0xff, 0x2e, 0x74, 0x78, 0x74]) }), '!a\u00ff', /not valid UTF-8/],
  ];
  for (const [what, bad, key, reason] of cases) {
    it(what, async () => {
      const r = await read(tar(sample('before'), bad, sample('after'), END), { expectedCount: 3 });
      expect(r.items).toEqual(['before', key, 'after']);
      expect(r.bad[0]?.detail).toMatch(reason);
      expect(r.problems).toEqual([]);
    });
  }

  it('./ prefixes are normalised away, not refused', async () => {
    const r = await read(tar(sample('./a/b'), END));
    expect(r.items).toEqual(['a/b']);
    expect(unsafeMemberName('a/./b.txt')).toMatch(/"\."/);
    expect(unsafeMemberName('a//b.txt')).toMatch(/empty/);
    expect(unsafeMemberName('a/b.txt')).toBeUndefined();
  });
});

describe('links and special members are refused with a reason; the sample goes with them', () => {
  const types: [string, string][] = [
    ['1', 'hardlink'],
    ['2', 'symlink'],
    ['3', 'char-device'],
    ['4', 'block-device'],
    ['6', 'fifo'],
    ['S', 'sparse'],
  ];
  for (const [flag, name] of types) {
    it(name, async () => {
      const special = member('s1.png', '', { type: flag, linkname: flag <= '2' ? '/etc/passwd' : '', format: flag === 'S' ? 'gnu' : 'ustar' });
      const r = await read(tar(sample('s0'), sample('s1'), special, sample('s2'), END));
      expect(r.items).toEqual(['s0', '!s1', 's2']);
      expect(r.bad[0]?.detail).toMatch(new RegExp(`member "s1\\.png" in shard-\\d+\\.tar is a ${name} .*links and special files are refused`));
    });
  }

  it('directory members are skipped (they hold no sample data)', async () => {
    const r = await read(tar(member('dir/', '', { type: '5' }), sample('dir/a'), END));
    expect(r.items).toEqual(['dir/a']);
  });
});

describe('damage never costs the valid samples around it', () => {
  it('garbage after the end-of-archive is reported and ignored; the last sample is kept', async () => {
    const r = await read(tar(sample('a'), sample('b'), END, noise(3000)), { expectedCount: 2 });
    expect(r.items).toEqual(['a', 'b']);
    expect(r.problems).toEqual([expect.stringMatching(/^\d+ non-zero bytes after the end-of-archive at byte 4096 \(ignored\)$/)]);
    // GNU tar agrees on where the archive ends.
    expect(execFileSync('tar', ['-tf', join(root, `shard-${String(n - 1).padStart(6, '0')}.tar`)], { encoding: 'utf8' }).trim().split('\n')).toEqual(['a.json', 'a.txt', 'b.json', 'b.txt']);
  });

  it('a cut between two samples keeps the complete sample before it; the count names what is lost', async () => {
    const r = await read(tar(sample('a'), sample('b')), { expectedCount: 3 });
    expect(r.items).toEqual(['a', 'b', '!shard-' + String(n - 1).padStart(6, '0') + '.tar#2']);
    expect(r.bad[0]?.detail).toBe('missing from shard (shard ends early)');
    // With nothing missing by count, the absent end marker is still reported.
    const whole = await read(tar(sample('a'), sample('b')), { expectedCount: 2 });
    expect(whole.items).toEqual(['a', 'b']);
    expect(whole.problems).toEqual([expect.stringMatching(/no end-of-archive marker at byte 4096/)]);
  });

  it('a single zero block then end of file is an end-of-archive too', async () => {
    const r = await read(tar(sample('a'), Buffer.alloc(512)), { expectedCount: 1 });
    expect(r.items).toEqual(['a']);
    expect(r.problems).toEqual([]);
  });

  it('a garbled header between samples costs the sample it started, the reader resyncs after it', async () => {
    const garbled = header('b.json', { size: 10 });
    garbled.fill(0x41, 0, 50);
    const r = await read(tar(sample('a'), garbled, Buffer.alloc(512), member('b.txt', 'b'), sample('c'), END), { expectedCount: 3 });
    expect(r.items).toEqual(['a', '!b', 'c']);
    expect(r.bad[0]?.detail).toMatch(/its members may be incomplete \(follows damaged tar data: bad header checksum at byte 2048\)/);
    expect(r.problems).toEqual(['bad header checksum at byte 2048']);
  });

  it('with an index, tar damage outside the indexed samples is reported, not swallowed', async () => {
    const garbled = header('zzz.json', { size: 0 });
    garbled.fill(0x42, 0, 30);
    const bytes = tar(sample('a'), sample('b'), garbled, END);
    const expected = [
      { key: 'a', sizes: { json: 11, txt: 12 } },
      { key: 'b', sizes: { json: 11, txt: 12 } },
    ];
    const r = await read(bytes, { expected });
    expect(r.items).toEqual(['a', 'b']);
    expect(r.problems).toEqual(['bad header checksum at byte 4096']);
    // A strict reader refuses the shard, naming it.
    await expect(async () => {
      for await (const _ of readShard(shardFile(bytes), { expected })) void _;
    }).rejects.toMatchObject({ code: 'corrupt_data', message: expect.stringMatching(/shard-\d+\.tar: bad header checksum at byte 4096/) });
  });
});

describe('whole-shard damage: a clear error or a marker per promised sample', () => {
  it('a zero-byte shard', async () => {
    const r = await read(Buffer.alloc(0), { expectedCount: 3 });
    expect(r.items).toHaveLength(3);
    expect(r.bad.map((b) => b.detail)).toEqual(Array(3).fill('missing from shard (shard is empty (0 bytes; a tar holds at least its 1024-byte end-of-archive))'));
    expect(r.problems).toEqual([expect.stringMatching(/shard is empty \(0 bytes/)]);
    await expect(async () => {
      for await (const _ of readShard(shardFile(Buffer.alloc(0)))) void _;
    }).rejects.toMatchObject({ code: 'corrupt_data', message: expect.stringMatching(/shard-\d+\.tar: shard is empty/) });
  });

  it('a gzipped shard is named as such', async () => {
    const r = await read(gzipSync(tar(sample('a'), END)), { expectedCount: 1 });
    expect(r.items).toEqual([expect.stringMatching(/^!shard-\d+\.tar#0$/)]);
    expect(r.bad[0]?.detail).toBe('missing from shard (file is gzip-compressed, not a plain tar (decompress it first))');
  });

  it('random bytes: every promised sample is a marker, the damage is reported once', async () => {
    const r = await read(noise(8192, 7), { expectedCount: 4 });
    expect(r.items).toHaveLength(4);
    expect(r.bad.every((b) => /missing from shard/.test(b.detail))).toBe(true);
    expect(r.problems).toEqual(['bad header checksum at byte 0']);
  });

  it('a shard cut inside a header', async () => {
    const bytes = tar(sample('a'), sample('b'));
    const r = await read(bytes.subarray(0, bytes.length - 1024 - 100), { expectedCount: 2 });
    expect(r.items).toEqual(['a', '!b']);
    expect(r.bad[0]?.detail).toMatch(/shard ends inside this sample|missing from shard/);
  });
});

describe('formats and poison members', () => {
  it('pre-POSIX (V7) tars are read', async () => {
    const r = await read(tar(sample('a', 'x', { v: 7 }, { format: 'v7' }), sample('b', 'y', { v: 7 }, { format: 'v7' }), END));
    expect(r.items).toEqual(['a', 'b']);
    expect(r.good[0]?.meta).toEqual({ v: 7 });
    expect(new TextDecoder().decode(r.good[1]?.files.txt)).toBe('y');
  });

  it('GNU long names and pax paths within the rules are honoured', async () => {
    const long = 'k'.repeat(120);
    const r = await read(tar(gnuLongName(`${long}.json`), member('x', '{}', { format: 'gnu' }), pax({ path: 'p/q.json' }), member('ignored', '{}'), END));
    expect(r.items).toEqual([long, 'p/q']);
  });

  it('meta nested 5000 deep, megabyte meta, non-UTF-8 meta, a meta array: markers naming the sample', async () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const r = await read(
      tar(
        member('deep.json', `{"a":${deep}}`),
        member('big.json', JSON.stringify({ s: 'x'.repeat(30000) })),
        member('latin.json', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe9, 0x22, 0x7d])),
        member('arr.json', '[1]'),
        sample('ok'),
        END,
      ),
      { maxMetaBytes: 20000 },
    );
    expect(r.items).toEqual(['!deep', '!big', '!latin', '!arr', 'ok']);
    expect(r.bad.map((b) => b.detail)).toEqual([
      'meta JSON is nested 5001 levels deep (limit 64)',
      'meta JSON is 30008 bytes (limit 20000)',
      'meta JSON is not valid UTF-8',
      'meta JSON is not an object',
    ]);
  });

  it('a member larger than the limit is refused without being read', async () => {
    const r = await read(tar(member('a.bin', noise(5000)), sample('b'), END), { maxMemberBytes: 4096 });
    expect(r.items).toEqual(['!a', 'b']);
    expect(r.bad[0]?.detail).toBe('member "a.bin" is 5000 bytes (limit 4096)');
  });

  it('the tar reader reports member types and offsets as tar defines them', async () => {
    mkdirSync(join(root, 'x'), { recursive: true });
    const path = shardFile(tar(sample('a'), member('l.png', '', { type: '2', linkname: 'a.txt' }), END));
    const events = [];
    for await (const e of readTar(path)) events.push(e.kind === 'member' ? `${e.name}:${e.type}@${e.offset}` : e.kind === 'end' ? `end:${e.marker}@${e.offset}` : `damage@${e.offset}`);
    expect(events).toEqual(['a.json:file@0', 'a.txt:file@1024', 'l.png:symlink@2048', 'end:eoa@2560']);
  });
});
