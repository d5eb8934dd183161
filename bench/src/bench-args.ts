/**
 * Command-line helpers shared by the benchmarks (they parse `--name value` pairs only; the benches
 * are developer tools, not the `herd` CLI with its validating parser).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);

/** The value after `--name`, or `def` when the flag is absent. */
export function flag(name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
}

/** `--features DIR`, else the first `out/video/features-*` folder the video recipe cached. */
export function videoFeaturesDir(): string {
  const given = flag('features', '');
  if (given) return given;
  const root = join('out', 'video');
  const found = existsSync(root) ? readdirSync(root).find((d) => d.startsWith('features-')) : undefined;
  if (!found) {
    console.error(`no cached video features under ${root}/features-*: run 'herd video train' first (it caches them), or pass --features DIR`);
    process.exit(1);
  }
  return join(root, found);
}
