/**
 * Moving shapes: what a clip shows (ground truth) and where each shape is at time t. Text, video and
 * speech share this so "a red circle moves slowly to the right" means the same in all three.
 */
import type { Rng } from '@herd/core';
import {
  COLOURS,
  HELDOUT_COMBOS,
  POSITION_CELL,
  SHAPES,
  SIZES,
  SPEED_RATE,
  isHeldOutCombo,
  type Colour,
  type Direction,
  type Position,
  type Shape,
  type Size,
  type Speed,
  type Split,
} from './world.js';

export type Motion =
  | { readonly kind: 'move'; readonly direction: Direction; readonly speed: Speed }
  | { readonly kind: 'appear' | 'disappear'; /** Fraction of the clip at which it happens. */ readonly at: number }
  | { readonly kind: 'still' };

/** One moving (or appearing, disappearing, still) shape in a clip. */
export interface MotionObject {
  readonly shape: Shape;
  readonly colour: Colour;
  readonly size: Size;
  readonly start: Position;
  readonly motion: Motion;
}

/** Start positions that leave room to move in each direction. */
export const MOVE_STARTS: Readonly<Record<Direction, readonly Position[]>> = {
  right: ['left', 'top', 'bottom', 'centre'],
  left: ['right', 'top', 'bottom', 'centre'],
  up: ['bottom', 'left', 'right', 'centre'],
  down: ['top', 'left', 'right', 'centre'],
};

export interface MotionOptions {
  readonly split?: Split;
  /** Every object stays still (the static-clip noise). */
  readonly still?: boolean;
  readonly maxObjects?: number;
}

/**
 * 1–2 objects (distinct shapes and start cells). The first one always moves unless `still`, so
 * every clean clip has motion to describe.
 */
export function randomMotion(rng: Rng, opts: MotionOptions = {}): MotionObject[] {
  const n = 1 + rng.int(opts.maxObjects ?? 2);
  const shapes = rng.shuffle([...SHAPES]);
  const used = new Set<Position>();
  const out: MotionObject[] = [];
  for (let i = 0; i < n; i++) {
    const shape = shapes[i] as Shape;
    let colour = rng.pick(COLOURS);
    if (opts.split === 'train') while (isHeldOutCombo(colour, shape)) colour = rng.pick(COLOURS);
    let motion: Motion;
    if (opts.still === true) motion = { kind: 'still' };
    else {
      const r = i === 0 ? rng.next() * 0.75 : rng.next();
      motion =
        r < 0.75
          ? { kind: 'move', direction: rng.pick(['left', 'right', 'up', 'down'] as const), speed: rng.pick(['slow', 'fast'] as const) }
          : r < 0.85
            ? { kind: 'appear', at: 0.3 + 0.4 * rng.next() }
            : r < 0.95
              ? { kind: 'disappear', at: 0.3 + 0.4 * rng.next() }
              : { kind: 'still' };
    }
    const candidates = (motion.kind === 'move' ? MOVE_STARTS[motion.direction] : (['left', 'right', 'top', 'bottom', 'centre'] as const)).filter(
      (p) => !used.has(p),
    );
    if (candidates.length === 0) break;
    const start = rng.pick(candidates);
    used.add(start);
    out.push({ shape, colour, size: rng.pick(SIZES), start, motion });
  }
  if (opts.split === 'heldout' && !out.some((o) => isHeldOutCombo(o.colour, o.shape))) {
    const o = out[0]!;
    const combo = rng.pick(HELDOUT_COMBOS);
    const clash = out.findIndex((x, j) => j > 0 && x.shape === combo[1]);
    if (clash > 0) out.splice(clash, 1);
    out[0] = { ...o, colour: combo[0], shape: combo[1] };
  }
  return out;
}

export function motionSplit(objects: readonly MotionObject[]): Split {
  return objects.some((o) => isHeldOutCombo(o.colour, o.shape)) ? 'heldout' : 'train';
}

/**
 * Centre of an object at time t (seconds) in a clip of `duration` seconds, in canvas fractions, or
 * null while it is not visible. Moving objects travel at SPEED_RATE and stop at the margin.
 */
export function positionAt(o: MotionObject, t: number, duration: number, margin: { readonly x: number; readonly y: number }): { x: number; y: number } | null {
  const [col, row] = POSITION_CELL[o.start];
  const x0 = (col + 0.5) / 3;
  const y0 = (row + 0.5) / 3;
  const m = o.motion;
  if (m.kind === 'appear' && t < m.at * duration) return null;
  if (m.kind === 'disappear' && t >= m.at * duration) return null;
  if (m.kind !== 'move') return { x: x0, y: y0 };
  const d = SPEED_RATE[m.speed] * t;
  const cx = (v: number): number => Math.min(1 - margin.x, Math.max(margin.x, v));
  const cy = (v: number): number => Math.min(1 - margin.y, Math.max(margin.y, v));
  switch (m.direction) {
    case 'left':
      return { x: cx(x0 - d), y: y0 };
    case 'right':
      return { x: cx(x0 + d), y: y0 };
    case 'up':
      return { x: x0, y: cy(y0 - d) };
    case 'down':
      return { x: x0, y: cy(y0 + d) };
  }
}
