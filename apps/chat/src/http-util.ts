/**
 * Small HTTP helpers of the chat server: JSON errors (`{error: {code, message}}`, never a stack),
 * bounded body reading (413 past the limit), and safe static files (no path traversal).
 */
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse } from 'node:http';
import { extname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { PassThrough } from 'node:stream';

/** An error the client sees: an HTTP status, a stable code and a message saying what to do. */
export class ClientError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, e: ClientError): void {
  sendJson(res, e.status, { error: { code: e.code, message: e.message } }, e.headers);
}

/**
 * The request body's chunks. Leaving a `for await` early destroys the stream it iterates, and
 * destroying an IncomingMessage destroys its socket — the refusal (413/415) would never reach the
 * client. Iterating a pass-through instead leaves the request paused and the socket open for the
 * answer (sent with `Connection: close`). A client that leaves before the body ends fails the iteration
 * (a ClientError), so the reader cleans up instead of waiting.
 */
export function bodyChunks(req: IncomingMessage): AsyncIterable<Buffer> {
  const body = new PassThrough();
  // pipe() forwards neither errors nor a client that leaves mid-body: without this the reader would wait
  // forever, holding its upload slot and temporary file.
  const leftEarly = (): void => {
    if (!req.complete) body.destroy(new ClientError(400, 'invalid_request', 'the client closed the connection before the request body ended'));
  };
  req.once('close', leftEarly);
  req.once('error', leftEarly);
  return req.pipe(body);
}

/**
 * Reads a request body of at most `maxBytes`: a Content-Length over the limit is refused before
 * reading, a body that grows past it is refused as soon as it does (413 either way).
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooBig = (got: string): ClientError =>
    new ClientError(413, 'payload_too_large', `request body ${got} is over the limit of ${maxBytes} bytes; send a smaller image (the limit is set with --max-upload-mb)`);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooBig(`of ${declared} bytes`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of bodyChunks(req)) {
    total += chunk.length;
    if (total > maxBytes) throw tooBig('(still arriving)');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Serves a file under `root` for a URL path, or throws a 404 ClientError. The decoded path must stay
 * inside `root` after resolving `..` and symbolic links; NUL bytes, backslashes and unknown file
 * types are refused.
 */
export function serveStatic(res: ServerResponse, root: string, urlPath: string, head: boolean, extraHeaders: Readonly<Record<string, string>> = {}): void {
  const notFound = new ClientError(404, 'not_found', `no such page: ${urlPath.slice(0, 200)}`);
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    throw notFound;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) throw notFound;
  const rel = decoded === '/' ? 'index.html' : decoded.replace(/^\/+/, '');
  const realRoot = realpathSync(root);
  const candidate = resolve(realRoot, rel);
  let real: string;
  try {
    real = realpathSync(candidate);
  } catch {
    throw notFound;
  }
  const r = relative(realRoot, real);
  if (r === '' || r.startsWith('..') || isAbsolute(r) || r.split(sep).includes('..')) throw notFound;
  const type = CONTENT_TYPES[extname(real).toLowerCase()];
  if (type === undefined) throw notFound;
  const st = statSync(real);
  if (!st.isFile()) throw notFound;
  res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': st.size, 'Cache-Control': 'no-cache', ...extraHeaders });
  if (head) res.end();
  else createReadStream(join(real)).pipe(res);
}
