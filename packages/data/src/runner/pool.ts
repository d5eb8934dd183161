import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HerdError, type HerdErrorCode } from '@herd/core';
import type { Stage } from '../stages/stage.js';
import { moduleUrl, type PipelineRef } from './pipeline.js';
import { processShard, type ShardSummary, type ShardTask } from './shard-task.js';
import type { WorkerInit, WorkerReply } from './worker.js';

/** Runs shard tasks; in-process or on worker threads, with the same processShard underneath. */
export interface Executor {
  readonly concurrency: number;
  run(task: ShardTask): Promise<ShardSummary>;
  close(): Promise<void>;
}

export function inProcessExecutor(stages: readonly Stage[]): Executor {
  const byName = new Map(stages.map((s) => [s.name, s]));
  return {
    concurrency: 1,
    run: (task) => processShard(task, byName, 0),
    close: async () => undefined,
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
  current?: { id: number; task: ShardTask; resolve: (s: ShardSummary) => void; reject: (e: Error) => void };
  dead?: Error;
}

/** A fixed set of worker threads, each importing the pipeline module once. */
export class WorkerPool implements Executor {
  private readonly slots: Slot[] = [];
  private readonly waiting: (() => void)[] = [];
  private nextId = 0;
  private closing = false;

  constructor(
    readonly concurrency: number,
    pipeline: PipelineRef,
    stages: readonly Stage[],
  ) {
    const entry = new URL(TS_RE.test(import.meta.url) ? './worker.ts' : './worker.js', import.meta.url).href;
    const fromSource = TS_RE.test(entry);
    const needTsx = fromSource || TS_RE.test(pipeline.module);
    const tsx = needTsx ? tsxRegisterUrl(fromSource ? 'the runner runs from TypeScript sources' : `pipeline ${pipeline.module} is TypeScript`) : null;
    const expect = stages.map((s) => `${s.name}:${s.kind}`);
    for (let i = 0; i < concurrency; i++) {
      const init: WorkerInit & { __boot: { entry: string; tsx: string | null } } = {
        pipeline: { ...pipeline, module: moduleUrl(pipeline.module) },
        worker: i + 1,
        expect,
        __boot: { entry, tsx },
      };
      // From sources, workspace packages must resolve to their sources as they do under vitest.
      const worker = new Worker(BOOT, { eval: true, workerData: init, ...(fromSource ? { execArgv: ['--conditions=source'] } : {}) });
      const slot: Slot = { worker };
      worker.on('message', (reply: WorkerReply) => this.onReply(slot, reply));
      worker.on('error', (e) => this.onDeath(slot, e));
      worker.on('exit', (code) => this.onDeath(slot, new Error(`exited with code ${code}`)));
      this.slots.push(slot);
    }
  }

  private onReply(slot: Slot, reply: WorkerReply): void {
    if (reply.id === -1 && !reply.ok) return this.onDeath(slot, new HerdError(reply.code as HerdErrorCode, reply.message));
    const cur = slot.current;
    if (!cur || cur.id !== reply.id) return;
    slot.current = undefined;
    if (reply.ok) cur.resolve(reply.summary);
    else {
      const err = new HerdError(reply.code as HerdErrorCode, `worker ${this.slots.indexOf(slot) + 1}, pass ${cur.task.pass}, shard ${cur.task.source}: ${reply.message}`);
      if (reply.stack) err.stack = reply.stack;
      cur.reject(err);
    }
    this.waiting.shift()?.();
  }

  private onDeath(slot: Slot, e: Error): void {
    if (slot.dead) return;
    slot.dead = e;
    const cur = slot.current;
    slot.current = undefined;
    if (cur && !this.closing) {
      cur.reject(new HerdError('runtime_error', `worker ${this.slots.indexOf(slot) + 1} died on pass ${cur.task.pass}, shard ${cur.task.source}: ${e.message}`, { cause: e }));
    }
    this.waiting.shift()?.();
  }

  async run(task: ShardTask): Promise<ShardSummary> {
    for (;;) {
      const live = this.slots.filter((s) => !s.dead);
      if (live.length === 0) {
        const why = this.slots[0]?.dead?.message ?? 'no workers';
        throw new HerdError('runtime_error', `all curation workers died (first: ${why})`);
      }
      const slot = live.find((s) => !s.current);
      if (slot) {
        return new Promise<ShardSummary>((resolve, reject) => {
          const id = this.nextId++;
          slot.current = { id, task, resolve, reject };
          slot.worker.postMessage({ id, task });
        });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
