/**
 * Streamed uploads (`POST /api/uploads`, uploads.ts) on a text-only server: limits hold while the
 * body streams (a declared length over the limit, a chunked body growing past it, bytes of no
 * accepted format after the first chunk, too many waiting), every refused or used upload leaves no
 * file behind (also when the client leaves mid-body), an upload is used once, and one not used in time is gone. (media.test.ts: a streamed
 * clip is answered as the same clip sent base64.)
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HerdEngine } from './engine.js';
import { ChatServer, type ChatServerOptions } from './server.js';
import { postChat } from './sse-client.js';

const CLIP = fileURLToPath(new URL('../fixtures/heldout-clips/vid-00000012.mp4', import.meta.url));

interface Reply {
  readonly status: number;
  readonly json: { upload?: string; bytes?: number; format?: string; error?: { code: string; message: string } };
  readonly headers: Record<string, string | string[] | undefined>;
}

/** POSTs `body` to /api/uploads in `chunk`-byte writes (chunked transfer unless `declare`); the server may answer before the body ends. */
function upload(url: string, name: string, body: Buffer, o: { chunk?: number; declare?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(`/api/uploads?name=${encodeURIComponent(name)}`, url), { method: 'POST', headers: o.declare ? { 'content-length': String(body.length) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) as Reply['json'], headers: res.headers }));
    });
    // Refused mid-body, the server closes the connection: the answer has already come.
    req.on('error', (e) => setTimeout(() => reject(e), 2000));
    const size = o.chunk ?? body.length;
    let at = 0;
    const next = (): void => {
      if (at >= body.length) {
        req.end();
        return;
      }
      const c = body.subarray(at, (at += size));
      req.write(c, () => setTimeout(next, 1));
    };
    next();
  });
}

describe('streamed uploads (/api/uploads)', () => {
  let engine: HerdEngine;
  const dir = mkdtempSync(join(tmpdir(), 'herd-uploads-test-'));
  const servers: ChatServer[] = [];
  beforeAll(async () => {
    engine = await HerdEngine.load({ device: 'cpu' });
  }, 60_000);
  afterAll(async () => {
    for (const s of servers) await s.close();
    await engine?.release();
    rmSync(dir, { recursive: true, force: true });
  });
  async function start(o: Partial<ChatServerOptions> = {}): Promise<string> {
    const s = new ChatServer({ engine, log: () => {}, uploadDir: dir, ...o });
    servers.push(s);
    return (await s.listen(0, '127.0.0.1')).url;
  }
  const left = (): string[] => readdirSync(dir);

  it('limits hold while the body streams, and a refused upload leaves no file', async () => {
    const url = await start({ maxUploadBytes: 4000 });
    const clip = readFileSync(CLIP);
    expect(clip.length).toBeLessThan(4000);
    const big = Buffer.concat([clip, clip, clip]);
    // Declared over the limit: refused before a byte is read.
    const declared = await upload(url, 'big.mp4', big, { declare: true });
    expect([declared.status, declared.json.error?.code]).toEqual([413, 'payload_too_large']);
    expect(declared.json.error?.message).toMatch(/big\.mp4' is \d+ bytes; the limit is 4000/);
    // Chunked, no length: cut off when it grows past the limit.
    const chunked = await upload(url, 'big.mp4', big, { chunk: 512 });
    expect([chunked.status, chunked.json.error?.code]).toEqual([413, 'payload_too_large']);
    expect(chunked.json.error?.message).toMatch(/grew past the limit while arriving/);
    // Bytes of no accepted format: refused after the first chunk.
    const text = await upload(url, 'notes.mp4', Buffer.from('just some text, not a clip at all. '.repeat(200)), { chunk: 256 });
    expect([text.status, text.json.error?.code]).toEqual([415, 'unsupported_media_type']);
    expect(text.json.error?.message).toMatch(/no known signature/);
    const empty = await upload(url, 'empty.mp4', Buffer.alloc(0));
    expect(empty.status).toBe(400);
    expect(left()).toEqual([]);
    // Only POST.
    const get = await fetch(new URL('/api/uploads', url));
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
  });

  it('an accepted upload is judged by its bytes, used once, and its file goes when the message is answered or refused', async () => {
    const url = await start();
    const clip = readFileSync(CLIP);
    const up = await upload(url, 'clip.mp4', clip, { chunk: 700 });
    expect(up.status).toBe(201);
    expect(up.json).toMatchObject({ upload: expect.stringMatching(/^[0-9a-f]{32}$/), bytes: clip.length, format: 'mp4' });
    expect(left()).toHaveLength(1);
    // This server has no video: the message is refused, the upload is used up and its file deleted.
    const r = await postChat(url, { conversation: 'u1', message: 'What moves?', video: { upload: up.json.upload } });
    expect([r.status, (r.json as { error: { code: string } }).error.code]).toEqual([400, 'video_not_loaded']);
    expect(left()).toEqual([]);
    const again = await postChat(url, { conversation: 'u1', message: 'What moves?', video: { upload: up.json.upload } });
    expect(again.status).toBe(400);
    expect((again.json as { error: { message: string } }).error.message).toMatch(/no upload .* used once/);
    // A message refused for another reason takes its upload with it.
    const up2 = await upload(url, 'clip.mp4', clip);
    const bad = await postChat(url, { conversation: 'u2', message: '', video: { upload: up2.json.upload } });
    expect(bad.status).toBe(400);
    expect(left()).toEqual([]);
  });

  it('too many waiting uploads: 503 with Retry-After; an unused upload expires and closing the server removes the rest', async () => {
    const url = await start({ maxPendingUploads: 1, uploadTtlMs: 60_000 });
    const clip = readFileSync(CLIP);
    expect((await upload(url, 'a.mp4', clip)).status).toBe(201);
    const busy = await upload(url, 'b.mp4', clip);
    expect([busy.status, busy.json.error?.code, busy.headers['retry-after']]).toEqual([503, 'busy', '10']);
    expect(left()).toHaveLength(1);
    await servers.pop()!.close();
    expect(left()).toEqual([]);

    const quick = await start({ uploadTtlMs: 1 });
    const up = await upload(quick, 'c.mp4', clip);
    expect(up.status).toBe(201);
    await expect.poll(() => left()).toEqual([]);
    const late = await postChat(quick, { conversation: 'u3', message: 'What moves?', video: { upload: up.json.upload } });
    expect(late.status).toBe(400);
  });

  it('a client that leaves mid-upload leaves no file and frees its slot (the reader does not wait for a body that never ends)', async () => {
    const server = new ChatServer({ engine, log: () => {}, uploadDir: dir, maxPendingUploads: 1 });
    servers.push(server);
    const url = (await server.listen(0, '127.0.0.1')).url;
    const clip = readFileSync(CLIP);
    for (let i = 0; i < 2; i++) {
      // Declares the whole clip, sends 1,000 bytes, then closes the connection.
      const req = request(new URL('/api/uploads?name=gone.mp4', url), { method: 'POST', headers: { 'content-length': String(clip.length) } });
      req.on('error', () => {});
      await new Promise<void>((resolve) => req.write(clip.subarray(0, 1000), () => resolve()));
      await expect.poll(() => left()).toHaveLength(1);
      req.destroy();
      await expect.poll(() => left()).toEqual([]);
      expect(server.uploads.size).toBe(0);
    }
    // The one slot is free: a whole upload is taken.
    expect((await upload(url, 'whole.mp4', clip)).status).toBe(201);
  });
});
