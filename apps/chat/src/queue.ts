/**
 * The generation queue: one generation runs at a time (the model's sessions are not shared), at most
 * `maxWaiting` more wait their turn; beyond that `acquire` refuses at once so the server answers 503
 * instead of piling up work. A waiter whose client leaves (its signal aborts) drops out of the line.
 */
export class QueueFullError extends Error {
  constructor(readonly waiting: number) {
    super(`the generation queue is full (${waiting} waiting)`);
  }
}

export class GenerationQueue {
  private running = false;
  private readonly waiters: { resolve: () => void; reject: (e: unknown) => void; signal: AbortSignal; onAbort: () => void }[] = [];

  constructor(readonly maxWaiting: number) {}

  /** Requests running or waiting. */
  get load(): { running: number; waiting: number } {
    return { running: this.running ? 1 : 0, waiting: this.waiters.length };
  }

  /** Resolves with a release function once it is this caller's turn; throws QueueFullError or the signal's reason. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (!this.running) {
      this.running = true;
      return this.releaser();
    }
    if (this.waiters.length >= this.maxWaiting) throw new QueueFullError(this.waiters.length);
    await new Promise<void>((resolve, reject) => {
      const w = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
        },
      };
      signal.addEventListener('abort', w.onAbort, { once: true });
      this.waiters.push(w);
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiters.shift();
      if (next) {
        next.signal.removeEventListener('abort', next.onAbort);
        next.resolve(); // the slot passes straight to the next waiter
      } else this.running = false;
    };
  }
}
