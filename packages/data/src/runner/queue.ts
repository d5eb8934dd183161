import { Queue, QueueEvents, Worker as BullWorker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { HerdError, isHerdError } from '@herd/core';
import type { Stage } from '../stages/stage.js';
import { installCrashGuard } from './guard.js';
import { ShardFailure, type Executor } from './pool.js';
import { loadPipeline, type PipelineRef } from './pipeline.js';
import { abandonShard, processShard, type ShardDone, type ShardSummary, type ShardTask } from './shard-task.js';
import { readJsonIfAny } from './state.js';
import type { QueueOptions } from './run.js';

/**
 * Shard tasks across machines on a BullMQ queue in Redis. The coordinator (`runPipeline` with
 * `queue`) enqueues each pass's shards and makes the global decisions between passes; any number of
 * `runQueueWorker` processes, on any machine that sees the same storage, pull shard tasks. A worker
 * that dies holds its job's lock until it expires; BullMQ's stalled-job check then puts the job back
 * for another worker. Outputs are written atomically and deterministically, so a shard run twice
 * (a slow worker and its replacement) lands the same bytes.
 */

export const DEFAULT_QUEUE = 'herd-curate';

/** What a job carries: everything a worker needs, nothing from the coordinator's memory. */
export interface QueueJob {
  task: ShardTask;
  pipeline: PipelineRef;
  /** `name:kind` of each stage as the coordinator loaded them. */
  expect: string[];
  shardTimeoutMs: number;
}

/** How often the coordinator looks for connected workers while shard tasks wait. */
export const WORKER_POLL_MS = 2_000;
export const DEFAULT_NO_WORKER_TIMEOUT_MS = 10 * 60_000;

function connect(url: string): Redis {
  // BullMQ needs blocking commands to wait forever rather than fail after a retry count.
  return new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
}

/** How long the first contact with the queue may take before it counts as unreachable. */
const REACH_TIMEOUT_MS = 10_000;

/**
 * One PING on a client that does not retry: BullMQ's connections reconnect forever (right once a
 * run is going), so an unreachable or mistyped URL would otherwise hang without a word.
 */
async function checkReachable(url: string): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: REACH_TIMEOUT_MS, enableOfflineQueue: false });
  // The socket's own error (ECONNREFUSED, ENOTFOUND) says more than connect()'s "Connection is closed".
  let socketError: Error | undefined;
  probe.on('error', (e: Error) => (socketError ??= e));
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    const why = socketError ?? (e as Error);
    throw new HerdError('io_error', `cannot reach the queue at ${url}: ${why.message || String(why)} (is redis-server running there?)`, { cause: why });
  } finally {
    probe.disconnect();
  }
}

export class QueueExecutor implements Executor {
  // Every pending shard of a pass is enqueued at once; workers set the real parallelism.
  readonly concurrency = Number.MAX_SAFE_INTEGER;

  /** Shard tasks waiting on the queue now. */
  private waiting = 0;
  /** When a worker was last seen connected (or the first task started waiting). */
  private lastWorkerSeen = Date.now();
  private warned = false;
  /** Set once the queue has gone too long without workers: every waiting task rejects with it. */
  private noWorkers: HerdError | undefined;
  private readonly onNoWorkersError = new Set<(e: HerdError) => void>();
  private watchdog: NodeJS.Timeout | undefined;

  private constructor(
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly connections: Redis[],
    private readonly runId: string,
    private readonly pipeline: PipelineRef,
    private readonly expect: string[],
    private readonly attempts: number,
    private readonly shardTimeoutMs: number,
    private readonly options: QueueOptions,
  ) {
    // A coordinator whose tasks no worker takes would otherwise wait forever without a word.
    this.watchdog = setInterval(() => void this.lookForWorkers(), WORKER_POLL_MS);
    this.watchdog.unref();
  }

  private async lookForWorkers(): Promise<void> {
    if (this.waiting === 0 || this.noWorkers) {
      this.lastWorkerSeen = Date.now();
      return;
    }
    let count: number;
    try {
      count = await this.queue.getWorkersCount();
    } catch {
      // A Redis without CLIENT LIST / SETNAME (some managed services) cannot be watched: wait as before.
      clearInterval(this.watchdog);
      return;
    }
    const now = Date.now();
    if (count > 0) {
      this.lastWorkerSeen = now;
      this.warned = false;
      return;
    }
    const where = `queue "${this.options.name ?? DEFAULT_QUEUE}" at ${this.options.url}`;
    const start = `start workers with \`herd curate-worker --queue ${this.options.url}\``;
    if (!this.warned) {
      this.warned = true;
      this.options.onNoWorkers?.(`${this.waiting} shard task(s) wait on ${where} and no worker is connected; ${start}`);
    }
    const limit = this.options.noWorkerTimeoutMs ?? DEFAULT_NO_WORKER_TIMEOUT_MS;
    if (limit > 0 && now - this.lastWorkerSeen >= limit) {
      this.noWorkers = new HerdError('runtime_error', `no worker connected to ${where} for ${Math.round((now - this.lastWorkerSeen) / 1000)} s while ${this.waiting} shard task(s) waited; ${start}, then run this command again (finished shards are kept)`);
      for (const reject of this.onNoWorkersError) reject(this.noWorkers);
    }
  }

  static async open(o: QueueOptions, runId: string, pipeline: PipelineRef, stages: readonly Stage[], shardTimeoutMs: number): Promise<QueueExecutor> {
    const name = o.name ?? DEFAULT_QUEUE;
    await checkReachable(o.url);
    const a = connect(o.url);
    const b = connect(o.url);
    const queue = new Queue(name, { connection: a });
    const events = new QueueEvents(name, { connection: b });
    try {
      await queue.waitUntilReady();
      await events.waitUntilReady();
    } catch (e) {
      await Promise.allSettled([queue.close(), events.close()]);
      a.disconnect();
      b.disconnect();
      throw new HerdError('io_error', `cannot reach the queue at ${o.url}: ${(e as Error).message} (is redis-server running?)`, { cause: e });
    }
    return new QueueExecutor(queue, events, [a, b], runId, pipeline, stages.map((s) => `${s.name}:${s.kind}`), o.attempts ?? 3, shardTimeoutMs, o);
  }

  async run(task: ShardTask): Promise<ShardSummary> {
    if (this.noWorkers) throw this.noWorkers;
    const jobId = `${this.runId}-p${task.pass}-s${task.shard}`;
    // A finished job of an earlier coordinator would answer at once with its old result: clear it.
    const old = await this.queue.getJob(jobId);
    if (old) {
      const state = await old.getState();
      if (state === 'completed' || state === 'failed') await old.remove();
    }
    const data: QueueJob = { task, pipeline: this.pipeline, expect: this.expect, shardTimeoutMs: this.shardTimeoutMs };
    const job = await this.queue.add('shard', data, { jobId, attempts: this.attempts, backoff: { type: 'fixed', delay: 500 }, removeOnComplete: false, removeOnFail: false });
    let rejectNoWorkers: ((e: HerdError) => void) | undefined;
    const noWorkers = new Promise<never>((_, reject) => (rejectNoWorkers = reject));
    this.onNoWorkersError.add(rejectNoWorkers!);
    this.waiting++;
    try {
      const summary = (await Promise.race([job.waitUntilFinished(this.events), noWorkers])) as ShardSummary;
      await job.remove().catch(() => undefined);
      return summary;
    } catch (e) {
      const message = (e as Error).message;
      await job.remove().catch(() => undefined);
      if (e === this.noWorkers) throw e;
      // A pipeline that cannot load on a worker is the user's to fix, not a shard to give up.
      if (/^(invalid_argument|tool_missing):/.test(message)) throw new HerdError('invalid_argument', `queue worker: ${message}`, { cause: e });
      throw new ShardFailure(`shard_failed: ${message.split('\n')[0]}`, false, `shard ${task.source} of pass ${task.pass} failed on the queue after ${this.attempts} attempts: ${message}`, { cause: e });
    } finally {
      this.waiting--;
      this.onNoWorkersError.delete(rejectNoWorkers!);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.watchdog);
    await Promise.allSettled([this.queue.close(), this.events.close()]);
    for (const c of this.connections) c.disconnect();
  }
}

export interface QueueWorkerOptions {
  /** `redis://host:port[/db]`. */
  url: string;
  /** Queue name (default `herd-curate`). */
  name?: string;
  /** Shards processed at once by this process (default 1). */
  concurrency?: number;
  /** How long a job's lock lasts without renewal: a dead worker's shard is re-queued after about this long (default 30 s). */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for (default 15 s). */
  stalledIntervalMs?: number;
  /** Times a job may stall (its worker died) before it fails for good (default 2). */
  maxStalledCount?: number;
  /** Number given to stages as `ctx.worker` (default 1). */
  worker?: number;
  /** Stops the worker: it finishes the shards it holds, then returns. */
  signal?: AbortSignal;
  /** Called when the worker is connected and waiting for jobs. */
  onReady?: () => void;
  onShard?: (event: { pass: number; shard: string; status: 'done' | 'skipped' | 'abandoned' | 'failed'; detail?: string }) => void;
}

/** Pulls shard tasks from the queue until `signal` aborts; returns how many shards it finished. */
export async function runQueueWorker(o: QueueWorkerOptions): Promise<{ processed: number }> {
  await checkReachable(o.url);
  const connection = connect(o.url);
  const pipelines = new Map<string, Promise<Map<string, Stage>>>();
  const crash = installCrashGuard();
  let processed = 0;
  const stagesFor = (ref: PipelineRef, expect: string[]): Promise<Map<string, Stage>> => {
    const id = JSON.stringify(ref);
    let p = pipelines.get(id);
    if (!p) {
      p = loadPipeline(ref).then((stages) => {
        const got = stages.map((s) => `${s.name}:${s.kind}`);
        if (got.join(',') !== expect.join(',')) {
          throw new HerdError('invalid_argument', `queue worker loaded stages [${got.join(', ')}] from ${ref.module} but the coordinator has [${expect.join(', ')}]`);
        }
        return new Map(stages.map((s) => [s.name, s]));
      });
      pipelines.set(id, p);
    }
    return p;
  };
  const processor = async (job: Job<QueueJob>): Promise<ShardSummary> => {
    const { task, pipeline, expect, shardTimeoutMs } = job.data;
    const done = await readJsonIfAny<ShardDone>(task.donePath);
    if (done && done.pass === task.pass && done.shard === task.shard) {
      // Finished by a worker that died before it could report: nothing to redo.
      o.onShard?.({ pass: task.pass, shard: task.source, status: 'skipped' });
      return { pass: task.pass, shard: task.shard, read: 0, kept: done.kept, seconds: done.seconds };
    }
    let stages: Map<string, Stage>;
    try {
      stages = await stagesFor(pipeline, expect);
    } catch (e) {
      pipelines.delete(JSON.stringify(pipeline));
      throw new Error(`${isHerdError(e) ? e.code : 'invalid_argument'}: ${(e as Error).message}`);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), shardTimeoutMs)));
    try {
      const result = await Promise.race([processShard(task, stages, o.worker ?? 1, crash.guard), timeout]);
      if (result === 'timeout') {
        // The stuck stage keeps running in this process; the shard is given up so the run goes on.
        await abandonShard(task, `shard_timeout: not finished after ${shardTimeoutMs} ms`);
        o.onShard?.({ pass: task.pass, shard: task.source, status: 'abandoned', detail: 'shard_timeout' });
        return { pass: task.pass, shard: task.shard, read: 0, kept: 0, seconds: shardTimeoutMs / 1000 };
      }
      processed++;
      o.onShard?.({ pass: task.pass, shard: task.source, status: 'done' });
      return result;
    } catch (e) {
      o.onShard?.({ pass: task.pass, shard: task.source, status: 'failed', detail: (e as Error).message });
      throw new Error(`${isHerdError(e) ? e.code : 'runtime_error'}: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  };
  const worker = new BullWorker<QueueJob, ShardSummary>(o.name ?? DEFAULT_QUEUE, processor, {
    connection,
    concurrency: o.concurrency ?? 1,
    lockDuration: o.lockDurationMs ?? 30_000,
    stalledInterval: o.stalledIntervalMs ?? 15_000,
    maxStalledCount: o.maxStalledCount ?? 2,
    autorun: true,
  });
  try {
    await worker.waitUntilReady();
  } catch (e) {
    await worker.close(true).catch(() => undefined);
    connection.disconnect();
    crash.dispose();
    throw new HerdError('io_error', `cannot reach the queue at ${o.url}: ${(e as Error).message} (is redis-server running?)`, { cause: e });
  }
  o.onReady?.();
  await new Promise<void>((resolve) => {
    if (o.signal?.aborted) return resolve();
    o.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  await worker.close();
  connection.disconnect();
  crash.dispose();
  return { processed };
}
