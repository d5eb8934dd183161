/**
 * node-llama-cpp, loaded from its bench-only install (bench/llama-cpp, set up by `npm run
 * bench:setup`): it is no dependency of any workspace, so a plain `npm ci` does not download
 * llama.cpp's ~620 MB of binaries. The few parts of its API the benchmark uses are typed here, so
 * the type-check passes without it installed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** A token id (node-llama-cpp brands plain numbers). */
export type Token = number & { readonly __token?: never };

export interface LlamaContextSequence {
  clearHistory(): Promise<void>;
  evaluate(tokens: Token[], options: { temperature: number; yieldEogToken: boolean }): AsyncGenerator<Token>;
}
export interface LlamaContext {
  getSequence(): LlamaContextSequence;
  dispose(): Promise<void>;
}
export interface LlamaModel {
  createContext(options: {
    contextSize: number;
    sequences: number;
    threads: { ideal: number; min: number };
    flashAttention: boolean | 'auto';
    experimentalKvCacheKeyType: 'F32' | 'F16';
    experimentalKvCacheValueType: 'F32' | 'F16';
  }): Promise<LlamaContext>;
  dispose(): Promise<void>;
}
export interface Llama {
  readonly systemInfo: string;
  readonly llamaCppRelease: { readonly release: string };
  loadModel(options: { modelPath: string; gpuLayers: number }): Promise<LlamaModel>;
  dispose(): Promise<void>;
}
export interface LlamaCpp {
  readonly version: string;
  getLlama(options: { gpu: false; build: 'never'; skipDownload: true; maxThreads: number; logLevel: unknown; progressLogs: boolean }): Promise<Llama>;
  readonly LlamaLogLevel: { readonly error: unknown };
}

/** bench/llama-cpp, from bench/src or bench/dist alike. */
export const LLAMA_CPP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'llama-cpp');

export async function importLlamaCpp(): Promise<LlamaCpp> {
  const pkgDir = join(LLAMA_CPP_DIR, 'node_modules', 'node-llama-cpp');
  const pkgJson = join(pkgDir, 'package.json');
  if (!existsSync(pkgJson)) {
    throw new Error(`node-llama-cpp is a bench-only install and is not in ${LLAMA_CPP_DIR}: run 'npm run bench:setup' (the CPU build for this platform), or pass --no-llama to measure herd alone`);
  }
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string; exports: { '.': { import: string } } };
  const mod = (await import(pathToFileURL(join(pkgDir, pkg.exports['.'].import)).href)) as Omit<LlamaCpp, 'version'>;
  return { version: pkg.version, getLlama: mod.getLlama, LlamaLogLevel: mod.LlamaLogLevel };
}
