/**
 * What every `herd <modality> curate` command shares: the run-mode flags of the shared runner (workers,
 * Redis queue, static slices, merge), the stages' config file, and the one-line outcome plus the
 * per-stage table. Each modality's command adds only its own flags and its pipeline call.
 */
import { ConfigCheck, HerdError, UsageError, checkOptions, flag, isRecord, readJsonFile, type OptionTable } from '@herd/core';
import { type Io } from './command.js';

/** The flags of a curate command that choose how the shared runner runs; `configType` names the stages' options type. */
export function curateRunFlags(configType: string) {
  return {
    config: flag.string({ placeholder: 'FILE', description: `JSON with the stages' options (${configType}); false turns a stage off` }),
    workers: flag.integer({ min: 0, default: 0, description: 'worker threads (0: in this process)' }),
    queue: flag.string({ placeholder: 'redis://HOST:PORT', description: 'coordinate shard tasks over a Redis/BullMQ queue; start workers with `herd curate-worker --queue URL`' }),
    'queue-wait': flag.integer({ min: 0, default: 600, placeholder: 'SECONDS', description: 'with --queue: stop after this long with no worker connected (finished shards are kept; 0 waits forever)' }),
    shard: flag.string({ placeholder: 'i/N', description: 'run only slice i of N (then --merge)' }),
    merge: flag.boolean({ description: 'merge the finished slices into one dataset' }),
  } as const;
}

function parseSlice(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m || Number(m[1]) >= Number(m[2])) throw new UsageError(`--shard must look like i/N with 0 ≤ i < N (e.g. 0/4), got '${text}'`);
  return { index: Number(m[1]), count: Number(m[2]) };
}

/**
 * The stages' options from `--config FILE` (a JSON object), or `{}` without it, checked key by key
 * against the pipeline's table (`checkOptions`): unknown keys (with "did you mean") and values of the
 * wrong kind are refused, every problem at once, naming the file.
 */
export function readStagesConfig<T>(file: string | undefined, what: string, rules: OptionTable): T {
  if (file === undefined) return {} as T;
  const json = readJsonFile(file, { what, code: 'invalid_config' });
  if (!isRecord(json)) throw new HerdError('invalid_config', `${what} ${file} must hold a JSON object`);
  const check = new ConfigCheck(`${what} ${file}`);
  checkOptions(check, json, rules, '');
  check.finish('invalid stage options', "each stage's key takes an object of its options, or false to turn the stage off");
  return json as T;
}

interface RunFlagValues {
  readonly workers: number;
  readonly queue?: string | undefined;
  readonly 'queue-wait': number;
  readonly shard?: string | undefined;
  readonly merge?: boolean | undefined;
}

/** The runner options the run-mode flags ask for (the pipelines take them beside their stages' options). */
export function runnerOptions(values: RunFlagValues, io: Io) {
  const queue = values.queue !== undefined ? { url: values.queue, noWorkerTimeoutMs: values['queue-wait'] * 1000, onNoWorkers: (m: string) => void io.stderr.write(`herd: waiting: ${m}\n`) } : undefined;
  return {
    workers: values.workers,
    ...(queue ? { queue } : {}),
    ...(values.shard !== undefined ? { slice: parseSlice(values.shard) } : {}),
    ...(values.merge ? { merge: true } : {}),
    handleSignals: true,
  };
}

interface StageLine {
  readonly name: string;
  readonly kept: number;
  readonly dropped: number;
  readonly droppedByReason: Readonly<Record<string, number>>;
}

interface CurateOutcome<R> {
  readonly slice?: { readonly passesDone: number; readonly passes: number } | null | undefined;
  readonly merge?: { readonly pass: number; readonly missing: readonly unknown[] } | null | undefined;
  readonly report?: R | null | undefined;
}

/** Prints what a curate run did: a slice's progress, an unfinished merge, or the summary line and the per-stage table. */
export function printCurateOutcome<R extends { readonly stages: readonly StageLine[] }>(io: Io, shard: string | undefined, res: CurateOutcome<R>, summary: (r: R) => string): void {
  if (res.slice) io.stdout.write(`slice ${shard}: ${res.slice.passesDone}/${res.slice.passes} passes done; run --merge once every slice has finished\n`);
  else if (res.merge) io.stdout.write(`merge stopped at pass ${res.merge.pass}: ${res.merge.missing.length} shard(s) not done; run the slices again, then --merge\n`);
  else if (res.report) {
    io.stdout.write(`${summary(res.report)}\n`);
    for (const s of res.report.stages) io.stdout.write(`  ${s.name.padEnd(16)} ${String(s.kept).padStart(8)} kept ${String(s.dropped).padStart(8)} dropped  ${Object.entries(s.droppedByReason).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  }
}
