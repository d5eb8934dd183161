import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HerdError, type HerdErrorCode } from '@herd/core';
import type { Stage } from '../stages/stage.js';
import { moduleUrl, type PipelineRef } from './pipeline.js';
import { installCrashGuard } from './guard.js';
import { processShard, type ShardSummary, type ShardTask } from './shard-task.js';
import type { WorkerInit, WorkerReply } from './worker.js';

/** Runs shard tasks; in-process or on worker threads, with the same processShard underneath. */
export interface Executor {
  readonly concurrency: number;
  run(task: ShardTask): Promise<ShardSummary>;
  close(): Promise<void>;
}

/**
 * A shard that could not be finished for a reason of its own (its stages hung past the shard time
 * limit, or killed their worker): the runner gives that shard up with this reason, or retries it.
 */
export class ShardFailure extends HerdError {
  constructor(
    readonly reason: string,
    readonly retryable: boolean,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('runtime_error', message, options);
  }
}

export function inProcessExecutor(stages: readonly Stage[], abort?: AbortSignal): Executor & { stray: unknown[] } {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const crash = installCrashGuard(abort);
  return {
    concurrency: 1,
    stray: crash.stray,
    run: (task) => processShard(task, byName, 0, crash.guard),
    close: async () => crash.dispose(),
  };
}

const TS_RE = /\.[cm]?ts$/;

/** The ESM entry of tsx's register API, found from this package so it works from any cwd. */
function tsxRegisterUrl(why: string): string {
  const require = createRequire(import.meta.url);
  let pkgPath: string;
  try {
    pkgPath = require.resolve('tsx/package.json');
  } catch (e) {
    throw new HerdError('tool_missing', `${why}, which needs the "tsx" package to load TypeScript in worker threads: install it (npm i -D tsx) or point at built .js files`, { cause: e });
  }
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports?: Record<string, { import?: string | { default?: string } }> };
  const entry = pkg.exports?.['./esm/api']?.import;
  const file = typeof entry === 'string' ? entry : entry?.default;
  if (file === undefined) throw new HerdError('tool_missing', `${why}, but the installed tsx has no ./esm/api export (tsx >= 4 needed)`);
  return pathToFileURL(join(dirname(pkgPath), file)).href;
}

// Worker threads start from this small CommonJS script so that, when the runner itself runs from
// TypeScript sources (tests, tsx), tsx can be registered before the worker module is imported.
const BOOT = `
const { workerData, parentPort } = require('node:worker_threads');
const boot = workerData.__boot;
(boot.tsx ? import(boot.tsx).then((m) => m.register()) : Promise.resolve())
  .then(() => import(boot.entry))
  .catch((e) => parentPort.postMessage({ id: -1, ok: false, code: 'runtime_error', message: 'worker failed to start: ' + (e && e.stack || e) }));
`;

interface Slot {
  worker: Worker;
  n: number;
  current?: { id: number; task: ShardTask; resolve: (s: ShardSummary) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout; start?: () => void };
  dead?: Error;
}

/**
 * A fixed number of worker threads, each importing the pipeline module once. A worker that dies
 * (a stage crashed it) or runs a shard past `shardTimeoutMs` is terminated and replaced; the shard
 * fails with a ShardFailure, never the pool.
 */
export class WorkerPool implements Executor {
  private readonly slots: Slot[] = [];
  private readonly waiting: (() => void)[] = [];
  private nextId = 0;
  private closing = false;
  private readonly spawn: (n: number) => Worker;
  private startFailure: Error | undefined;

  constructor(
    readonly concurrency: number,
    pipeline: PipelineRef,
    stages: readonly Stage[],
    private readonly shardTimeoutMs = Infinity,
  ) {
    const entry = new URL(TS_RE.test(import.meta.url) ? './worker.ts' : './worker.js', import.meta.url).href;
    const fromSource = TS_RE.test(entry);
    const needTsx = fromSource || TS_RE.test(pipeline.module);
    const tsx = needTsx ? tsxRegisterUrl(fromSource ? 'the runner runs from TypeScript sources' : `pipeline ${pipeline.module} is TypeScript`) : null;
    const expect = stages.map((s) => `${s.name}:${s.kind}`);
    this.spawn = (n) => {
      const init: WorkerInit & { __boot: { entry: string; tsx: string | null } } = {
        pipeline: { ...pipeline, module: moduleUrl(pipeline.module) },
        worker: n,
        expect,
        __boot: { entry, tsx },
      };
      // From sources, workspace packages must resolve to their sources as they do under vitest.
      return new Worker(BOOT, { eval: true, workerData: init, ...(fromSource ? { execArgv: ['--conditions=source'] } : {}) });
    };
    for (let i = 0; i < concurrency; i++) this.start({ n: i + 1 } as Slot);
  }

  private start(slot: Slot): void {
    const worker = this.spawn(slot.n);
    slot.worker = worker;
    slot.dead = undefined;
    worker.on('message', (reply: WorkerReply) => {
      if (slot.worker === worker) this.onReply(slot, reply);
    });
    worker.on('error', (e) => {
      if (slot.worker === worker) this.onDeath(slot, e);
    });
    worker.on('exit', (code) => {
      if (slot.worker === worker) this.onDeath(slot, new Error(`exited with code ${code}`));
    });
    if (!this.slots.includes(slot)) this.slots.push(slot);
  }

  private onReply(slot: Slot, reply: WorkerReply): void {
    if ('started' in reply) {
      const cur = slot.current;
      if (cur && cur.id === reply.id) cur.start?.();
      return;
    }
    if (reply.id === -1 && !reply.ok) {
      // The pipeline could not even be loaded: no point in restarting.
      this.startFailure ??= new HerdError(reply.code as HerdErrorCode, reply.message);
      return this.onDeath(slot, this.startFailure, false);
    }
    const cur = slot.current;
    if (!cur || cur.id !== reply.id) return;
    clearTimeout(cur.timer);
    slot.current = undefined;
    if (reply.ok) cur.resolve(reply.summary);
    else {
      const err = new HerdError(reply.code as HerdErrorCode, `worker ${slot.n}, pass ${cur.task.pass}, shard ${cur.task.source}: ${reply.message}`);
      if (reply.stack) err.stack = reply.stack;
      cur.reject(err);
    }
    this.waiting.shift()?.();
  }

  private onDeath(slot: Slot, e: Error, restart = true): void {
    if (slot.dead) return;
    slot.dead = e;
    const cur = slot.current;
    slot.current = undefined;
    if (cur) clearTimeout(cur.timer);
    if (cur && !this.closing) {
      cur.reject(new ShardFailure(`worker_crashed: ${e.message.split('\n')[0]}`, true, `worker ${slot.n} died on pass ${cur.task.pass}, shard ${cur.task.source}: ${e.message}`, { cause: e }));
    }
    if (restart && !this.closing && this.startFailure === undefined) {
      void slot.worker.terminate();
      this.start(slot);
    }
    this.waiting.shift()?.();
  }

  async run(task: ShardTask): Promise<ShardSummary> {
    for (;;) {
      if (this.startFailure) throw this.startFailure;
      const live = this.slots.filter((s) => !s.dead);
      if (live.length === 0) {
        const why = this.slots[0]?.dead?.message ?? 'no workers';
        throw new HerdError('runtime_error', `all curation workers died (first: ${why})`);
      }
      const slot = live.find((s) => !s.current);
      if (slot) {
        return new Promise<ShardSummary>((resolve, reject) => {
          const id = this.nextId++;
          const cur: NonNullable<Slot['current']> = { id, task, resolve, reject };
          if (Number.isFinite(this.shardTimeoutMs)) {
            cur.start = () => (cur.timer = setTimeout(() => {
              if (slot.current !== cur) return;
              slot.current = undefined;
              reject(new ShardFailure(`shard_timeout: not finished after ${this.shardTimeoutMs} ms`, false, `worker ${slot.n}: shard ${task.source} of pass ${task.pass} ran past ${this.shardTimeoutMs} ms`));
              // The stage may be stuck in synchronous code: only a new thread gets the slot back.
              slot.dead = new Error('terminated after a shard timeout');
              void slot.worker.terminate();
              this.start(slot);
              this.waiting.shift()?.();
            }, this.shardTimeoutMs));
          }
          slot.current = cur;
          slot.worker.postMessage({ id, task });
        });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const s of this.slots) clearTimeout(s.current?.timer);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
