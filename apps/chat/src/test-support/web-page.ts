/**
 * The page's in-browser engine (public/web/engine.js) and the bundle it gets as /web/herd.js, loaded in Node with
 * onnxruntime-web's WASM backend over an in-memory export, as the page loads them from the chat server.
 */
import * as ort from 'onnxruntime-web';
import { type BuiltExport } from '@herd/llama3';
import { buildWebBundle } from '../web-bundle.js';

// Plain JS modules of the page (no types): loaded by URL.
export interface WebEngineLike {
  backend: string;
  promptIds(turns: readonly unknown[]): number[];
  prepareImage(rgb: { data: Uint8Array; width: number; height: number }): { pixels: Float32Array; aspectRatioId: number; tileMask: Uint8Array; nTiles: number; silhouettePixels?: Float32Array };
  prepareAudio(samples: Float32Array, name?: string): { features: Float32Array; frames: number };
  prepareClip(frames: { data: Uint8Array; width: number; height: number }[]): unknown;
  speech: { maxSeconds: number; maxFrames: number; preprocess: { logMel: { sampleRate: number } } } | null;
  video: { frames: number } | null;
  media: { image: boolean; audio: boolean; clip: boolean };
  generate(turns: readonly unknown[], o: { maxTokens: number; jointCtc?: { weight: number; beam: number }; signal?: AbortSignal }): AsyncGenerator<{ id: number; text: string }>;
  transcribe(audio: unknown, o: { maxTokens: number; signal?: AbortSignal }): Promise<string>;
  release(): Promise<void>;
  tok: { encodeOrdinary(t: string): number[]; encodeChat(m: unknown[], gen: boolean): number[] };
}
const webEngineModule = (): Promise<{ WebEngine: { load(o: unknown, base: string, opts: unknown): Promise<WebEngineLike> } }> => import(new URL('../../public/web/engine.js', import.meta.url).href);
export type HerdWeb = typeof import('../web/entry.js');
/** The bundle served as /web/herd.js, imported from memory. */
const bundleModule = async (): Promise<HerdWeb> => import(`data:text/javascript;base64,${Buffer.from(await buildWebBundle()).toString('base64')}`) as Promise<HerdWeb>;

/** A fetch over the in-memory export, as the server's /model/ routes answer it. */
function exportFetch(built: BuiltExport): (url: string) => Promise<Response> {
  return async (url) => {
    const name = url.replace(/^mem:\/model\//, '');
    const body = name === 'manifest.json' ? JSON.stringify(built.manifest) : built.files.get(name);
    return body === undefined ? new Response('missing', { status: 404 }) : new Response(body);
  };
}

export async function collect(it: AsyncGenerator<{ id: number; text: string }>): Promise<{ ids: number[]; text: string }> {
  const ids: number[] = [];
  let text = '';
  for await (const p of it) {
    if (p.id >= 0) ids.push(p.id);
    text += p.text;
  }
  return { ids, text };
}

/** The page's engine on `built` (one WASM thread) and the bundle it runs with. */
export async function loadWebEngine(built: BuiltExport): Promise<{ web: WebEngineLike; herd: HerdWeb }> {
  ort.env.wasm.numThreads = 1;
  const { WebEngine } = await webEngineModule();
  const herd = await bundleModule();
  return { web: await WebEngine.load(ort, 'mem:/model/', { herd, backend: 'wasm', fetch: exportFetch(built) }), herd };
}
