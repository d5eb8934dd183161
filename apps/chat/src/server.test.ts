import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EOT_ID, END_OF_TEXT_ID, Generator, MINI_CORE_DIR, buildDecoder, loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeRgb, encodeWav } from '@herd/media';
import { type ChatEngine, type GenerateOptions, HerdEngine, type Piece, type Turn } from './engine.js';
import { ChatServer, type ChatServerOptions, type GenerationRecord } from './server.js';
import { postChat } from './sse-client.js';

const HELDOUT_CLIP = fileURLToPath(new URL('../fixtures/heldout-clips/vid-00000012.mp4', import.meta.url));

let engine: HerdEngine;
beforeAll(async () => {
  engine = await HerdEngine.load({ device: 'cpu' });
});
afterAll(async () => {
  await engine.release();
});

const servers: ChatServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});
async function start(o: Partial<ChatServerOptions> & { engine?: ChatEngine } = {}): Promise<{ server: ChatServer; url: string; logged: string[] }> {
  const logged: string[] = [];
  const server = new ChatServer({ engine, log: (l) => logged.push(l), ...o });
  servers.push(server);
  const { url } = await server.listen(0, '127.0.0.1');
  return { server, url, logged };
}

/** Wraps the real engine: holds before the `holdAt`-th token until `open()`, counts tokens pulled, notes when its generator stopped. */
class HeldEngine implements ChatEngine {
  pulled = 0;
  stopped = 0;
  private gate!: Promise<void>;
  open!: () => void;
  constructor(
    private readonly inner: ChatEngine,
    private readonly holdAt: number,
  ) {
    this.reset();
  }
  reset(): void {
    this.gate = new Promise((r) => (this.open = r));
  }
  get contextTokens(): number {
    return this.inner.contextTokens;
  }
  status(): ReturnType<ChatEngine['status']> {
    return this.inner.status();
  }
  promptTokens(turns: readonly Turn[]): number {
    return this.inner.promptTokens(turns);
  }
  prepareImage(bytes: Uint8Array, name: string): ReturnType<ChatEngine['prepareImage']> {
    return this.inner.prepareImage(bytes, name);
  }
  async *generate(turns: readonly Turn[], o: GenerateOptions): AsyncGenerator<Piece> {
    try {
      let n = 0;
      for await (const p of this.inner.generate(turns, o)) {
        if (n++ === this.holdAt) await this.gate;
        this.pulled++;
        yield p;
      }
    } finally {
      this.stopped++;
    }
  }
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

function rawGet(url: string, path: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('chat API on the mini core', () => {
  it('streams the answer as SSE, token for token what a direct greedy Generator run gives', async () => {
    const { url, server } = await start();
    const message = 'What colour is the ball?';
    const reply = await postChat(url, { conversation: 'parity', message, maxTokens: 6 });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(reply.events[0]!.event).toBe('start');
    const done = reply.events.at(-1)!;
    expect(done.event).toBe('done');

    // The same prompt run directly on the core.
    const core = loadLanguageCore(MINI_CORE_DIR);
    const tok = await loadLlama3Tokenizer();
    const vocab = core.vocab!;
    const prompt = Array.from(vocab.toCompact(tok.encodeChat([{ role: 'user', content: message }], { addGenerationPrompt: true })));
    const stops = Array.from(vocab.toCompact([EOT_ID, END_OF_TEXT_ID]));
    const gen = await Generator.create(core.config, buildDecoder(core.config, core.weights), { device: 'cpu' });
    const direct = await gen.complete(prompt, { maxNewTokens: 6, temperature: 0, stopTokens: stops });
    await gen.release();
    const expectedIds = direct.filter((id) => !stops.includes(id));
    const gotIds = reply.events.filter((e) => e.event === 'token').map((e) => (e.data as Piece).id).filter((id) => id >= 0);
    expect(gotIds).toEqual(expectedIds);
    expect(reply.text).toBe(tok.decode(Array.from(vocab.toFull(expectedIds))));
    expect(done.data).toMatchObject({ tokens: expectedIds.length, promptTokens: prompt.length, reason: direct.length === 6 && !stops.includes(direct[5]!) ? 'length' : 'stop' });
    // The exchange is kept: the next turn's prompt holds the history.
    expect(server.conversations.get('parity').map((t) => t.role)).toEqual(['user', 'assistant']);
    const second = await postChat(url, { conversation: 'parity', message: 'And the box?', maxTokens: 2 });
    const historyPrompt = tok.encodeChat([{ role: 'user', content: message }, { role: 'assistant', content: reply.text }, { role: 'user', content: 'And the box?' }], { addGenerationPrompt: true });
    expect((second.events[0]!.data as { promptTokens: number }).promptTokens).toBe(historyPrompt.length);
  });

  it('status says what is loaded, and vision: not loaded without --vision', async () => {
    const { url } = await start();
    const s = (await (await fetch(new URL('/api/status', url))).json()) as Record<string, unknown>;
    expect(s['visionLoaded']).toBe(false);
    expect(s['vision']).toBeNull();
    expect(s['device']).toBe('cpu');
    expect(s['core']).toMatchObject({ builtIn: true, vocab: engine.status().core.vocab });
  });

  it('a full queue answers 503 with Retry-After, and the queued requests still complete', async () => {
    const held = new HeldEngine(engine, 0);
    const { url, server } = await start({ engine: held, queueSize: 1 });
    const a = postChat(url, { conversation: 'a', message: 'hi', maxTokens: 2 });
    await until(() => server.queue.load.running === 1);
    const b = postChat(url, { conversation: 'b', message: 'hi', maxTokens: 2 });
    await until(() => server.queue.load.waiting === 1);
    const c = await postChat(url, { conversation: 'c', message: 'hi', maxTokens: 2 });
    expect(c.status).toBe(503);
    expect(Number(c.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(c.json).toMatchObject({ error: { code: 'busy' } });
    held.open();
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.events.at(-1)!.event).toBe('done');
    expect(rb.events.at(-1)!.event).toBe('done');
    expect(server.queue.load).toEqual({ running: 0, waiting: 0 });
  });

  it('refuses an oversize body or image with 413 and a JSON error', async () => {
    const { url } = await start({ maxBodyBytes: 2000, maxUploadBytes: 500 });
    const big = await postChat(url, { conversation: 'x', message: 'x'.repeat(5000) });
    expect(big.status).toBe(413);
    expect(big.json).toMatchObject({ error: { code: 'payload_too_large' } });
    const img = await postChat(url, { conversation: 'x', message: 'what is it?', image: { name: 'a.png', data: Buffer.alloc(900, 1).toString('base64') } });
    expect(img.status).toBe(413);
    expect((img.json as { error: { message: string } }).error.message).toMatch(/a\.png.*900 bytes.*500/);
  });

  it('judges an upload by its bytes: text named .png is refused; a PNG passes the sniffing (then: vision not loaded)', async () => {
    const { url } = await start();
    const fake = await postChat(url, { conversation: 'x', message: 'what is it?', image: { name: 'cat.png', data: Buffer.from('just some text, not a picture').toString('base64') } });
    expect(fake.status).toBe(415);
    expect(fake.json).toMatchObject({ error: { code: 'not_an_image' } });
    expect((fake.json as { error: { message: string } }).error.message).toMatch(/cat\.png.*not an image/);
    const png = await encodeRgb({ data: new Uint8Array(4 * 4 * 3).fill(200), width: 4, height: 4 }, 'png');
    const real = await postChat(url, { conversation: 'x', message: 'what is it?', image: { name: 'photo.txt', data: Buffer.from(png).toString('base64') } });
    expect(real.status).toBe(400);
    expect(real.json).toMatchObject({ error: { code: 'vision_not_loaded' } });
    expect((real.json as { error: { message: string } }).error.message).toMatch(/vision: not loaded.*png image/);
  });

  it('audio and clips are judged by their bytes too; each needs its modality loaded, also beside another attachment', async () => {
    const { url } = await start();
    const wav = encodeWav(Int16Array.from({ length: 1600 }, (_, i) => Math.round(4000 * Math.sin(i / 5))), 16000);
    const png = await encodeRgb({ data: new Uint8Array(4 * 4 * 3).fill(200), width: 4, height: 4 }, 'png');
    const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
    const cases: [Record<string, unknown>, number, string, RegExp][] = [
      [{ audio: { name: 'voice.wav', data: b64(png) } }, 415, 'not_audio', /voice\.wav.*not audio.*look like png/],
      [{ video: { name: 'clip.mp4', data: b64(wav) } }, 415, 'not_a_video', /clip\.mp4.*not a video.*look like wav/],
      [{ audio: { name: 'note.bin', data: b64(wav) } }, 400, 'speech_not_loaded', /speech: not loaded.*--speech DIR.*wav audio/],
      [{ video: { name: 'clip.bin', data: b64(readFileSync(HELDOUT_CLIP)) } }, 400, 'video_not_loaded', /video: not loaded.*--video DIR.*mp4 video/],
      [{ image: { name: 'a.png', data: b64(png) }, audio: { name: 'b.wav', data: b64(wav) } }, 400, 'vision_not_loaded', /vision: not loaded.*'a\.png' is png image/],
    ];
    for (const [fields, status, code, message] of cases) {
      const r = await postChat(url, { conversation: 'x', message: 'what is it?', ...fields });
      expect(r.status, code).toBe(status);
      expect(r.json).toMatchObject({ error: { code } });
      expect((r.json as { error: { message: string } }).error.message).toMatch(message);
    }
    // transcribeFirst: a boolean, and only for a spoken question about typed text.
    for (const [fields, message] of [
      [{ transcribeFirst: 'yes', audio: { name: 'q.wav', data: b64(wav) } }, /transcribeFirst: expected true or false, got "yes"/],
      [{ transcribeFirst: true }, /transcribeFirst: answers a spoken question about the typed message — send audio and a non-empty message/],
      [{ transcribeFirst: true, message: '', audio: { name: 'q.wav', data: b64(wav) } }, /transcribeFirst: answers a spoken question about the typed message/],
    ] as [Record<string, unknown>, RegExp][]) {
      const r = await postChat(url, { conversation: 'x', message: 'what is it?', ...fields });
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ error: { code: 'invalid_request' } });
      expect((r.json as { error: { message: string } }).error.message).toMatch(message);
      expect((r.json as { error: { message: string } }).error.message).not.toMatch(/unknown field/);
    }
    // Only a spoken message may come without typed text.
    const empty = await postChat(url, { conversation: 'x', message: '', video: { name: 'c.mp4', data: b64(readFileSync(HELDOUT_CLIP)) } });
    expect((empty.json as { error: { message: string } }).error.message).toMatch(/message: expected non-empty text \(it may be empty only with audio\)/);
  });

  it('a client that disconnects mid-answer stops the generation and frees the queue', async () => {
    const held = new HeldEngine(engine, 1); // the first token streams, the second waits
    const { url, server } = await start({ engine: held });
    const records: GenerationRecord[] = [];
    server.events.on('generation', (r: GenerationRecord) => records.push(r));
    const closed = new Promise((r) => server.events.once('client-closed', r));
    const ac = new AbortController();
    const res = await fetch(new URL('/api/chat', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ conversation: 'gone', message: 'tell me a long story', maxTokens: 200 }), signal: ac.signal });
    const reader = res.body!.getReader();
    let seen = '';
    while (!seen.includes('event: token')) seen += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    await closed;
    held.open();
    await until(() => held.stopped === 1 && server.queue.load.running === 0);
    expect(records).toEqual([{ conversation: 'gone', tokens: 1, reason: 'cancelled' }]);
    expect(held.pulled).toBeLessThanOrEqual(2); // not the 200 asked for
    expect(server.conversations.get('gone')).toEqual([]); // a cancelled exchange is not kept
    const after = await postChat(url, { conversation: 'next', message: 'hi', maxTokens: 2 });
    expect(after.events.at(-1)!.event).toBe('done');
  });

  it('a request past its deadline ends with a timeout event; one waiting past it gets 504', async () => {
    const held = new HeldEngine(engine, 0);
    const { url, server } = await start({ engine: held, requestTimeoutMs: 300 });
    const a = postChat(url, { conversation: 'slow', message: 'hi', maxTokens: 3 });
    await until(() => server.queue.load.running === 1);
    const b = await postChat(url, { conversation: 'waits', message: 'hi', maxTokens: 3 });
    expect(b.status).toBe(504);
    expect(b.json).toMatchObject({ error: { code: 'timeout' } });
    const ra = await a;
    expect(ra.events.at(-1)).toMatchObject({ event: 'error', data: { error: { code: 'timeout' } } });
    held.open();
    await until(() => held.stopped === 1 && server.queue.load.running === 0);
  });

  it('transcribeFirst: a client that leaves (or a deadline that passes) during the transcription stops it, and the queue is freed', async () => {
    /** Claims speech; its transcription runs until its signal is aborted, then rejects with the reason (as the beam search does). */
    class ListeningEngine extends HeldEngine {
      started = 0;
      sawAbort: unknown[] = [];
      override status(): ReturnType<ChatEngine['status']> {
        return { ...engine.status(), speech: { dir: 'fake', encoderLayers: 1, encoderDim: 8, adapterDim: 8, maxSeconds: 60 } };
      }
      override promptTokens(): number {
        return 10;
      }
      prepareAudio = async (): Promise<NonNullable<Turn['audio']>> => ({}) as NonNullable<Turn['audio']>;
      transcribe = (_: unknown, o: GenerateOptions): Promise<string> =>
        new Promise((_resolve, reject) => {
          this.started++;
          o.signal!.addEventListener('abort', () => {
            this.sawAbort.push(o.signal!.reason);
            reject(o.signal!.reason);
          });
        });
    }
    const wav = Buffer.from(encodeWav(Int16Array.from({ length: 1600 }, (_, i) => Math.round(4000 * Math.sin(i / 5))), 16000)).toString('base64');
    const body = (conversation: string) => JSON.stringify({ conversation, message: 'What colour is the circle?', audio: { name: 'q.wav', data: wav }, transcribeFirst: true });
    const listening = new ListeningEngine(engine, 0);
    const { url, server } = await start({ engine: listening, requestTimeoutMs: 60_000 });
    const records: GenerationRecord[] = [];
    server.events.on('generation', (r: GenerationRecord) => records.push(r));
    const ac = new AbortController();
    const gone = fetch(new URL('/api/chat', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: body('gone'), signal: ac.signal }).catch(() => 'aborted');
    await until(() => listening.started === 1);
    ac.abort();
    expect(await gone).toBe('aborted');
    await until(() => server.queue.load.running === 0);
    expect(listening.sawAbort).toEqual(['cancelled']);
    expect(records).toEqual([{ conversation: 'gone', tokens: 0, reason: 'cancelled' }]);
    expect(server.conversations.get('gone')).toEqual([]);
    // The deadline: nothing was sent yet, so the answer is a 504 naming the transcription.
    const { url: url2, server: server2 } = await start({ engine: new ListeningEngine(engine, 0), requestTimeoutMs: 300 });
    const late = await postChat(url2, JSON.parse(body('late')) as Record<string, unknown>);
    expect(late.status).toBe(504);
    expect(late.json).toMatchObject({ error: { code: 'timeout', message: 'the transcription took longer than the 300 ms limit; it was stopped' } });
    await until(() => server2.queue.load.running === 0);
  });

  it('serves the page and refuses path traversal in every spelling', async () => {
    const { url } = await start();
    const page = await rawGet(url, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>herd chat</title>');
    expect((await rawGet(url, '/app.js')).body).toContain('/api/chat');
    for (const path of ['/../package.json', '/..%2f..%2fpackage.json', '/%2e%2e/%2e%2e/package.json', '/..%5c..%5cpackage.json', '/app.js%00.html', '//etc/passwd', '/src/server.ts', '/%2e%2e/src/server.ts']) {
      const r = await rawGet(url, path);
      expect(r.status, path).toBe(404);
      expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'not_found' } });
    }
  });

  it('reports bad requests as JSON naming every problem, and internal errors without a stack', async () => {
    const { url } = await start();
    const bad = await postChat(url, { conversation: '../x', message: '', maxTokens: 0, colour: 'red' });
    expect(bad.status).toBe(400);
    const msg = (bad.json as { error: { message: string } }).error.message;
    for (const part of ["unknown field 'colour'", 'conversation:', 'message:', 'maxTokens:']) expect(msg).toContain(part);
    const broken: ChatEngine = { ...engine, status: () => engine.status(), contextTokens: engine.contextTokens, promptTokens: () => { throw new Error('secret internals at /home/x.ts:1'); }, prepareImage: (b, n) => engine.prepareImage(b, n), generate: (t, o) => engine.generate(t, o) };
    const { url: url2, logged } = await start({ engine: broken });
    const r = await postChat(url2, { conversation: 'x', message: 'hi' });
    expect(r.status).toBe(500);
    expect(r.json).toEqual({ error: { code: 'internal_error', message: 'internal error (the server log has the details)' } });
    expect(logged.join('\n')).toContain('secret internals');
  });
});
