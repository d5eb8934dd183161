/**
 * espeak-ng as a speech synthesiser. The npm `espeak-ng` package (espeak-ng 1.52 compiled to WASM,
 * data embedded) runs under Node 20 with no system install, so it is preferred; Debian's
 * `espeak-ng` binary is the fallback (a little faster: the Emscripten build needs a fresh ~250 ms
 * WASM instance for every utterance, since its `main` exits).
 * Outputs of the two differ, so meta records which one spoke.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
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

/** The slice of the WebAssembly global we use; lib ES2023 without DOM does not declare it. */
interface Wasm {
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<object>;
}
const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

async function openWasm(): Promise<TtsEngine> {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('espeak-ng');
  const wasmPath = join(dirname(entry), 'espeak-ng.wasm');
  // Compiled once; each utterance only instantiates (the build's main() exits, so no reuse).
  const module = await wasm.compile(readFileSync(wasmPath));
  // The package ships no types; its default export is the Emscripten module factory.
  const factory = ((await import('espeak-ng' as string)) as { default: EspeakFactory }).default;
  return {
    name: 'espeak-ng-wasm',
    async speak(text, o) {
      const errors: string[] = [];
      const es = await factory({
        arguments: ['-w', '/out.wav', ...args(text, o)],
        instantiateWasm(imports: { env: Record<string, unknown> }, done: (instance: object) => void) {
          // espeak-ng seeds its random jitter from the clock; a fixed clock makes the audio a
          // function of the text and voice alone (same seed, same bytes).
          const env = { ...imports.env, emscripten_date_now: () => 0, emscripten_get_now: () => 0 };
          void wasm.instantiate(module, { ...imports, env, wasi_snapshot_preview1: env }).then(done);
          return {};
        },
        print() {},
        printErr(e: string) {
          errors.push(e);
        },
      });
      let wav: Uint8Array;
      try {
        wav = es.FS.readFile('/out.wav');
      } catch (e) {
        throw new HerdError('runtime_error', `espeak-ng (wasm) wrote no audio for voice ${o.voice}: ${errors.join('; ')}`, { cause: e });
      }
      return decodeWav(wav, `espeak-ng(${o.voice})`);
    },
  };
}

function findOnPath(exe: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, exe))) return join(dir, exe);
  }
  return undefined;
}

function openBinary(path: string): TtsEngine {
  return {
    name: 'espeak-ng-binary',
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
 * Debian binary when the package cannot load.
 */
export async function openTts(prefer: TtsPreference = 'auto', env: NodeJS.ProcessEnv = process.env): Promise<TtsEngine> {
  const problems: string[] = [];
  if (prefer !== 'binary') {
    try {
      return await openWasm();
    } catch (e) {
      problems.push(`npm espeak-ng (wasm): ${(e as Error).message}`);
      if (prefer === 'wasm') throw new HerdError('tool_missing', `espeak-ng WASM unavailable: ${(e as Error).message}`, { cause: e });
    }
  }
  const bin = findOnPath('espeak-ng', env);
  if (bin !== undefined) return openBinary(bin);
  problems.push('no espeak-ng on PATH');
  throw new HerdError('tool_missing', `no speech synthesiser: ${problems.join('; ')}. Run npm install (espeak-ng package) or apt-get install espeak-ng.`);
}
