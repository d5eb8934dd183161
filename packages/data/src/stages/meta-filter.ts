import type { Sample } from '../sample.js';
import type { SampleStage } from './stage.js';

/**
 * Keeps samples whose metadata passes `predicate`; drops the rest with `reason` (a string, or a
 * function of the sample for a reason with detail).
 */
export function metaFilter(
  name: string,
  predicate: (meta: Record<string, unknown>, sample: Sample) => boolean,
  reason: string | ((sample: Sample) => string),
): SampleStage {
  return {
    kind: 'sample',
    name,
    process(sample) {
      if (predicate(sample.meta, sample)) return { keep: true, sample };
      return { keep: false, reason: typeof reason === 'string' ? reason : reason(sample) };
    },
  };
}
