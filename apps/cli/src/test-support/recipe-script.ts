/**
 * For the tests that keep a package's turbo `train` / `eval` scripts equal to its committed checkpoint's card
 * (`video-recipe-script.test.ts`, `vision-recipe-script.test.ts`): a script's `herd` arguments and a command line's values.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type FlagSpecs, type FlagValues, parseCommandLine } from '@herd/core';

/** How a package script calls the CLI (from the package's folder). */
const CLI = 'cd ../.. && node apps/cli/dist/main.js ';

/** packages/NAME/ of this checkout. */
export function packageDir(name: string): string {
  return fileURLToPath(new URL(`../../../../packages/${name}/`, import.meta.url));
}

/** The `herd` arguments after `words` of the package's script `script`; an error if the script is not `herd words …`. */
export function scriptArgs(name: string, script: string, words: string): string[] {
  const line = (JSON.parse(readFileSync(`${packageDir(name)}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts[script];
  if (!line?.startsWith(`${CLI}${words} `)) throw new Error(`packages/${name}'s '${script}' script is not \`${CLI}${words} …\`: ${line}`);
  return line.slice(CLI.length + words.length + 1).trim().split(/\s+/);
}

/** A command line's values as the CLI parses them (defaults filled), less --data (a machine's own folder); an error on positionals. */
export function valuesLessData<F extends FlagSpecs>(args: readonly string[], flags: F): Omit<FlagValues<F>, 'data'> {
  const { values, positionals } = parseCommandLine(args, flags);
  if (positionals.length > 0) throw new Error(`unexpected words: ${positionals.join(' ')}`);
  const { data: _, ...rest } = values as FlagValues<F> & { data?: unknown };
  return rest;
}
