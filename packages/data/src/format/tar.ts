import { open, type FileHandle } from 'node:fs/promises';

/**
 * A tar reader written for hostile input (POSIX.1-1988 ustar, pax, GNU and pre-POSIX V7 headers).
 * It reports what it meets instead of guessing: every member with its normalised name or the reason
 * the name is unsafe, its type (links and special files are reported, never followed), damage with a
 * byte offset, and the end-of-archive as tar defines it (two zero blocks; bytes after it are reported
 * as trailing data, never parsed as members).
 */

export const BLOCK = 512;

export type MemberType = 'file' | 'directory' | 'hardlink' | 'symlink' | 'char-device' | 'block-device' | 'fifo' | 'sparse' | 'other';

export interface TarMember {
  kind: 'member';
  /** Normalised name (leading `./` removed), or the raw name when `unsafe` is set. */
  name: string;
  /** Why the name cannot be used as a sample entry (absolute, `..`, drive letter, backslash, ...). */
  unsafe?: string;
  type: MemberType;
  /** The header's type flag, for messages about unsupported members. */
  typeflag: string;
  size: number;
  /** Offset of the first header of this member (extension headers included). */
  offset: number;
  /** The member's bytes, for regular files only. */
  data?: Uint8Array;
  /** A regular file over `maxMemberBytes`: its bytes were skipped. */
  tooLarge?: boolean;
}

export interface TarDamage {
  kind: 'damage';
  offset: number;
  detail: string;
  /** The member whose data or headers were cut (its name when known). */
  member?: string;
  /** The file ended here: nothing follows. */
  eof: boolean;
}

export interface TarEnd {
  kind: 'end';
  offset: number;
  /** How the archive ended: the two zero blocks, a single zero block at end of file, or no marker. */
  marker: 'eoa' | 'lone-zero-block' | 'none';
  /** Non-zero bytes after the end-of-archive (ignored, reported). */
  trailingBytes: number;
}

export type TarEvent = TarMember | TarDamage | TarEnd;

export interface TarReadOptions {
  start?: number;
  /** Read the bytes of regular files (default true); false lists members only. */
  readData?: boolean;
  /** Largest member whose bytes are read (default 2 GiB); larger ones are reported as damage. */
  maxMemberBytes?: number;
}

const GZIP = [0x1f, 0x8b];
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads exactly `n` bytes at `pos` (fewer at end of file), buffering so that small members cost one read. */
class Source {
  private buf = Buffer.alloc(0);
  private bufPos = 0;
  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  async read(pos: number, n: number): Promise<Buffer> {
    const end = Math.min(pos + n, this.size);
    if (end <= pos) return Buffer.alloc(0);
    if (pos >= this.bufPos && end <= this.bufPos + this.buf.length) return this.buf.subarray(pos - this.bufPos, end - this.bufPos);
    const want = Math.max(end - pos, 1 << 20);
    const chunk = Buffer.allocUnsafe(Math.min(want, this.size - pos));
    let got = 0;
    while (got < chunk.length) {
      const { bytesRead } = await this.fh.read(chunk, got, chunk.length - got, pos + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.buf = chunk.subarray(0, got);
    this.bufPos = pos;
    return this.buf.subarray(0, Math.min(end - pos, got));
  }
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function cstring(b: Buffer, at: number, len: number): Buffer {
  const field = b.subarray(at, at + len);
  const nul = field.indexOf(0);
  return nul < 0 ? field : field.subarray(0, nul);
}

/** Octal number field (NUL/space padded) or GNU base-256 (high bit set); NaN when malformed. */
function numeric(b: Buffer, at: number, len: number): number {
  const field = b.subarray(at, at + len);
  if ((field[0] as number) & 0x80) {
    if ((field[0] as number) & 0x40) return NaN; // negative
    let v = (field[0] as number) & 0x3f;
    for (let i = 1; i < field.length; i++) v = v * 256 + (field[i] as number);
    return Number.isSafeInteger(v) ? v : NaN;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : NaN;
}

function checksumOk(h: Buffer): boolean {
  const stored = numeric(h, 148, 8);
  if (Number.isNaN(stored)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (h[i] as number);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

function decodeName(raw: Buffer): { name: string; problem?: string } {
  try {
    return { name: utf8.decode(raw) };
  } catch {
    return { name: raw.toString('latin1'), problem: 'name is not valid UTF-8' };
  }
}

/**
 * Normalises a member name: removes leading `./`. Returns why it is unsafe, or undefined: absolute
 * paths, Windows drive letters and backslashes, `.` / `..` / empty parts, control characters.
 */
export function unsafeMemberName(name: string): string | undefined {
  if (name === '') return 'empty name';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'control character in name';
  if (name.includes('\\')) return 'backslash in name (Windows path)';
  if (/^[A-Za-z]:/.test(name)) return 'drive letter (absolute Windows path)';
  if (name.startsWith('/')) return 'absolute path';
  const parts = name.split('/');
  if (parts.some((p) => p === '..')) return 'path traversal ("..")';
  if (parts.slice(0, -1).some((p) => p === '' || p === '.') || parts[parts.length - 1] === '') return 'empty or "." path part';
  return undefined;
}

export function normaliseMemberName(name: string): string {
  let n = name;
  while (n.startsWith('./')) n = n.slice(2);
  return n;
}

const TYPES: Record<string, MemberType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
  S: 'sparse',
};

/** pax records: "<len> <key>=<value>\n" ... */
function parsePax(data: Buffer): Map<string, string> | string {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    if (data[at] === 0) break;
    const space = data.indexOf(0x20, at);
    if (space < 0) return 'pax record without a length';
    const len = Number(data.subarray(at, space).toString('latin1'));
    if (!Number.isInteger(len) || len <= space - at + 1 || at + len > data.length) return 'pax record with a bad length';
    const rec = data.subarray(space + 1, at + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) return 'pax record without "="';
    let value: string;
    try {
      value = utf8.decode(rec.subarray(eq + 1));
    } catch {
      return 'pax record is not valid UTF-8';
    }
    out.set(rec.subarray(0, eq).toString('utf8'), value);
    at += len;
  }
  return out;
}

/**
 * The members of a tar file, in order, then one `end` event (or a `damage` event with `eof` when the
 * file stops early). A header whose checksum fails is reported as damage and the reader moves on to
 * the next block holding a valid header, so that samples after local damage are not lost.
 */
export async function* readTar(path: string, options: TarReadOptions = {}): AsyncGenerator<TarEvent> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    yield* parse(new Source(fh, size), options);
  } finally {
    await fh.close();
  }
}

async function* parse(src: Source, o: TarReadOptions): AsyncGenerator<TarEvent> {
  const maxMember = o.maxMemberBytes ?? 2 ** 31;
  let pos = o.start ?? 0;
  if (pos === 0 && src.size >= 2) {
    const magic = await src.read(0, 2);
    if (magic[0] === GZIP[0] && magic[1] === GZIP[1]) {
      yield { kind: 'damage', offset: 0, detail: 'file is gzip-compressed, not a plain tar (decompress it first)', eof: true };
      return;
    }
  }
  // Extension state for the next real header.
  let paxPath: string | undefined;
  let paxSize: number | undefined;
  let paxSparse = false;
  let longName: Buffer | undefined;
  let extStart: number | undefined;
  let resyncing = false;
  for (;;) {
    const h = await src.read(pos, BLOCK);
    if (h.length === 0) {
      if (resyncing) return;
      yield { kind: 'end', offset: pos, marker: 'none', trailingBytes: 0 };
      return;
    }
    if (h.length < BLOCK) {
      if (resyncing) return;
      yield { kind: 'damage', offset: pos, detail: `file ends inside a header (${h.length} of ${BLOCK} bytes)`, eof: true };
      return;
    }
    if (isZero(h)) {
      if (resyncing) {
        pos += BLOCK;
        continue;
      }
      const next = await src.read(pos + BLOCK, BLOCK);
      if (next.length === 0 || isZero(next)) {
        // End of archive: count what follows, never parse it.
        let trailing = 0;
        for (let p = pos + (next.length === 0 ? BLOCK : 2 * BLOCK); p < src.size; p += 1 << 20) {
          const chunk = await src.read(p, 1 << 20);
          for (let i = 0; i < chunk.length; i++) if (chunk[i] !== 0) trailing++;
        }
        yield { kind: 'end', offset: pos, marker: next.length === 0 ? 'lone-zero-block' : 'eoa', trailingBytes: trailing };
        return;
      }
      // A lone zero block inside the archive: skip it, as GNU tar -i does.
      pos += BLOCK;
      continue;
    }
    if (!checksumOk(h)) {
      if (!resyncing) yield { kind: 'damage', offset: pos, detail: `bad header checksum at byte ${pos}`, eof: false };
      resyncing = true;
      paxPath = paxSize = longName = extStart = undefined;
      paxSparse = false;
      pos += BLOCK;
      continue;
    }
    resyncing = false;
    const typeflag = String.fromCharCode(h[156] as number);
    const magic = h.subarray(257, 263).toString('latin1');
    const ustar = magic === 'ustar\0';
    const gnu = magic === 'ustar ';
    let size = numeric(h, 124, 12);
    if (Number.isNaN(size)) {
      yield { kind: 'damage', offset: pos, detail: `bad size field in header at byte ${pos}`, eof: false };
      resyncing = true;
      pos += BLOCK;
      continue;
    }
    const start = extStart ?? pos;
    const dataPos = pos + BLOCK;
    // Extension headers describe the next header; their data is read here.
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > 1 << 20) {
        yield { kind: 'damage', offset: pos, detail: `extension header of ${size} bytes at byte ${pos} (limit 1 MiB)`, eof: false };
        resyncing = true;
        pos += BLOCK;
        continue;
      }
      const data = await src.read(dataPos, size);
      if (data.length < size) {
        yield { kind: 'damage', offset: pos, detail: `file ends inside an extension header at byte ${pos}`, eof: true };
        return;
      }
      extStart ??= pos;
      if (typeflag === 'x') {
        const pax = parsePax(data);
        if (typeof pax === 'string') {
          yield { kind: 'damage', offset: pos, detail: `${pax} at byte ${pos}`, eof: false };
        } else {
          if (pax.has('path')) paxPath = pax.get('path');
          const s = pax.get('size');
          if (s !== undefined) paxSize = /^\d+$/.test(s) ? Number(s) : NaN;
          if ([...pax.keys()].some((k) => k.startsWith('GNU.sparse.'))) paxSparse = true;
        }
      } else if (typeflag === 'L') {
        longName = cstring(data, 0, data.length);
      }
      pos = dataPos + Math.ceil(size / BLOCK) * BLOCK;
      continue;
    }
    if (paxSize !== undefined) {
      if (Number.isNaN(paxSize)) {
        yield { kind: 'damage', offset: pos, detail: `bad pax size at byte ${pos}`, eof: false };
        resyncing = true;
        pos += BLOCK;
        continue;
      }
      size = paxSize;
    }
    let rawName: { name: string; problem?: string };
    if (paxPath !== undefined) rawName = { name: paxPath };
    else if (longName !== undefined) rawName = decodeName(longName);
    else {
      const name = cstring(h, 0, 100);
      const prefix = ustar ? cstring(h, 345, 155) : Buffer.alloc(0);
      rawName = decodeName(prefix.length > 0 ? Buffer.concat([prefix, Buffer.from('/'), name]) : name);
    }
    paxPath = paxSize = longName = extStart = undefined;
    let type: MemberType = TYPES[typeflag] ?? 'other';
    if (paxSparse || (gnu && typeflag === 'S')) type = 'sparse';
    paxSparse = false;
    // V7 and old GNU mark directories only by a trailing slash on a regular-file type.
    if (type === 'file' && !ustar && rawName.name.endsWith('/')) type = 'directory';
    const name = normaliseMemberName(rawName.name);
    const unsafe = rawName.problem ?? (type === 'directory' ? undefined : unsafeMemberName(name));
    // Links, devices and FIFOs carry no data (whatever their size field says); sparse data is skipped.
    const carries = type === 'file' || type === 'sparse' || type === 'other';
    const dataSize = carries ? size : 0;
    const member: TarMember = { kind: 'member', name: unsafe ? rawName.name : name, type, typeflag, size: dataSize, offset: start };
    if (unsafe) member.unsafe = unsafe;
    if (dataPos + dataSize > src.size) {
      yield { kind: 'damage', offset: pos, detail: `file ends inside member "${member.name}" (${src.size - dataPos} of ${dataSize} bytes)`, member: member.name, eof: true };
      return;
    }
    if (type === 'file' && o.readData !== false) {
      if (dataSize > maxMember) member.tooLarge = true;
      else {
        // One owned copy: the source's buffer is reused by the next read.
        member.data = new Uint8Array(await src.read(dataPos, dataSize));
      }
    }
    yield member;
    pos = dataPos + Math.ceil(dataSize / BLOCK) * BLOCK;
    if (pos > src.size) {
      yield { kind: 'damage', offset: pos, detail: `file ends inside the padding of member "${member.name}"`, member: member.name, eof: true };
      return;
    }
  }
}
