/**
 * The page's share of herd, built for the browser: `src/web/entry.ts` (herd's tokenizer, pruned
 * vocabulary and image tiling, through the packages' own exports) bundled by esbuild into one ES
 * module, in memory, once per server (~30 KB, tens of milliseconds), served as `/web/herd.js`. So the
 * page runs the same code as the server, not a port of it.
 *
 * The packages are `"sideEffects": false`, so only the modules the entry needs are kept. Third-party
 * packages stay out (left as imports, refused below); Node built-ins still imported by a kept module
 * for functions the page never calls (e.g. `PrunedVocab.load`'s `readFileSync`) resolve to an empty
 * module, so the bundle has no import left.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { HerdError } from '@herd/core';

/** The entry (the same path from src/ and dist/). */
export const WEB_ENTRY = fileURLToPath(new URL('../src/web/entry.ts', import.meta.url));

let built: Promise<Uint8Array> | undefined;

/** The bundle's bytes (built on the first call). */
export function webBundle(): Promise<Uint8Array> {
  built ??= buildWebBundle().catch((e: unknown) => {
    built = undefined;
    throw e;
  });
  return built;
}

export async function buildWebBundle(): Promise<Uint8Array> {
  const r = await build({
    entryPoints: [WEB_ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['source'],
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
    plugins: [{
      name: 'herd-web',
      setup(b) {
        b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'node-builtin' }));
        b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
        // Anything but herd's own packages and relative files stays outside (and is refused below).
        b.onResolve({ filter: /.*/ }, (a) => (/^(\.|\/|@herd\/)/.test(a.path) || a.kind === 'entry-point' ? undefined : { path: a.path, external: true }));
      },
    }],
  });
  const text = r.outputFiles[0]!.text;
  const left = [...text.matchAll(/^\s*import\s[^;]*?from\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']/gm)].map((m) => m[1] ?? m[2]);
  if (left.length > 0) throw new HerdError('runtime_error', `web bundle of ${WEB_ENTRY}: it still imports ${left.join(', ')}; the page cannot load those (keep browser code off third-party Node packages)`);
  return r.outputFiles[0]!.contents;
}
