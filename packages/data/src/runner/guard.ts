import type { StageGuard } from './shard-task.js';
import { makeGuard } from './shard-task.js';

/**
 * Catches errors that escape a stage (thrown from a timer, a promise nobody awaits) while this
 * thread runs stages: the stage call in progress ends as `stage_error: uncaught ...` instead of the
 * process or worker dying. Errors that surface between stage calls are kept for the run's log.
 */
export function installCrashGuard(abort?: AbortSignal): { guard: StageGuard; stray: unknown[]; dispose(): void } {
  let current: ((e: unknown) => void) | undefined;
  const stray: unknown[] = [];
  const onError = (e: unknown): void => {
    if (current) current(e);
    else if (stray.length < 20) stray.push(e);
  };
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  const crashes = {
    next(): Promise<unknown> {
      return new Promise((resolve) => {
        current = resolve;
      });
    },
  };
  const inner = makeGuard(crashes, abort);
  const guard: StageGuard = {
    async run(call, timeoutMs) {
      try {
        return await inner.run(call, timeoutMs);
      } finally {
        current = undefined;
      }
    },
  };
  return {
    guard,
    stray,
    dispose() {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}
