// The two-pass pipeline of bench/src/curate-scale.ts, importable by queue workers: a per-sample
// text check, then a global exact-duplicate stage over the text.
import { exactDuplicate, textHeuristics, type Stage } from '@herd/data';

export function pipeline(): Stage[] {
  return [textHeuristics({ name: 'text', minChars: 3 }), exactDuplicate({ name: 'dedup', exts: ['txt'] })];
}
