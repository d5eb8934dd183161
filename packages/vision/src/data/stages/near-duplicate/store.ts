/**
 * What the decision keeps of each image (`DedupStore`): in memory the key, quality, aspect, hashes,
 * background chroma and pooled colour layout of every view; the layouts and thumbnails the
 * verification reads go to a temporary spill file (`SideFile`) read back only for candidate pairs.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HerdError } from '@herd/core';
import { backgroundChroma, layoutSummary, SUMMARY_SIDE } from '../phash.js';
import { hexHalves } from './search.js';

/** What one image looks like to the verification: colour layout and grey thumbnail, base64. */
export interface DedupView {
  /** Perceptual hash, 16 hex digits. */
  h: string;
  /** Colour layout, int8 as base64. */
  l: string;
  /** 32×32 grey thumbnail, uint8 as base64. */
  t: string;
}

export interface DedupFeature {
  /** Perceptual hash, 16 hex digits (hash modes). */
  h?: string;
  /** Colour layout, int8 as base64, and log(width / height). */
  l?: string;
  a?: number;
  /** 32×32 grey thumbnail, uint8 as base64. */
  t?: string;
  /** The same at each centre-crop scale (`cropScales`, in order). */
  c?: DedupView[];
  /** 64×64 grey thumbnail of the whole image (`fineThumb`), uint8 as base64: the fine verification. */
  g?: string;
  /** Embedding, unit length (embedding modes). */
  e?: number[];
  /** Quality score: the highest of a component is kept. */
  q: number;
}

/** Length of `layoutSummary` (Y, Cb, Cr of each pooled cell, then the background). */
export const SUMMARY_LEN = 3 * SUMMARY_SIDE * SUMMARY_SIDE + 3;

/** A growable typed array. */
class Grow<T extends Float32Array | Float64Array | Uint32Array | Int8Array> {
  private buf: T;
  length = 0;
  constructor(private readonly make: (n: number) => T) {
    this.buf = make(1024);
  }
  push(values: ArrayLike<number>): void {
    while (this.length + values.length > this.buf.length) {
      const next = this.make(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf.set(values, this.length);
    this.length += values.length;
  }
  view(): T {
    return this.buf.subarray(0, this.length) as T;
  }
}

/** Verification data of one image and its crops, read back from the spill file. */
interface SideRecord {
  layout: Int8Array[];
  thumb: Uint8Array[];
  /** The whole image's fine thumbnail (empty when the features carried none). */
  fine: Uint8Array;
}

/**
 * Fixed-size records (layout + thumbnail for the whole image and each crop) appended to a temporary
 * file and read back by index: the verification data stays on disk, not in memory.
 */
class SideFile {
  private readonly dir: string;
  private readonly fd: number;
  /** Records not yet written: one reused staging buffer (no allocation per record). */
  private staging: Buffer | undefined;
  private pendingBytes = 0;
  private written = 0;
  private readonly cache = new Map<number, SideRecord>();

  constructor(
    parent: string,
    readonly views: number,
    readonly layoutLen: number,
    readonly thumbLen: number,
    readonly fineLen: number,
  ) {
    this.dir = mkdtempSync(join(parent, 'herd-dedup-'));
    this.fd = openSync(join(this.dir, 'views.bin'), 'w+');
  }

  get recordBytes(): number {
    return this.views * (this.layoutLen + this.thumbLen) + this.fineLen;
  }

  /** The next record's bytes, zeroed, in the staging buffer: the caller fills them in place. */
  reserve(): Buffer {
    const size = this.recordBytes;
    this.staging ??= Buffer.alloc(Math.max(size, Math.floor((1 << 20) / Math.max(1, size)) * size));
    if (this.pendingBytes + size > this.staging.length) this.flush();
    const rec = this.staging.subarray(this.pendingBytes, this.pendingBytes + size);
    rec.fill(0);
    this.pendingBytes += size;
    return rec;
  }

  flush(): void {
    if (this.pendingBytes === 0 || this.staging === undefined) return;
    let at = 0;
    while (at < this.pendingBytes) at += writeSync(this.fd, this.staging, at, this.pendingBytes - at, this.written + at);
    this.written += this.pendingBytes;
    this.pendingBytes = 0;
  }

  read(i: number): SideRecord {
    const hit = this.cache.get(i);
    if (hit) return hit;
    this.flush();
    const buf = Buffer.alloc(this.recordBytes);
    readSync(this.fd, buf, 0, buf.length, i * this.recordBytes);
    const rec: SideRecord = { layout: [], thumb: [], fine: new Uint8Array(buf.buffer, buf.byteOffset + this.views * (this.layoutLen + this.thumbLen), this.fineLen) };
    for (let v = 0; v < this.views; v++) {
      const o = v * (this.layoutLen + this.thumbLen);
      rec.layout.push(new Int8Array(buf.buffer, buf.byteOffset + o, this.layoutLen));
      rec.thumb.push(new Uint8Array(buf.buffer, buf.byteOffset + o + this.layoutLen, this.thumbLen));
    }
    // A small cache: candidate pairs are visited grouped by their first sample.
    if (this.cache.size >= 512) this.cache.clear();
    this.cache.set(i, rec);
    return rec;
  }

  close(): void {
    closeSync(this.fd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * What the decision needs, kept compactly: in memory the key, quality, hashes (whole image and each
 * crop) and aspect, plus the embedding in the embedding modes; the layouts and thumbnails of every
 * view go to a `SideFile` on disk.
 */
export class DedupStore {
  readonly keys: string[] = [];
  private readonly q = new Grow((n) => new Float64Array(n));
  private readonly hi = new Grow((n) => new Uint32Array(n));
  private readonly lo = new Grow((n) => new Uint32Array(n));
  private readonly aspect = new Grow((n) => new Float32Array(n));
  /** Background chroma (Cb/Y, Cr/Y) of every view, NaN where unknown: a check that needs no disk read. */
  private readonly chroma = new Grow((n) => new Float32Array(n));
  /** Pooled colour layout of every view (`layoutSummary` × 127, int8): the candidate search's colour part. */
  private readonly summary = new Grow((n) => new Int8Array(n));
  private readonly emb = new Grow((n) => new Float32Array(n));
  private side: SideFile | undefined;
  private dims = -1;
  private crops = -1;

  constructor(private readonly spillDir: string = tmpdir()) {}

  add(key: string, f: DedupFeature | null): void {
    if (f === null) return;
    const i = this.keys.length;
    if (f.e !== undefined) {
      if (this.dims < 0) this.dims = f.e.length;
      if (f.e.length !== this.dims) throw new HerdError('invalid_argument', `near_duplicate: ${key} has a ${f.e.length}-d embedding, expected ${this.dims}`);
      this.emb.push(f.e);
    }
    if (f.h !== undefined) {
      const views: { h: string; l?: string | undefined; t?: string | undefined }[] = [{ h: f.h, l: f.l, t: f.t }, ...(f.c ?? [])];
      if (this.crops < 0) this.crops = views.length - 1;
      if (views.length - 1 !== this.crops) throw new HerdError('invalid_argument', `near_duplicate: ${key} has ${views.length - 1} crop views, expected ${this.crops} (every feature of one run must come from the same options)`);
      for (const v of views) {
        const [h, l] = hexHalves(v.h);
        this.hi.push([h]);
        this.lo.push([l]);
      }
      const ls = views.map((v) => (v.l === undefined ? undefined : Buffer.from(v.l, 'base64')));
      for (const l of ls) {
        const layout = l && new Int8Array(l.buffer, l.byteOffset, l.length);
        this.chroma.push((layout && backgroundChroma(layout)) ?? [Number.NaN, Number.NaN]);
        this.summary.push(layout ? Array.from(layoutSummary(layout), (x) => Math.round(127 * x)) : new Int8Array(SUMMARY_LEN));
      }
      const ts = views.map((v) => (v.t === undefined ? undefined : Buffer.from(v.t, 'base64')));
      const g = f.g === undefined ? undefined : Buffer.from(f.g, 'base64');
      this.side ??= new SideFile(this.spillDir, views.length, ls[0]?.length ?? 0, ts[0]?.length ?? 0, g?.length ?? 0);
      const side = this.side;
      const rec = side.reserve();
      views.forEach((_, v) => {
        const o = v * (side.layoutLen + side.thumbLen);
        // A missing (or odd-sized) layout or thumbnail is stored as zeros and skipped by the checks.
        const lv = ls[v];
        const tv = ts[v];
        if (lv !== undefined && lv.length === side.layoutLen) lv.copy(rec, o);
        if (tv !== undefined && tv.length === side.thumbLen) tv.copy(rec, o + side.layoutLen);
      });
      if (g !== undefined && g.length === side.fineLen) g.copy(rec, views.length * (side.layoutLen + side.thumbLen));
    }
    this.aspect.push([f.a ?? Number.NaN]);
    this.q.push([f.q]);
    this.keys.push(key);
    if ((f.e !== undefined && this.emb.length !== this.keys.length * this.dims) || (f.h !== undefined && this.hi.length !== this.keys.length * this.views)) {
      throw new HerdError('invalid_argument', `near_duplicate: ${key}: every feature of one run must carry the same signals (sample ${i})`);
    }
  }
  /** Number of hash views per sample (whole image + crops). */
  get views(): number {
    return Math.max(0, this.crops) + 1;
  }
  /** Hash halves of view v of every sample (v = 0: whole image, 1…: crops). */
  hashes(v = 0): { hi: Uint32Array; lo: Uint32Array } {
    const V = this.views;
    const all = { hi: this.hi.view(), lo: this.lo.view() };
    if (V === 1) return all;
    const n = all.hi.length / V;
    const hi = new Uint32Array(n);
    const lo = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      hi[i] = all.hi[i * V + v] as number;
      lo[i] = all.lo[i * V + v] as number;
    }
    return { hi, lo };
  }
  aspects(): Float32Array {
    return this.aspect.view();
  }
  /** Pooled colour layout of view v of sample i, unit length (zeros where the feature carried no layout). */
  summaryOf(i: number, v = 0): Float32Array {
    const at = (i * this.views + v) * SUMMARY_LEN;
    const raw = this.summary.view().subarray(at, at + SUMMARY_LEN);
    let n = 0;
    for (const x of raw) n += x * x;
    return Float32Array.from(raw, (x) => (n > 0 ? x / Math.sqrt(n) : 0));
  }
  /** Distance between the background chroma of view v of a and the whole of b (0 when either is unknown). */
  chromaDiff(a: number, v: number, b: number): number {
    const c = this.chroma.view();
    const V = this.views;
    const i = 2 * (a * V + v);
    const j = 2 * (b * V);
    const d = Math.hypot((c[i] as number) - (c[j] as number), (c[i + 1] as number) - (c[j + 1] as number));
    return Number.isNaN(d) ? 0 : d;
  }
  /** Length of the background chroma of view v of sample i (0 when unknown). */
  chromaNorm(i: number, v = 0): number {
    const c = this.chroma.view();
    const at = 2 * (i * this.views + v);
    const d = Math.hypot(c[at] as number, c[at + 1] as number);
    return Number.isNaN(d) ? 0 : d;
  }
  /** Layout and thumbnail of view v of sample i (undefined where the feature carried none). */
  view(i: number, v = 0): { layout: Int8Array | undefined; thumb: Uint8Array | undefined } {
    if (!this.side) return { layout: undefined, thumb: undefined };
    const r = this.side.read(i);
    const layout = r.layout[v];
    const thumb = r.thumb[v];
    return { layout: layout && layout.length > 0 && !layout.every((x) => x === 0) ? layout : undefined, thumb: thumb && thumb.length > 0 && !thumb.every((x) => x === 0) ? thumb : undefined };
  }
  /** The fine thumbnail of sample i's whole image (undefined where the feature carried none). */
  fine(i: number): Uint8Array | undefined {
    if (!this.side || this.side.fineLen === 0) return undefined;
    const f = this.side.read(i).fine;
    return f.every((x) => x === 0) ? undefined : f;
  }
  embeddings(): { flat: Float32Array; dims: number } {
    return { flat: this.emb.view(), dims: Math.max(0, this.dims) };
  }
  qualities(): Float64Array {
    return this.q.view();
  }
  /** Deletes the spill file. */
  close(): void {
    this.side?.close();
    this.side = undefined;
  }
}
