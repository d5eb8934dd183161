/**
 * Command-line helpers shared by the benchmarks (they parse `--name value` pairs and `--switch`es
 * only; the benches are developer tools, not the `herd` CLI with its validating parser). One reader
 * for every bench, instead of a copy in each.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The bench's own arguments (after `node script`). */
export const args: readonly string[] = process.argv.slice(2);

/** A `--name value` reader over some arguments (a bench's child process passes its own). */
export function flags(argv: readonly string[]): (name: string, def: string) => string {
  return (name, def) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
  };
}

/** The value after `--name`, or `def` when the flag is absent. */
export const flag: (name: string, def: string) => string = flags(args);

/** The value after `--name`; absent: the bench stops, naming the flag. */
export function requiredFlag(name: string): string {
  const i = args.indexOf(`--${name}`);
  if (i >= 0 && args[i + 1]) return args[i + 1]!;
  console.error(`--${name} is required`);
  process.exit(2);
}

/** Whether the switch `--name` (no value) is given. */
export function hasFlag(name: string): boolean {
  return args.includes(`--${name}`);
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
