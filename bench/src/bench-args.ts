/**
 * Command-line helpers shared by the benchmarks (they parse `--name value` pairs only; the benches
 * are developer tools, not the `herd` CLI with its validating parser).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);

/** The value after `--name`, or `def` when the flag is absent. */
export function flag(name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
}

/** `--features DIR`, else the first `out/video/features-*` folder the video recipe cached. */
export function videoFeaturesDir(): string {
  return flag('features', join('out', 'video', readdirSync(join('out', 'video')).find((d) => d.startsWith('features-')) ?? 'features'));
}
