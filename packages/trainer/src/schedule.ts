import { HerdError } from '@herd/core';

/**
 * Learning-rate schedules as data (so they can live in recipe configs and checkpoints) and as
 * functions of the 0-based optimizer step.
 *  - cosine: linear warm-up from 0 to `peak`, then cosine decay to `floor` at `total` (§7.4 pre-training);
 *  - linear: linear warm-up, then linear anneal to `floor` (0 by default) at `total`;
 *  - constant: `peak` after warm-up.
 * Re-warming for an annealing stage (§7.4: LR re-warmed to 2e-5) is a new schedule whose warm-up
 * starts from the stage's first step; `offset` shifts a schedule to start later, and `stages`
 * chains schedules (each applies from its own offset until the next one's).
 */
export type LrSchedule = SimpleSchedule | { readonly kind: 'stages'; readonly stages: readonly SimpleSchedule[] };

export type SimpleSchedule =
  | { readonly kind: 'cosine'; readonly peak: number; readonly warmup: number; readonly total: number; readonly floor?: number; readonly offset?: number }
  | { readonly kind: 'linear'; readonly peak: number; readonly warmup: number; readonly total: number; readonly floor?: number; readonly offset?: number }
  | { readonly kind: 'constant'; readonly peak: number; readonly warmup?: number; readonly offset?: number };

export function validateSchedule(s: LrSchedule): LrSchedule {
  if (s.kind === 'stages') {
    if (s.stages.length === 0) throw new HerdError('invalid_config', 'lr schedule (stages): no stages');
    s.stages.forEach((st, i) => {
      validateSchedule(st);
      const prev = s.stages[i - 1];
      if (prev && (st.offset ?? 0) <= (prev.offset ?? 0)) throw new HerdError('invalid_config', `lr schedule (stages): stage ${i} must start after stage ${i - 1} (offsets ${prev.offset ?? 0}, ${st.offset ?? 0})`);
    });
    return s;
  }
  const bad = (msg: string) => new HerdError('invalid_config', `lr schedule (${s.kind}): ${msg}`);
  if (!['cosine', 'linear', 'constant'].includes(s.kind)) throw new HerdError('invalid_config', `lr schedule: unknown kind '${String((s as { kind: unknown }).kind)}' (choose cosine, linear, constant or stages)`);
  if (!(s.peak > 0)) throw bad(`peak must be > 0, got ${s.peak}`);
  const warmup = s.warmup ?? 0;
  if (warmup < 0) throw bad(`warmup must be ≥ 0, got ${warmup}`);
  if (s.kind !== 'constant') {
    if (!(s.total > warmup)) throw bad(`total (${s.total}) must exceed warmup (${warmup})`);
    if ((s.floor ?? 0) < 0 || (s.floor ?? 0) > s.peak) throw bad(`floor must lie in [0, peak], got ${s.floor}`);
  }
  return s;
}

/** Learning rate for 0-based step `step` (the update about to be applied). */
export function learningRate(s: LrSchedule, step: number): number {
  if (s.kind === 'stages') {
    const current = [...s.stages].reverse().find((st) => step >= (st.offset ?? 0)) ?? s.stages[0]!;
    return learningRate(current, step);
  }
  const t = step - (s.offset ?? 0);
  const warmup = s.warmup ?? 0;
  if (t < 0) return 0;
  if (t < warmup) return (s.peak * (t + 1)) / (warmup + 1);
  if (s.kind === 'constant') return s.peak;
  const floor = s.floor ?? 0;
  const progress = Math.min(1, (t - warmup) / Math.max(1, s.total - warmup));
  if (s.kind === 'linear') return floor + (s.peak - floor) * (1 - progress);
  return floor + 0.5 * (s.peak - floor) * (1 + Math.cos(Math.PI * progress));
}
