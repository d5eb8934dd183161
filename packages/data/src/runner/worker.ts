import { parentPort, workerData } from 'node:worker_threads';
import { HerdError, isHerdError } from '@herd/core';
import type { Stage } from '../stages/stage.js';
import { installCrashGuard } from './guard.js';
import { loadPipeline, type PipelineRef } from './pipeline.js';
import { processShard, type ShardTask } from './shard-task.js';

/** Entry of a curation worker thread: imports the pipeline once, then runs shard tasks one at a time. */
export interface WorkerInit {
  pipeline: PipelineRef;
  worker: number;
  /** `name:kind` of each stage as the main thread loaded them; the worker must load the same. */
  expect: string[];
}

export type WorkerRequest = { id: number; task: ShardTask };
export type WorkerReply =
  | { id: number; started: true }
  | { id: number; ok: true; summary: Awaited<ReturnType<typeof processShard>> }
  | { id: number; ok: false; code: string; message: string; stack?: string };

const port = parentPort;
if (port === null) throw new Error('runner/worker is a worker_threads entry, not a module to import');
const init = workerData as WorkerInit;

const loaded: Promise<Map<string, Stage>> = loadPipeline(init.pipeline).then((stages) => {
  const got = stages.map((s) => `${s.name}:${s.kind}`);
  if (got.join(',') !== init.expect.join(',')) {
    throw new HerdError('invalid_argument', `worker ${init.worker} loaded stages [${got.join(', ')}] but the main thread has [${init.expect.join(', ')}]: a pipeline factory must return the same stages every time`);
  }
  return new Map(stages.map((s) => [s.name, s]));
});
// A pipeline that cannot load is reported at once, so that the pool stops instead of restarting.
loaded.catch((e: unknown) => port.postMessage({ id: -1, ok: false, code: isHerdError(e) ? e.code : 'runtime_error', message: (e as Error)?.message ?? String(e) } satisfies WorkerReply));

// Errors escaping a stage (from a timer, an unawaited promise) cost the sample, not this thread.
const { guard } = installCrashGuard();

port.on('message', (msg: WorkerRequest) => {
  void (async () => {
    try {
      const stages = await loaded;
      // The shard's time limit counts from here, not from the worker's start-up.
      port.postMessage({ id: msg.id, started: true } satisfies WorkerReply);
      const summary = await processShard(msg.task, stages, init.worker, guard);
      port.postMessage({ id: msg.id, ok: true, summary } satisfies WorkerReply);
    } catch (e) {
      const err = e as Error;
      port.postMessage({ id: msg.id, ok: false, code: isHerdError(e) ? e.code : 'runtime_error', message: err?.message ?? String(e), stack: err?.stack } satisfies WorkerReply);
    }
  })();
});
