/**
 * The chat server (node:http): `GET /` the page, `GET /api/status` what is loaded, `POST /api/chat`
 * a message (JSON; optionally an image, audio and a video clip — one of each, answered together in one
 * prompt — as base64 or as streamed uploads) answered as Server-Sent Events: `start`, one `token`
 * per generated token, then `done` with stats (or `error`); with `transcribeFirst` (a spoken question
 * about the typed message) a `heard` event with the transcript comes before the tokens. One generation at a time through a
 * bounded queue (beyond it: 503 + Retry-After); a client that leaves cancels its generation; every
 * request has a deadline; errors reach the client as `{error: {code, message}}`, never a stack.
 */
import { EventEmitter } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError, isHerdError } from '@herd/core';
import { DECODABLE_IMAGE_FORMATS, type SniffedFormat, sniffFormat } from '@herd/media';
import { type ChatEngine, type Turn } from './engine.js';
import { ConversationStore } from './history.js';
import { readFile } from 'node:fs/promises';
import { UploadStore } from './uploads.js';
import { ClientError, SECURITY_HEADERS, readBody, sendError, sendJson, serveStatic } from './http-util.js';
import { GenerationQueue, QueueFullError } from './queue.js';
import { webBundle } from './web-bundle.js';

/** apps/chat/public (the same from src/ and dist/). */
export const PUBLIC_DIR = fileURLToPath(new URL('../public', import.meta.url));

/** onnxruntime-web's dist folder (its .mjs loaders and .wasm binaries), served under /ort/ for the in-browser mode. */
export const ORT_WEB_DIR = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));

/** What an attachment of each kind may be, judged by its bytes: audio includes WebM/Opus (MediaRecorder) and M4A; clips MP4 and WebM/Matroska. */
export const ATTACHMENT_FORMATS = {
  image: DECODABLE_IMAGE_FORMATS,
  audio: ['wav', 'flac', 'mp3', 'ogg', 'matroska', 'mp4'],
  video: ['mp4', 'matroska'],
} as const satisfies Record<string, readonly SniffedFormat[]>;
export type AttachmentKind = keyof typeof ATTACHMENT_FORMATS;
const ATTACHMENT_KINDS = Object.keys(ATTACHMENT_FORMATS) as AttachmentKind[];
/** The refusal codes per kind: bytes of the wrong kind, and the modality not loaded. */
const NOT_A: Record<AttachmentKind, string> = { image: 'not_an_image', audio: 'not_audio', video: 'not_a_video' };
const WHAT: Record<AttachmentKind, string> = { image: 'an image', audio: 'audio', video: 'a video' };
const MODALITY: Record<AttachmentKind, 'vision' | 'speech' | 'video'> = { image: 'vision', audio: 'speech', video: 'video' };
const FLAG: Record<AttachmentKind, string> = { image: '--vision DIR', audio: '--speech DIR', video: '--video DIR' };

/** What the page may load: its own files, wasm compiled from them (onnxruntime-web), images it shows. */
const PAGE_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; connect-src 'self'";

/** One model the page can switch to: an id (in requests), a label (on the page) and its engine. */
export interface Checkpoint {
  readonly id: string;
  readonly label: string;
  readonly engine: ChatEngine;
}

export interface ChatServerOptions {
  /** The default model (checkpoint id `default` unless `checkpoints` are given). */
  readonly engine: ChatEngine;
  /**
   * Every model the page can switch between, the default first (its engine must be `engine`). A
   * request names one with `checkpoint`; each keeps its own conversations.
   */
  readonly checkpoints?: readonly Checkpoint[];
  /** Requests that may wait behind the running one (default 4). */
  readonly queueSize?: number;
  /** Largest request body in bytes (default 16 MiB: an image of ~12 MiB in base64). */
  readonly maxBodyBytes?: number;
  /** Largest attachment (image, audio or clip) in bytes, base64 in the JSON or streamed to /api/uploads (default 10 MiB). */
  readonly maxUploadBytes?: number;
  /** Streamed uploads waiting for their messages at most (default 8; beyond: 503). */
  readonly maxPendingUploads?: number;
  /** An upload not used by a message within this time is deleted (default 10 min). */
  readonly uploadTtlMs?: number;
  /** Where streamed uploads are written, each in its own private temporary folder (default the OS's temp folder). */
  readonly uploadDir?: string;
  /** Deadline of one chat request, queue wait included (default 120 s). */
  readonly requestTimeoutMs?: number;
  /** Tokens an answer may have at most (default 256); a request asks for fewer with `maxTokens`. */
  readonly maxTokens?: number;
  readonly maxMessageChars?: number;
  readonly maxConversations?: number;
  readonly maxTurns?: number;
  readonly publicDir?: string;
  /** onnxruntime-web's dist folder, served under /ort/ (default: the installed package's). */
  readonly ortDir?: string;
  /** Where server-side errors are logged in full (default stderr). */
  readonly log?: (line: string) => void;
}

/** Why a generation ended. */
export type EndReason = 'stop' | 'length' | 'cancelled' | 'timeout' | 'error';

export interface GenerationRecord {
  readonly conversation: string;
  readonly tokens: number;
  readonly reason: EndReason;
}

/** One attachment of a message: its bytes (base64 in the JSON) or a streamed upload's file (released once used). */
type Attachment = { readonly kind: AttachmentKind; readonly name: string } & ({ readonly bytes: Uint8Array } | { readonly path: string; readonly format: SniffedFormat; release(): void });

function releaseAll(attachments: readonly Attachment[]): void {
  for (const a of attachments) if ('release' in a) a.release();
}

interface ChatRequest {
  readonly checkpoint: Checkpoint;
  readonly conversation: string;
  readonly message: string;
  /** Base64 bytes from the JSON, or a streamed upload's file (`path`, deleted by `release` after use). */
  /** At most one of each kind (an image, audio, a clip), answered together in one prompt. */
  readonly attachments: readonly Attachment[];
  readonly maxTokens: number;
  readonly temperature: number;
  readonly seed: number;
  /**
   * The cascade `herd generate --transcribe-first` runs: the utterance is transcribed first, then the
   * typed message + that transcript are answered as text (the turn is kept in the history as that text).
   */
  readonly transcribeFirst: boolean;
}

const CONVERSATION_ID = /^[A-Za-z0-9_-]{1,64}$/;
const CHECKPOINT_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export class ChatServer {
  readonly server: Server;
  /** 'generation' (GenerationRecord) when a generation ends, 'client-closed' when a streaming client leaves. */
  readonly events = new EventEmitter();
  readonly queue: GenerationQueue;
  readonly conversations: ConversationStore;
  private readonly o: Required<Omit<ChatServerOptions, 'engine' | 'checkpoints' | 'uploadDir'>> & { engine: ChatEngine; uploadDir?: string };
  readonly uploads: UploadStore;
  /** The models by id, the default first. */
  readonly checkpoints: ReadonlyMap<string, Checkpoint>;
  private readonly counts = { requests: 0, completed: 0, cancelled: 0, timedOut: 0, rejectedBusy: 0, errors: 0 };
  /** Mean seconds per generation, for Retry-After. */
  private meanSeconds = 5;

  constructor(options: ChatServerOptions) {
    this.o = {
      queueSize: 4,
      maxBodyBytes: 16 * 1024 * 1024,
      maxUploadBytes: 10 * 1024 * 1024,
      maxPendingUploads: 8,
      uploadTtlMs: 10 * 60_000,
      requestTimeoutMs: 120_000,
      maxTokens: 256,
      maxMessageChars: 4000,
      maxConversations: 100,
      maxTurns: 40,
      publicDir: PUBLIC_DIR,
      ortDir: ORT_WEB_DIR,
      log: (line) => process.stderr.write(`${line}\n`),
      ...options,
    };
    const given = options.checkpoints ?? [{ id: 'default', label: 'default', engine: options.engine }];
    const problems: string[] = [];
    if (given[0]?.engine !== options.engine) problems.push('the first checkpoint must be the default engine');
    const ids = new Set<string>();
    for (const c of given) {
      if (!CHECKPOINT_ID.test(c.id)) problems.push(`checkpoint id '${c.id}': 1-32 of a-z 0-9 -`);
      if (ids.has(c.id)) problems.push(`checkpoint id '${c.id}' given twice`);
      ids.add(c.id);
    }
    if (problems.length > 0) throw new HerdError('invalid_argument', `chat server checkpoints: ${problems.join('; ')}`);
    this.checkpoints = new Map(given.map((c) => [c.id, c]));
    this.queue = new GenerationQueue(this.o.queueSize);
    this.conversations = new ConversationStore(this.o.maxConversations, this.o.maxTurns);
    this.uploads = new UploadStore(
      { maxBytes: this.o.maxUploadBytes, maxPending: this.o.maxPendingUploads, ttlMs: this.o.uploadTtlMs, ...(this.o.uploadDir !== undefined ? { dir: this.o.uploadDir } : {}) },
      [...new Set(Object.values(ATTACHMENT_FORMATS).flat())],
    );
    this.server = createServer((req, res) => void this.handle(req, res));
    // Slow or stalled uploads are cut off too (node's own request deadline covers headers + body).
    this.server.requestTimeout = this.o.requestTimeoutMs;
    this.server.headersTimeout = Math.min(this.o.requestTimeoutMs, 30_000);
  }

  /** Listens on host:port (port 0: any free port) and resolves with the address. */
  async listen(port: number, host: string): Promise<{ host: string; port: number; url: string }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const a = this.server.address() as AddressInfo;
    const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return { host: a.address, port: a.port, url: `http://${h}:${a.port}/` };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.uploads.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const method = req.method ?? 'GET';
      if (url.pathname === '/api/chat') {
        if (method !== 'POST') throw new ClientError(405, 'method_not_allowed', 'POST a JSON message to /api/chat', { Allow: 'POST' });
        await this.chat(req, res);
      } else if (url.pathname === '/api/uploads') {
        if (method !== 'POST') throw new ClientError(405, 'method_not_allowed', 'POST the file\'s bytes as the body to /api/uploads?name=FILE', { Allow: 'POST' });
        await this.upload(req, res, url);
      } else if (url.pathname === '/api/status') {
        if (method !== 'GET') throw new ClientError(405, 'method_not_allowed', 'GET /api/status', { Allow: 'GET' });
        sendJson(res, 200, this.status(this.checkpoint(url.searchParams.get('checkpoint') ?? undefined)));
      } else if (url.pathname.startsWith('/api/')) {
        throw new ClientError(404, 'not_found', `no API ${url.pathname}; there are /api/chat, /api/uploads and /api/status`);
      } else {
        if (method !== 'GET' && method !== 'HEAD') throw new ClientError(405, 'method_not_allowed', 'pages are read with GET', { Allow: 'GET, HEAD' });
        // The raw path (not URL-normalised) so that '..' in any spelling is judged by serveStatic.
        const rawPath = (req.url ?? '/').split('?')[0]!;
        if (rawPath.startsWith('/model/')) {
          // /model/<file> is the default model's export; /model/<checkpoint>/<file> another's.
          const rest = rawPath.slice('/model/'.length);
          const slash = rest.indexOf('/');
          if (slash < 0) await this.serveExport(res, this.checkpoint(undefined).engine, rest, method === 'HEAD');
          else if (!this.checkpoints.has(rest.slice(0, slash))) throw new ClientError(404, 'not_found', `no checkpoint '${rest.slice(0, Math.min(slash, 40))}' (known: ${[...this.checkpoints.keys()].join(', ')})`);
          else await this.serveExport(res, this.checkpoints.get(rest.slice(0, slash))!.engine, rest.slice(slash + 1), method === 'HEAD');
        }
        else if (rawPath === '/web/herd.js') {
          const body = await webBundle();
          res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/javascript; charset=utf-8', 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
          res.end(method === 'HEAD' ? undefined : body);
        } else if (rawPath.startsWith('/ort/')) serveStatic(res, this.o.ortDir, rawPath.slice('/ort'.length), method === 'HEAD', { 'Cache-Control': 'max-age=3600' });
        else serveStatic(res, this.o.publicDir, rawPath, method === 'HEAD', { 'Content-Security-Policy': PAGE_CSP });
      }
    } catch (e) {
      this.fail(res, e);
    }
  }

  /**
   * The loaded model as an ONNX export (`herd export`'s files) for the in-browser mode: only the
   * names the export has are served (no paths). Built on the first request.
   */
  private async serveExport(res: ServerResponse, engine: ChatEngine, name: string, head: boolean): Promise<void> {
    if (!engine.exportModel) throw new ClientError(404, 'not_found', 'this server has no in-browser model');
    const built = await engine.exportModel();
    const body = name === 'manifest.json' ? Buffer.from(JSON.stringify(built.manifest)) : built.files.get(name);
    if (body === undefined) throw new ClientError(404, 'not_found', `no model file '${name.slice(0, 100)}'; see /model/manifest.json`);
    const type = name.endsWith('.json') ? 'application/json; charset=utf-8' : 'application/octet-stream';
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
    res.end(head ? undefined : body);
  }

  /** Answers an error as JSON (or as an SSE `error` event once streaming); unexpected errors are logged here and shown as a code only. */
  private fail(res: ServerResponse, e: unknown): void {
    let ce: ClientError;
    if (e instanceof ClientError) ce = e;
    else if (isHerdError(e)) {
      const status = e.code === 'runtime_error' || e.code === 'io_error' || e.code === 'device_unavailable' ? 500 : 400;
      if (status === 500) this.o.log(`herd-chat: ${e.code}: ${e.stack ?? e.message}`);
      ce = new ClientError(status, e.code, e.message);
    } else {
      this.counts.errors++;
      this.o.log(`herd-chat: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      ce = new ClientError(500, 'internal_error', 'internal error (the server log has the details)');
    }
    if (res.headersSent) {
      if (!res.writableEnded && !res.destroyed) {
        res.write(`event: error\ndata: ${JSON.stringify({ error: { code: ce.code, message: ce.message } })}\n\n`);
        res.end();
      }
      return;
    }
    // An unread body (refused early) is not drained: the connection closes after the answer.
    if (ce.status === 413 || !res.req.complete) res.setHeader('Connection', 'close');
    sendError(res, ce);
  }

  /** Each checkpoint keeps its own conversations (the same id under two models is two histories); the default's are keyed by the id alone ('/' never occurs in one). */
  private historyKey(r: Pick<ChatRequest, 'checkpoint' | 'conversation'>): string {
    return r.checkpoint === this.checkpoint(undefined) ? r.conversation : `${r.checkpoint.id}/${r.conversation}`;
  }

  /** The checkpoint a request names (the default when absent); an unknown id is a 400 naming the known ones. */
  private checkpoint(id: string | undefined): Checkpoint {
    if (id === undefined) return this.checkpoints.values().next().value!;
    const c = this.checkpoints.get(id);
    if (!c) throw new ClientError(400, 'invalid_request', `checkpoint: unknown '${id.slice(0, 40)}' (known: ${[...this.checkpoints.keys()].join(', ')})`);
    return c;
  }

  status(c: Checkpoint = this.checkpoint(undefined)): unknown {
    const s = c.engine.status();
    return {
      checkpoint: c.id,
      checkpoints: [...this.checkpoints.values()].map(({ id, label, engine }) => {
        const x = engine.status();
        return { id, label, core: x.core.dir, vision: x.vision?.dir ?? null, speech: x.speech?.dir ?? null, video: x.video?.dir ?? null };
      }),
      core: s.core,
      vision: s.vision,
      visionLoaded: s.vision !== null,
      speech: s.speech,
      video: s.video,
      browserMode: c.engine.exportModel !== undefined,
      device: s.device,
      queue: { ...this.queue.load, max: this.o.queueSize },
      limits: {
        maxBodyBytes: this.o.maxBodyBytes,
        maxUploadBytes: this.o.maxUploadBytes,
        maxTokens: this.o.maxTokens,
        requestTimeoutMs: this.o.requestTimeoutMs,
        maxMessageChars: this.o.maxMessageChars,
        imageFormats: ATTACHMENT_FORMATS.image,
        audioFormats: ATTACHMENT_FORMATS.audio,
        videoFormats: ATTACHMENT_FORMATS.video,
      },
      conversations: this.conversations.size,
      counts: { ...this.counts },
    };
  }

  /** Checks a parsed body and reports every problem at once. */
  private parseChat(body: Buffer): ChatRequest {
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new ClientError(400, 'invalid_json', 'the body is not JSON; send {"conversation": "id", "message": "text", "image" | "audio" | "video"?: {"name", "data": base64}}');
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ClientError(400, 'invalid_request', 'the body must be a JSON object');
    const j = json as Record<string, unknown>;
    const problems: string[] = [];
    const known = new Set(['checkpoint', 'conversation', 'message', ...ATTACHMENT_KINDS, 'maxTokens', 'temperature', 'seed', 'transcribeFirst']);
    for (const k of Object.keys(j)) if (!known.has(k)) problems.push(`unknown field '${k}' (known: ${[...known].join(', ')})`);
    let checkpoint = this.checkpoint(undefined);
    const cp = j['checkpoint'];
    if (cp !== undefined && (typeof cp !== 'string' || !this.checkpoints.has(cp))) problems.push(`checkpoint: expected one of ${[...this.checkpoints.keys()].join(', ')}, got ${JSON.stringify(cp)?.slice(0, 60)}`);
    else if (cp !== undefined) checkpoint = this.checkpoints.get(cp)!;
    const conversation = j['conversation'];
    if (typeof conversation !== 'string' || !CONVERSATION_ID.test(conversation)) problems.push(`conversation: expected 1-64 characters of A-Z a-z 0-9 _ -, got ${JSON.stringify(conversation)?.slice(0, 80)}`);
    const message = j['message'] ?? '';
    const given = ATTACHMENT_KINDS.filter((k) => j[k] !== undefined && j[k] !== null);
    // A spoken message may come without typed text (the audio is the question, or it is transcribed).
    if (typeof message !== 'string' || (message.trim() === '' && !given.includes('audio'))) problems.push('message: expected non-empty text (it may be empty only with audio)');
    else if (message.length > this.o.maxMessageChars) problems.push(`message: ${message.length} characters, the limit is ${this.o.maxMessageChars}`);
    const num = (k: string, def: number, min: number, max: number, integer: boolean): number => {
      const v = j[k];
      if (v === undefined) return def;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
        problems.push(`${k}: expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`);
        return def;
      }
      return v;
    };
    const maxTokens = num('maxTokens', this.o.maxTokens, 1, this.o.maxTokens, true);
    const temperature = num('temperature', 0, 0, 2, false);
    const seed = num('seed', 0, 0, 0xffff_ffff, true);
    const transcribeFirst = j['transcribeFirst'] ?? false;
    if (typeof transcribeFirst !== 'boolean') problems.push(`transcribeFirst: expected true or false, got ${JSON.stringify(transcribeFirst)?.slice(0, 40)}`);
    else if (transcribeFirst && (!given.includes('audio') || typeof message !== 'string' || message.trim() === '')) {
      problems.push('transcribeFirst: answers a spoken question about the typed message — send audio and a non-empty message');
    }
    const attachments: Attachment[] = [];
    for (const kind of given) {
      const att = j[kind];
      const o = (typeof att === 'object' ? att : {}) as Record<string, unknown>;
      const name = typeof o['name'] === 'string' ? o['name'].slice(0, 200) : kind;
      const data = o['data'];
      const upload = o['upload'];
      if (typeof att === 'object' && att !== null && upload !== undefined) {
        const u = typeof upload === 'string' ? this.uploads.take(upload) : undefined;
        if (!u) problems.push(`${kind}: no upload ${JSON.stringify(upload)?.slice(0, 40)} (an upload is used once, and deleted after ${Math.round(this.o.uploadTtlMs / 1000)} s; POST the file to /api/uploads again)`);
        else {
          // Taken now; if the message is refused below, the file goes with it.
          attachments.push({ kind, name: u.name, path: u.path, format: u.format, release: u.release });
        }
      } else if (typeof att !== 'object' || typeof data !== 'string') problems.push(`${kind}: expected {"name": "file name", "data": "<base64 bytes>"} or {"upload": "<id from /api/uploads>"}`);
      else if (!BASE64.test(data)) problems.push(`${kind} '${name}': data is not base64 (send the file's bytes base64-encoded, no data: URL prefix)`);
      else {
        const bytes = Buffer.from(data, 'base64');
        if (bytes.length > this.o.maxUploadBytes) throw new ClientError(413, 'payload_too_large', `${kind} '${name}' is ${bytes.length} bytes, the limit is ${this.o.maxUploadBytes}`);
        attachments.push({ kind, name, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) });
      }
    }
    if (problems.length > 0) {
      releaseAll(attachments);
      throw new ClientError(400, 'invalid_request', problems.join('; '));
    }
    return { checkpoint, conversation: conversation as string, message: (message as string).trim(), maxTokens, temperature, seed, transcribeFirst: transcribeFirst === true, attachments };
  }

  private async chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counts.requests++;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort('timeout'), this.o.requestTimeoutMs);
    // The client leaving before the answer is complete cancels the work (queue wait or generation).
    const onClose = (): void => {
      if (!res.writableFinished) {
        ac.abort('cancelled');
        this.events.emit('client-closed');
      }
    };
    res.on('close', onClose);
    try {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json') throw new ClientError(415, 'unsupported_media_type', `send the message as application/json (got '${type || 'no content type'}'); images go base64 in its "image" field`);
      const body = await readBody(req, this.o.maxBodyBytes);
      const r = this.parseChat(body);
      const engine = r.checkpoint.engine;
      let media: Pick<Turn, 'image' | 'audio' | 'clip'> = {};
      try {
        // Each attachment judged and decoded; a message may carry an image, audio and a clip together.
        for (const a of r.attachments) media = { ...media, ...(await this.prepare(engine, a)) };
      } finally {
        releaseAll(r.attachments);
      }
      if (r.transcribeFirst && !engine.transcribe) throw new ClientError(400, 'speech_not_loaded', 'transcribeFirst: this model cannot transcribe audio');
      const turn: Turn = { role: 'user', text: r.message, ...media };
      const history = this.conversations.get(this.historyKey(r));
      let turns = this.fitHistory(engine, history, turn, r.maxTokens);
      let release: () => void;
      try {
        release = await this.queue.acquire(ac.signal);
      } catch (e) {
        if (e instanceof QueueFullError) {
          this.counts.rejectedBusy++;
          const wait = Math.max(1, Math.ceil(this.meanSeconds * (this.queue.load.waiting + 1)));
          throw new ClientError(503, 'busy', `the server is busy (${this.queue.load.waiting} waiting, queue limit ${this.o.queueSize}); retry in ${wait} s`, { 'Retry-After': String(wait) });
        }
        if (ac.signal.reason === 'timeout') {
          this.counts.timedOut++;
          throw new ClientError(504, 'timeout', `waited ${this.o.requestTimeoutMs} ms in the queue without a turn; retry later`);
        }
        return; // the client left while waiting
      }
      let stopped: Promise<void> = Promise.resolve();
      try {
        let heard: string | undefined;
        let heardSeconds = 0;
        if (r.transcribeFirst) {
          // The cascade: hear the question (in the queue slot: it runs the model), then answer it as text.
          const t0 = performance.now();
          try {
            heard = await engine.transcribe!(turn.audio!, { maxTokens: r.maxTokens, signal: ac.signal });
          } catch (e) {
            if (!ac.signal.aborted) throw e;
            // Stopped between beam steps: the client left, or the deadline passed before anything was sent.
            this.events.emit('generation', { conversation: r.conversation, tokens: 0, reason: ac.signal.reason === 'timeout' ? 'timeout' : 'cancelled' } satisfies GenerationRecord);
            if (ac.signal.reason !== 'timeout') {
              this.counts.cancelled++;
              return;
            }
            this.counts.timedOut++;
            throw new ClientError(504, 'timeout', `the transcription took longer than the ${this.o.requestTimeoutMs} ms limit; it was stopped`);
          }
          heardSeconds = (performance.now() - t0) / 1000;
          const { audio: _, ...rest } = turn;
          turns = this.fitHistory(engine, history, { ...rest, text: `${r.message} ${heard}` }, r.maxTokens);
        }
        stopped = (await this.stream(res, r, turns, ac.signal, heard === undefined ? undefined : { text: heard, seconds: heardSeconds })).stopped;
      } finally {
        void stopped.finally(release);
      }
    } catch (e) {
      this.fail(res, e);
    } finally {
      clearTimeout(timer);
      res.off('close', onClose);
    }
  }

  /** An attachment judged by its bytes (magic numbers, never its name or a declared type), then decoded by the engine. */
  private async prepare(e: ChatEngine, a: Attachment): Promise<Pick<Turn, 'image' | 'audio' | 'clip'>> {
    const sniffed = 'bytes' in a ? sniffFormat(a.bytes) : a.format;
    const accepted: readonly SniffedFormat[] = ATTACHMENT_FORMATS[a.kind];
    if (!accepted.includes(sniffed)) {
      throw new ClientError(415, NOT_A[a.kind], `'${a.name}' is not ${WHAT[a.kind]}: its bytes ${sniffed === 'unknown' ? 'start with no known signature' : `look like ${sniffed}`} (the name and declared type are not trusted); accepted: ${accepted.join(', ')}`);
    }
    const modality = MODALITY[a.kind];
    if (e.status()[modality] === null || (a.kind === 'audio' && !e.prepareAudio) || (a.kind === 'video' && !e.prepareClip)) {
      throw new ClientError(400, `${modality}_not_loaded`, `${modality}: not loaded — this server does not take ${a.kind === 'image' ? 'images' : a.kind === 'audio' ? 'audio' : 'clips'} (start it with ${FLAG[a.kind]}); '${a.name}' is ${sniffed} ${a.kind}`);
    }
    // A streamed clip stays a file (ffmpeg reads it there); an image or audio (small, size-limited) is read.
    if (a.kind === 'video') return { clip: await e.prepareClip!('bytes' in a ? a.bytes : { path: a.path }, a.name) };
    const bytes = 'bytes' in a ? a.bytes : new Uint8Array(await readFile(a.path));
    if (a.kind === 'image') return { image: await e.prepareImage(bytes, a.name) };
    return { audio: await e.prepareAudio!(bytes, a.name) };
  }

  /** `POST /api/uploads?name=FILE[&kind=image|audio|video]`: the body streamed to a private file (uploads.ts); answers 201 {upload, name, bytes, format}. */
  private async upload(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    // The name is shown back in messages only: printable characters, at most 200.
    const name = (url.searchParams.get('name') ?? 'upload').replace(/[^\x20-\x7e\u00a0-\uffff]/g, '_').slice(0, 200) || 'upload';
    // `kind` (optional): the field the upload is for; its bytes must then be that kind (the refusal the message would get, given now).
    const kind = url.searchParams.get('kind');
    if (kind !== null && !(ATTACHMENT_KINDS as readonly string[]).includes(kind)) throw new ClientError(400, 'invalid_request', `kind: expected one of ${ATTACHMENT_KINDS.join(', ')}, got ${JSON.stringify(kind.slice(0, 40))}`);
    let u: Awaited<ReturnType<UploadStore['receive']>>;
    try {
      u = await this.uploads.receive(req, name, AbortSignal.timeout(this.o.requestTimeoutMs));
    } catch (e) {
      // Bytes of no accepted format at all: for a declared kind, the kind's own refusal.
      if (kind !== null && e instanceof ClientError && e.status === 415) throw new ClientError(415, NOT_A[kind as AttachmentKind], `not ${WHAT[kind as AttachmentKind]}: ${e.message}`);
      throw e;
    }
    if (kind !== null && !(ATTACHMENT_FORMATS[kind as AttachmentKind] as readonly SniffedFormat[]).includes(u.format)) {
      const k = kind as AttachmentKind;
      this.uploads.take(u.id)?.release();
      throw new ClientError(415, NOT_A[k], `'${u.name}' is not ${WHAT[k]}: its bytes look like ${u.format} (the name and declared type are not trusted); accepted: ${ATTACHMENT_FORMATS[k].join(', ')}`);
    }
    sendJson(res, 201, { upload: u.id, name: u.name, bytes: u.bytes, format: u.format, expiresInSeconds: Math.round(this.o.uploadTtlMs / 1000) });
  }

  /** Drops the oldest exchanges until the prompt and the answer fit the context; a lone message that does not fit is refused. */
  private fitHistory(engine: ChatEngine, history: readonly Turn[], turn: Turn, maxTokens: number): Turn[] {
    const ctx = engine.contextTokens;
    let turns = [...history, turn];
    while (engine.promptTokens(turns) + maxTokens > ctx) {
      if (turns.length === 1) {
        throw new ClientError(400, 'context_overflow', `the message takes ${engine.promptTokens(turns)} tokens and the answer up to ${maxTokens}; the model's context is ${ctx} tokens: shorten the message or ask for fewer tokens`);
      }
      turns = turns.slice(2 <= turns.length - 1 ? 2 : 1);
    }
    return turns;
  }

  /** Streams the answer; resolves with a promise that settles once the generator has really stopped. */
  private async stream(res: ServerResponse, r: ChatRequest, turns: readonly Turn[], signal: AbortSignal, heard?: { text: string; seconds: number }): Promise<{ stopped: Promise<void> }> {
    let stopped: Promise<void> = Promise.resolve();
    const t0 = performance.now();
    const engine = r.checkpoint.engine;
    const promptTokens = engine.promptTokens(turns);
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    const send = (event: string, data: unknown): void => {
      if (!res.destroyed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    send('start', { checkpoint: r.checkpoint.id, conversation: r.conversation, promptTokens, queue: this.queue.load });
    if (heard !== undefined) send('heard', { text: heard.text, seconds: round(heard.seconds) });
    let tokens = 0;
    let text = '';
    let firstMs: number | undefined;
    let reason: EndReason = 'stop';
    try {
      const it = engine.generate(turns, { maxTokens: r.maxTokens, temperature: r.temperature, seed: r.seed });
      const aborted = new Promise<'aborted'>((resolve) => {
        if (signal.aborted) resolve('aborted');
        else signal.addEventListener('abort', () => resolve('aborted'), { once: true });
      });
      for (;;) {
        // A cancel or deadline answers at once, even while a token is being computed; the generator is
        // stopped (its session released) when that token arrives, and only then is the queue slot freed.
        const pending = it.next();
        const got = await Promise.race([pending, aborted]);
        if (got === 'aborted') {
          stopped = pending.then(() => it.return(undefined)).then(() => undefined, () => undefined);
          break;
        }
        if (got.done === true) break;
        const p = got.value;
        if (p.id >= 0) tokens++;
        firstMs ??= performance.now() - t0;
        text += p.text;
        if (p.text !== '' || p.id >= 0) send('token', { text: p.text, id: p.id });
      }
      if (signal.aborted) reason = signal.reason === 'timeout' ? 'timeout' : 'cancelled';
      else if (tokens >= r.maxTokens) reason = 'length';
    } catch (e) {
      reason = 'error';
      this.events.emit('generation', { conversation: r.conversation, tokens, reason } satisfies GenerationRecord);
      throw e;
    }
    const seconds = (performance.now() - t0) / 1000;
    if (reason === 'cancelled') this.counts.cancelled++;
    else if (reason === 'timeout') this.counts.timedOut++;
    else {
      this.counts.completed++;
      this.meanSeconds = 0.8 * this.meanSeconds + 0.2 * seconds;
      this.conversations.append(this.historyKey(r), turns[turns.length - 1]!, { role: 'assistant', text });
    }
    this.events.emit('generation', { conversation: r.conversation, tokens, reason } satisfies GenerationRecord);
    if (reason === 'timeout') {
      send('error', { error: { code: 'timeout', message: `the answer took longer than the ${this.o.requestTimeoutMs} ms limit; it was cut after ${tokens} tokens` } });
    } else if (reason !== 'cancelled') {
      const genSeconds = firstMs === undefined ? 0 : seconds - firstMs / 1000;
      send('done', {
        tokens,
        promptTokens,
        reason,
        seconds: round(seconds),
        timeToFirstTokenMs: firstMs === undefined ? null : round(firstMs),
        tokensPerSecond: tokens > 1 && genSeconds > 0 ? round((tokens - 1) / genSeconds) : null,
      });
    }
    res.end();
    return { stopped };
  }
}

const round = (x: number): number => Math.round(x * 1000) / 1000;


