/**
 * What the page's in-browser mode loads from the chat server: the loaded model as an export under
 * /model/ (only the export's own file names) and onnxruntime-web's loaders and wasm under /ort/
 * (only files of its dist folder), with a page policy that lets wasm compile and nothing load from
 * elsewhere.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExportManifest } from '@herd/llama3';
import { HerdEngine } from './engine.js';
import { ChatServer } from './server.js';

let engine: HerdEngine;
let server: ChatServer;
let url: string;
beforeAll(async () => {
  engine = await HerdEngine.load({ device: 'cpu' });
  server = new ChatServer({ engine, log: () => {} });
  ({ url } = await server.listen(0, '127.0.0.1'));
});
afterAll(async () => {
  await server.close();
  await engine.release();
});

describe('in-browser files', () => {
  it('serves the loaded model as an export: manifest, decoder, tokenizer — and nothing by path', async () => {
    const res = await fetch(`${url}model/manifest.json`);
    expect(res.status).toBe(200);
    const m = (await res.json()) as ExportManifest;
    expect(m.format).toBe('herd.onnx-export');
    expect(m.modalities).toEqual({}); // this server runs the core alone
    const dec = await fetch(`${url}model/${m.decoder.file}`);
    expect(dec.headers.get('content-type')).toBe('application/octet-stream');
    const bytes = new Uint8Array(await dec.arrayBuffer());
    expect(bytes.length).toBe(m.decoder.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(m.decoder.sha256);
    expect((await fetch(`${url}model/${m.tokenizer.file}`)).status).toBe(200);
    for (const bad of ['../package.json', '..%2fpackage.json', 'vision.encoder.onnx', 'decoder.onnx%00', '']) {
      const r = await fetch(`${url}model/${bad}`);
      expect(r.status, bad).toBe(404);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('not_found');
    }
    expect(((await (await fetch(`${url}api/status`)).json()) as { browserMode: boolean }).browserMode).toBe(true);
  });

  it("serves herd's own tokenizer and tiling for the page as one bundle (/web/herd.js): herd's package code, no import left, no copy in public/", async () => {
    const res = await fetch(`${url}web/herd.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    const js = await res.text();
    expect(js).not.toMatch(/^\s*import\s/m);
    expect(js).toMatch(/export\s*\{[^}]*WebTokenizer[^}]*\}/);
    // Built from the packages' sources: herd's BPE and Pillow-exact resize, not ports.
    expect(js).toContain('packages/llama3/src/tokenizer/bpe.ts');
    expect(js).toContain('packages/vision/src/data/resize.ts');
    for (const gone of ['web/tokenizer.js', 'web/tiling.js']) expect((await fetch(`${url}${gone}`)).status, gone).toBe(404);
  });

  it("serves onnxruntime-web's loaders and wasm from its package (right types), nothing outside it; the page may compile wasm", async () => {
    const js = await fetch(`${url}ort/ort.wasm.min.mjs`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    const wasm = await fetch(`${url}ort/ort-wasm-simd-threaded.wasm`, { method: 'HEAD' });
    expect(wasm.status).toBe(200);
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    for (const bad of ['../package.json', '%2e%2e/package.json', '..%2f..%2fpackage.json', 'ort.wasm.min.mjs.map']) expect((await fetch(`${url}ort/${bad}`)).status, bad).toBe(404);
    const page = await fetch(url);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|https?:/);
  });
});
