/**
 * espeak-ng as a speech synthesiser. The npm `espeak-ng` package (espeak-ng 1.52 compiled to WASM,
 * data embedded) runs under Node 20 with no system install, so it is preferred; Debian's
 * `espeak-ng` binary is the fallback (a little faster: the Emscripten build needs a fresh ~250 ms
 * WASM instance for every utterance, since its `main` exits).
 * Outputs of the two differ, so meta records which one spoke.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HerdError } from '@herd/core';
import { decodeWav } from '@herd/media';

export interface SpeakOptions {
  /** espeak-ng voice, e.g. "en-us+f3", "fr", "de+m2". */
  readonly voice: string;
  /** Words per minute (espeak-ng -s). */
  readonly speed: number;
  /** 0–99 (espeak-ng -p). */
  readonly pitch: number;
}

export interface TtsEngine {
  /** "espeak-ng-wasm" or "espeak-ng-binary"; recorded in meta. */
  readonly name: string;
  /** How many speak() calls it runs at once (callers keep this many in flight). */
  readonly concurrency?: number;
  speak(text: string, opts: SpeakOptions): Promise<{ sampleRate: number; samples: Int16Array }>;
}

export type TtsPreference = 'auto' | 'wasm' | 'binary';

function args(text: string, o: SpeakOptions): string[] {
  return ['-v', o.voice, '-s', String(Math.round(o.speed)), '-p', String(Math.round(o.pitch)), text];
}

interface EmscriptenModule {
  FS: { readFile(path: string): Uint8Array };
}
type EspeakFactory = (opts: Record<string, unknown>) => Promise<EmscriptenModule>;

/**
 * The WASM synthesiser runs in worker threads: one compiled module per worker, a fresh instance per
 * utterance (the build's main() exits). The worker is an ES module given as a data: URL that imports
 * the espeak-ng package by its file URL, so it works the same from TypeScript sources (tests) and
 * from dist. It replies with the WAV bytes; the caller decodes them.
 */
const WORKER_SOURCE = `
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
const factory = (await import(workerData.entry)).default;
const module = await WebAssembly.compile(readFileSync(workerData.wasmPath));
parentPort.on('message', async ({ id, args }) => {
  const errors = [];
  try {
    const es = await factory({
      arguments: ['-w', '/out.wav', ...args],
      instantiateWasm(imports, done) {
        // espeak-ng seeds its random jitter from the clock; a fixed clock makes the audio a
        // function of the text and voice alone (same seed, same bytes).
        const env = { ...imports.env, emscripten_date_now: () => 0, emscripten_get_now: () => 0 };
        WebAssembly.instantiate(module, { ...imports, env, wasi_snapshot_preview1: env }).then(done);
        return {};
      },
      print() {},
      printErr(e) { errors.push(e); },
    });
    const wav = es.FS.readFile('/out.wav');
    parentPort.postMessage({ id, wav }, [wav.buffer]);
  } catch (e) {
    parentPort.postMessage({ id, error: String(e && e.message || e) + (errors.length ? ': ' + errors.join('; ') : '') });
  }
});
`;

interface Job {
  readonly resolve: (wav: Uint8Array) => void;
  readonly reject: (e: Error) => void;
  readonly voice: string;
}

/** espeak-ng WASM on `threads` worker threads; calls to speak() run concurrently, one per free worker. */
async function openWasm(threads: number): Promise<TtsEngine> {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('espeak-ng');
  const wasmPath = join(dirname(entry), 'espeak-ng.wasm');
  if (!existsSync(wasmPath)) throw new HerdError('tool_missing', `espeak-ng.wasm not found beside ${entry}`);
  const url = new URL(`data:text/javascript,${encodeURIComponent(WORKER_SOURCE)}`);
  const idle: Worker[] = [];
  const queue: { id: number; args: string[]; job: Job }[] = [];
  const pending = new Map<number, { job: Job; worker: Worker }>();
  let nextId = 0;
  const dispatch = () => {
    while (idle.length > 0 && queue.length > 0) {
      const w = idle.pop()!;
      const q = queue.shift()!;
      pending.set(q.id, { job: q.job, worker: w });
      w.ref(); // keep the process alive while work is in flight
      w.postMessage({ id: q.id, args: q.args });
    }
  };
  for (let i = 0; i < Math.max(1, threads); i++) {
    const w = new Worker(url, { workerData: { entry: pathToFileURL(entry).href, wasmPath } });
    w.unref(); // idle workers never hold the process open
    w.on('message', (m: { id: number; wav?: Uint8Array; error?: string }) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      w.unref();
      idle.push(w);
      if (m.wav) p.job.resolve(m.wav);
      else p.job.reject(new HerdError('runtime_error', `espeak-ng (wasm) wrote no audio for voice ${p.job.voice}: ${m.error}`));
      dispatch();
    });
    w.on('error', (e) => {
      for (const [id, p] of pending) {
        if (p.worker !== w) continue;
        pending.delete(id);
        p.job.reject(new HerdError('runtime_error', `espeak-ng worker failed: ${e.message}`, { cause: e }));
      }
    });
    idle.push(w);
  }
  return {
    name: 'espeak-ng-wasm',
    concurrency: Math.max(1, threads),
    async speak(text, o) {
      const wav = await new Promise<Uint8Array>((resolve, reject) => {
        queue.push({ id: nextId++, args: args(text, o), job: { resolve, reject, voice: o.voice } });
        dispatch();
      });
      return decodeWav(new Uint8Array(wav), `espeak-ng(${o.voice})`);
    },
  };
}

function findOnPath(exe: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, exe))) return join(dir, exe);
  }
  return undefined;
}

function openBinary(path: string, threads: number): TtsEngine {
  return {
    name: 'espeak-ng-binary',
    concurrency: Math.max(1, threads),
    speak(text, o) {
      return new Promise((resolve, reject) => {
        const p = spawn(path, ['--stdout', ...args(text, o)], { stdio: ['ignore', 'pipe', 'pipe'] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        p.stdout.on('data', (b: Buffer) => out.push(b));
        p.stderr.on('data', (b: Buffer) => err.push(b));
        p.on('error', (e) => reject(new HerdError('tool_missing', `could not run ${path}: ${e.message}`, { cause: e })));
        p.on('close', (code) => {
          if (code !== 0) reject(new HerdError('runtime_error', `espeak-ng exited with ${code}: ${Buffer.concat(err).toString()}`));
          else {
            try {
              resolve(decodeWav(new Uint8Array(Buffer.concat(out)), `espeak-ng(${o.voice})`));
            } catch (e) {
              reject(e);
            }
          }
        });
      });
    },
  };
}

/**
 * The speech engine: the npm WASM build unless `binary` is asked for; `auto` falls back to the
 * Debian binary when the package cannot load. `threads` utterances are synthesised at once (worker
 * threads for WASM, processes for the binary).
 */
export async function openTts(prefer: TtsPreference = 'auto', env: NodeJS.ProcessEnv = process.env, threads = 1): Promise<TtsEngine> {
  const problems: string[] = [];
  if (prefer !== 'binary') {
    try {
      return await openWasm(threads);
    } catch (e) {
      problems.push(`npm espeak-ng (wasm): ${(e as Error).message}`);
      if (prefer === 'wasm') throw new HerdError('tool_missing', `espeak-ng WASM unavailable: ${(e as Error).message}`, { cause: e });
    }
  }
  const bin = findOnPath('espeak-ng', env);
  if (bin !== undefined) return openBinary(bin, threads);
  problems.push('no espeak-ng on PATH');
  throw new HerdError('tool_missing', `no speech synthesiser: ${problems.join('; ')}. Run npm install (espeak-ng package) or apt-get install espeak-ng.`);
}
