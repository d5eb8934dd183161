import { HerdError } from '@herd/core';

/** Parsed `--flag value` / `--switch` arguments; unknown flags are errors listing the valid ones. */
export class Args {
  private readonly values = new Map<string, string | true>();
  readonly positional: string[] = [];

  constructor(argv: readonly string[], private readonly known: Readonly<Record<string, 'value' | 'switch'>>) {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (!a.startsWith('--')) {
        this.positional.push(a);
        continue;
      }
      const name = a.slice(2);
      const kind = known[name];
      if (!kind) throw new HerdError('invalid_argument', `unknown option --${name}; valid options: ${Object.keys(known).map((k) => `--${k}`).join(', ')}`);
      if (kind === 'switch') this.values.set(name, true);
      else {
        const v = argv[++i];
        if (v === undefined) throw new HerdError('invalid_argument', `--${name} needs a value`);
        this.values.set(name, v);
      }
    }
  }

  str(name: string, def: string): string;
  str(name: string): string | undefined;
  str(name: string, def?: string): string | undefined {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : def;
  }

  num(name: string, def: number): number {
    const v = this.values.get(name);
    if (typeof v !== 'string') return def;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new HerdError('invalid_argument', `--${name} must be a number, got '${v}'`);
    return n;
  }

  has(name: string): boolean {
    return this.values.get(name) === true;
  }
}
