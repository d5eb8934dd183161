/**
 * The training loop every recipe uses, top to bottom: resume → for each step: batches →
 * (accumulate) → update → log → eval → checkpoint. Deterministic given the seed: the data source
 * is a pure function of the batch index and a seed drawn from a checkpointed RNG.
 */
import { join } from 'node:path';
import { HerdError, JsonlLog, Progress, Rng } from '@herd/core';
import { type Feed, type StepResult, type TrainingRun } from '@herd/runtime';
import { checkpointName, latestCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { type LrSchedule, learningRate, validateSchedule } from './schedule.js';

/** Skipped (overflowed) updates in a row before a loss-scaled run is declared diverged. */
const MAX_CONSECUTIVE_SKIPS = 30;

export interface BatchSource {
  /** Batch number `index` (0-based, counting micro-batches); `seed` varies per batch for augmentation/dropout. */
  batch(index: number, seed: number): Readonly<Record<string, Feed>> | Promise<Readonly<Record<string, Feed>>>;
  /** Examples per batch, for the samples/s figure. */
  readonly batchSize: number;
  /**
   * A streaming source's position (JSON) after the batches served so far: stored in each
   * checkpoint and handed back to `restore` on resume, so the data continues exactly. Sources
   * that are pure functions of the index need neither.
   */
  position?(): unknown;
  restore?(position: unknown): void | Promise<void>;
}

export interface TrainOptions {
  readonly run: TrainingRun;
  readonly data: BatchSource;
  readonly schedule: LrSchedule;
  /** Optimizer steps to reach (a resumed run continues to this total). */
  readonly steps: number;
  /** Micro-batches per optimizer step; > 1 needs graphs built with `accumulation: true`. */
  readonly accumulation?: number;
  readonly seed: number;
  readonly evalEvery?: number;
  readonly evaluate?: (run: TrainingRun, step: number) => Promise<Readonly<Record<string, number>>>;
  readonly checkpointEvery?: number;
  readonly checkpointDir?: string;
  /** Continue from the newest checkpoint in checkpointDir when there is one. */
  readonly resume?: boolean;
  /**
   * A digest of what this run trains (the model, its frozen weights, the starting values, the data),
   * stored in every checkpoint. On resume a checkpoint whose identity differs (or that records none)
   * is refused: a re-run after changing any of them must not silently continue — or, when the old run
   * had already reached `steps`, silently return — the old run's weights.
   */
  readonly identity?: string;
  readonly logPath?: string;
  readonly label?: string;
  readonly info?: Readonly<Record<string, unknown>>;
  /** Stop after this many steps in this call (for tests that simulate an interruption). */
  readonly stopAfter?: number;
}

export interface TrainResult {
  /** Loss of each step run in this call, by step number (1-based). */
  readonly losses: ReadonlyMap<number, number>;
  readonly evals: ReadonlyMap<number, Readonly<Record<string, number>>>;
  readonly finalStep: number;
  readonly resumedFrom?: string;
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  validateSchedule(o.schedule);
  const accum = o.accumulation ?? 1;
  if (!Number.isInteger(accum) || accum < 1) throw new HerdError('invalid_config', `accumulation must be a positive integer, got ${accum}`);
  const log = o.logPath ? new JsonlLog(o.logPath) : undefined;
  const label = o.label ?? 'train';

  // 1. Resume: parameters, optimizer state, step, RNG and data position come back together.
  let rng = new Rng(o.seed);
  let dataPosition = 0;
  let resumedFrom: string | undefined;
  if (o.resume && o.checkpointDir) {
    const last = latestCheckpoint(o.checkpointDir);
    if (last) {
      const ck = loadCheckpoint(last);
      const recorded = ck.meta.info?.['identity'];
      if (o.identity !== undefined && recorded !== o.identity) {
        throw new HerdError(
          'checkpoint_mismatch',
          `${last}: ${recorded === undefined ? 'this checkpoint records no run identity' : `written by a different run (identity ${String(recorded).slice(0, 12)}…, this run ${o.identity.slice(0, 12)}…)`}: the model, its frozen weights, the starting values or the data changed since it was written. Remove ${o.checkpointDir} (or use another work folder) to start afresh`,
        );
      }
      o.run.loadState(ck.tensors, ck.meta.step);
      rng = new Rng(ck.meta.rngState);
      dataPosition = ck.meta.dataPosition;
      if (o.data.restore) {
        if (ck.meta.dataState === undefined) throw new HerdError('checkpoint_mismatch', `${last}: the data source is streaming but the checkpoint stores no data position (written by a run with another data source); resume without it or start afresh`);
        await o.data.restore(ck.meta.dataState);
      }
      if (ck.meta.lossScaler) o.run.lossScaler = ck.meta.lossScaler;
      resumedFrom = last;
      log?.write({ event: 'resume', from: last, step: ck.meta.step });
    }
  }

  const save = async (): Promise<string | undefined> => {
    if (!o.checkpointDir) return undefined;
    const path = join(o.checkpointDir, checkpointName(o.run.step));
    await saveCheckpoint(path, await o.run.readState(), { step: o.run.step, dataPosition, rngState: rng.state(), ...(o.data.position ? { dataState: o.data.position() } : {}), lossScaler: o.run.lossScaler, info: { ...o.info, schedule: o.schedule, ...(o.identity !== undefined ? { identity: o.identity } : {}) } });
    log?.write({ event: 'checkpoint', step: o.run.step, path });
    return path;
  };

  const losses = new Map<number, number>();
  const evals = new Map<number, Readonly<Record<string, number>>>();
  const progress = new Progress(label, o.steps);
  const start = Date.now();
  let ranHere = 0;
  let consecutiveSkips = 0;

  // 2. The loop.
  while (o.run.step < o.steps) {
    if (o.stopAfter !== undefined && ranHere >= o.stopAfter) break;
    const step = o.run.step; // 0-based index of the update about to happen
    const lr = learningRate(o.schedule, step);
    let r: StepResult;
    if (accum === 1) {
      r = await o.run.trainStep(await o.data.batch(dataPosition, rng.nextU32()), lr);
      dataPosition++;
    } else {
      let lossSum = 0;
      for (let k = 0; k < accum; k++) {
        const part = await o.run.accumulate(await o.data.batch(dataPosition, rng.nextU32()));
        dataPosition++;
        lossSum += part.loss;
      }
      const applied = await o.run.applyAccumulated(lr);
      r = { loss: lossSum / accum, gradNorm: applied.gradNorm, metrics: {} };
    }
    ranHere++;
    const t = o.run.step;
    if (r.skipped) {
      // Loss scaling: the gradients overflowed at this scale; the runner halved it and the update was not applied.
      consecutiveSkips++;
      log?.write({ event: 'skipped', step: t + 1, lossScale: r.lossScale, gradNorm: r.gradNorm });
      if (consecutiveSkips > MAX_CONSECUTIVE_SKIPS) {
        throw new HerdError('non_finite', `${label}: ${consecutiveSkips} updates in a row had non-finite gradients (loss scale now ${o.run.lossScaler.scale}); the model diverged or the data around batch ${dataPosition - accum} is bad`);
      }
      continue;
    }
    consecutiveSkips = 0;
    if (!Number.isFinite(r.loss) || !Number.isFinite(r.gradNorm)) {
      log?.write({ event: 'non_finite', step: t, loss: r.loss, gradNorm: r.gradNorm });
      const last = o.checkpointDir ? latestCheckpoint(o.checkpointDir) : undefined;
      throw new HerdError(
        'non_finite',
        `${label}: step ${t}: loss ${r.loss}, gradient norm ${r.gradNorm} — training stopped. ` +
          `Lower the learning rate (now ${lr.toExponential(2)}) or check the data around batch ${dataPosition - accum}. ` +
          (last ? `The last good checkpoint is ${last}.` : 'No checkpoint was written.'),
      );
    }
    losses.set(t, r.loss);
    const secs = (Date.now() - start) / 1000;
    log?.write({ event: 'step', step: t, loss: r.loss, lr, gradNorm: r.gradNorm, ...r.metrics, samplesPerSec: (ranHere * accum * o.data.batchSize) / Math.max(secs, 1e-9) });
    progress.update(t, `loss ${r.loss.toFixed(4)} lr ${lr.toExponential(2)}`);

    if (o.evaluate && o.evalEvery && t % o.evalEvery === 0) {
      const e = await o.evaluate(o.run, t);
      evals.set(t, e);
      log?.write({ event: 'eval', step: t, ...e });
    }
    if (o.checkpointEvery && t % o.checkpointEvery === 0) await save();
  }
  progress.done();
  if (o.checkpointDir && o.run.step === o.steps && !(o.checkpointEvery && o.steps % o.checkpointEvery === 0)) await save();
  return { losses, evals, finalStep: o.run.step, ...(resumedFrom ? { resumedFrom } : {}) };
}
