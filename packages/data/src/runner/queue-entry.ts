import type { QueueWorkerOptions } from './queue.js';

export type { QueueWorkerOptions } from './queue.js';

/**
 * A queue worker: pulls shard tasks from Redis until `signal` aborts (see queue.ts). Loaded on
 * demand so that users of the format alone never load the Redis client.
 */
export async function runQueueWorker(options: QueueWorkerOptions): Promise<{ processed: number }> {
  const { runQueueWorker: run } = await import('./queue.js');
  return run(options);
}
