import { HerdError } from '@herd/core';

/** A dimension is a fixed size or a symbolic name for a size known only at run time (e.g. 'T'). */
export type Dim = number | string;
export type Shape = readonly Dim[];

export function formatShape(s: Shape): string {
  return `[${s.join(', ')}]`;
}

export function isStatic(s: Shape): s is readonly number[] {
  return s.every((d) => typeof d === 'number');
}

export function numel(s: Shape): number {
  if (!isStatic(s)) throw new HerdError('shape_mismatch', `numel of a symbolic shape ${formatShape(s)}`);
  return s.reduce((a, b) => a * b, 1);
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Resolves a negative axis against a rank; errors name the op. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    throw new HerdError('shape_mismatch', `${op}: axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

/** Numpy broadcasting of several shapes; symbolic dims broadcast only against 1 or themselves. */
export function broadcastShapes(op: string, shapes: readonly Shape[]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      if (k < 0) continue;
      const e = s[k] as Dim;
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (d !== e) {
        throw new HerdError(
          'shape_mismatch',
          `${op}: shapes ${shapes.map(formatShape).join(' and ')} do not broadcast (dim ${i}: ${d} vs ${e})`,
        );
      }
    }
    out.push(d);
  }
  return out;
}

/** Adds two dims, keeping symbolic ones as a readable expression (used by concat). */
export function addDims(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  return `${a}+${b}`;
}
