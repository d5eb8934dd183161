/**
 * `herd curate-worker --queue redis://HOST:PORT [--concurrency N]`: a queue worker for
 * every `herd <modality> curate --queue` run. It pulls shard tasks until Ctrl-C (or SIGTERM), finishes
 * the shards it holds, and exits. Each task names the module its stages come from, so one worker
 * serves image, video, speech and text runs alike; it must see the same files as the coordinator.
 */
import { UsageError, flag } from '@herd/core';
import { runQueueWorker } from '@herd/data';
import { defineCommand } from '../command.js';

export const curateWorkerCommand = defineCommand({
  words: ['curate-worker'],
  summary: 'pull curation shard tasks from a Redis queue (for `herd … curate --queue`) until Ctrl-C',
  usesDevice: false,
  flags: {
    queue: flag.string({ placeholder: 'redis://HOST:PORT', description: 'the queue the coordinator was given with --queue' }),
    concurrency: flag.integer({ min: 1, default: 1, description: 'shards this process works on at once' }),
  },
  notes: 'The worker must see the coordinator\'s input and output folders at the same paths (shared storage).',
  async run({ values, io }) {
    const url = values.queue;
    if (url === undefined || !/^rediss?:\/\//.test(url)) {
      throw new UsageError(`--queue is required and must look like redis://HOST:PORT${url !== undefined ? `, got '${url}'` : ''}`);
    }
    const stop = new AbortController();
    const onSignal = (): void => {
      io.stderr.write('herd: stopping: finishing the shards in hand (Ctrl-C again to kill)\n');
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      stop.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const { processed } = await runQueueWorker({
        url,
        concurrency: values.concurrency,
        signal: stop.signal,
        onReady: () => void io.stdout.write(`waiting for shard tasks at ${url}\n`),
        onShard: (e) => void io.stdout.write(`pass ${e.pass + 1} ${e.shard}: ${e.status}${e.detail ? ` (${e.detail})` : ''}\n`),
      });
      io.stdout.write(`stopped after ${processed} shard(s)\n`);
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  },
});
