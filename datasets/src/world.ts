/**
 * The shared vocabulary of the synthetic world. Every generator (text, images, video, speech) draws
 * from these tables so that what the language core reads, what the encoders see and hear, and what
 * the evals ask about are one world. Canonical names (the ones in meta) are the first word of each
 * entry; synonyms only vary the surface text.
 */
import { Rng } from '@herd/core';

export const SHAPES = ['circle', 'square', 'triangle', 'star', 'hexagon', 'diamond'] as const;
export type Shape = (typeof SHAPES)[number];

/** Sides/points of each shape, for plain sentences ("a triangle has three sides"). */
export const SHAPE_FACTS: Readonly<Record<Shape, { sides: number; fact: string }>> = {
  circle: { sides: 0, fact: 'a circle is round and has no corners' },
  square: { sides: 4, fact: 'a square has four equal sides' },
  triangle: { sides: 3, fact: 'a triangle has three sides' },
  star: { sides: 5, fact: 'a star has five points' },
  hexagon: { sides: 6, fact: 'a hexagon has six sides' },
  diamond: { sides: 4, fact: 'a diamond looks like a square standing on one corner' },
};

/** Saturated colours far apart in RGB, so a pixel count can tell them apart after JPEG coding. */
export const COLOURS = ['red', 'green', 'blue', 'yellow', 'orange', 'purple', 'pink', 'black'] as const;
export type Colour = (typeof COLOURS)[number];
export const COLOUR_RGB: Readonly<Record<Colour, readonly [number, number, number]>> = {
  red: [220, 30, 30],
  green: [30, 160, 60],
  blue: [30, 80, 220],
  yellow: [245, 205, 20],
  orange: [245, 130, 20],
  purple: [130, 40, 170],
  pink: [245, 120, 190],
  black: [20, 20, 20],
};

/** Backgrounds are pale so every shape colour stands out; none is a shape colour. */
export const BACKGROUNDS = ['white', 'grey', 'cream', 'sky'] as const;
export type Background = (typeof BACKGROUNDS)[number];
export const BACKGROUND_RGB: Readonly<Record<Background, readonly [number, number, number]>> = {
  white: [255, 255, 255],
  grey: [232, 232, 232],
  cream: [250, 244, 228],
  sky: [226, 238, 250],
};

export const SIZES = ['small', 'medium', 'big'] as const;
export type Size = (typeof SIZES)[number];
export const SIZE_SYNONYMS: Readonly<Record<Size, readonly string[]>> = {
  small: ['small', 'little'],
  medium: ['medium', 'medium-sized'],
  big: ['big', 'large'],
};
/** Fraction of the group's cell that a shape fills; far apart so "big or small" is visible. */
export const SIZE_SCALE: Readonly<Record<Size, number>> = { small: 0.5, medium: 0.7, big: 0.92 };

/**
 * Five positions: the arms and centre of a 3×3 grid. Corner cells stay free for the written word,
 * so text never covers a shape.
 */
export const POSITIONS = ['left', 'right', 'top', 'bottom', 'centre'] as const;
export type Position = (typeof POSITIONS)[number];
export const POSITION_PHRASES: Readonly<Record<Position, readonly string[]>> = {
  left: ['on the left', 'on the left side'],
  right: ['on the right', 'on the right side'],
  top: ['at the top', 'near the top'],
  bottom: ['at the bottom', 'near the bottom'],
  centre: ['in the centre', 'in the middle'],
};
/** Grid cell (column, row) of each position in the 3×3 layout. */
export const POSITION_CELL: Readonly<Record<Position, readonly [number, number]>> = {
  left: [0, 1],
  right: [2, 1],
  top: [1, 0],
  bottom: [1, 2],
  centre: [1, 1],
};

export const CORNERS = ['top left', 'top right', 'bottom left', 'bottom right'] as const;
export type Corner = (typeof CORNERS)[number];
export const CORNER_CELL: Readonly<Record<Corner, readonly [number, number]>> = {
  'top left': [0, 0],
  'top right': [2, 0],
  'bottom left': [0, 2],
  'bottom right': [2, 2],
};

/** Short words written into scenes; none is a colour or shape so "what word" stays its own task. */
export const WORDS = [
  'cat', 'dog', 'sun', 'moon', 'fish', 'bird', 'tree', 'book', 'car', 'ship',
  'milk', 'rain', 'snow', 'lamp', 'door', 'frog', 'king', 'rose', 'cake', 'hat',
] as const;
export type Word = (typeof WORDS)[number];

export const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six'] as const;
export function numberWord(n: number): string {
  return NUMBER_WORDS[n] ?? String(n);
}

export const DIRECTIONS = ['left', 'right', 'up', 'down'] as const;
export type Direction = (typeof DIRECTIONS)[number];
export const DIRECTION_PHRASES: Readonly<Record<Direction, readonly string[]>> = {
  left: ['to the left', 'towards the left'],
  right: ['to the right', 'towards the right'],
  up: ['up', 'upwards'],
  down: ['down', 'downwards'],
};
export const SPEEDS = ['slow', 'fast'] as const;
export type Speed = (typeof SPEEDS)[number];
export const SPEED_ADVERBS: Readonly<Record<Speed, readonly string[]>> = {
  slow: ['slowly'],
  fast: ['quickly', 'fast'],
};
/** Canvas fractions per second: far apart so slow and fast differ at any clip length. */
export const SPEED_RATE: Readonly<Record<Speed, number>> = { slow: 0.12, fast: 0.4 };

/**
 * Colour×shape combinations that never occur in any train split (text, images, video, speech):
 * the held-out split tests compositional generalisation. Fixed, not seeded, so all generators and
 * all seeds agree. Each colour and each shape still occurs in train with other partners.
 */
export const HELDOUT_COMBOS: readonly (readonly [Colour, Shape])[] = [
  ['green', 'triangle'],
  ['blue', 'star'],
  ['yellow', 'hexagon'],
  ['purple', 'circle'],
];

export function isHeldOutCombo(colour: Colour, shape: Shape): boolean {
  return HELDOUT_COMBOS.some(([c, s]) => c === colour && s === shape);
}

export type Split = 'train' | 'heldout';

/** A group of identical shapes in one cell: "two small blue squares at the top". */
export interface SceneObject {
  readonly shape: Shape;
  readonly colour: Colour;
  readonly size: Size;
  readonly position: Position;
  readonly count: number;
}

export interface Scene {
  readonly objects: readonly SceneObject[];
  readonly background: Background;
  /** A word written in a corner cell, if any. */
  readonly word: { readonly text: Word; readonly corner: Corner } | null;
}

export interface SceneOptions {
  /** Most shapes in total (sum of counts); the brief's world has 1–4. */
  readonly maxShapes?: number;
  /** Probability that a word is written in a corner. */
  readonly wordProbability?: number;
  /** Restrict to one split: 'train' never draws a held-out combo, 'heldout' always has one. */
  readonly split?: Split;
}

/**
 * Draws a scene. Shapes are distinct across groups (so "what colour is the circle?" has one answer)
 * and so are positions (so "what is on the left?" has one answer).
 */
export function randomScene(rng: Rng, opts: SceneOptions = {}): Scene {
  const maxShapes = opts.maxShapes ?? 4;
  const total = 1 + rng.int(maxShapes);
  const shapes = rng.shuffle([...SHAPES]);
  const positions = rng.shuffle([...POSITIONS]);
  const objects: SceneObject[] = [];
  let left = total;
  while (left > 0 && objects.length < positions.length) {
    // Counts up to 3 per group keep copies large enough to see at low resolution.
    const count = objects.length === 0 && rng.next() < 0.5 ? 1 : 1 + rng.int(Math.min(3, left));
    const shape = shapes[objects.length] as Shape;
    let colour = rng.pick(COLOURS);
    if (opts.split === 'train') {
      while (isHeldOutCombo(colour, shape)) colour = rng.pick(COLOURS);
    }
    objects.push({ shape, colour, size: rng.pick(SIZES), position: positions[objects.length] as Position, count });
    left -= count;
  }
  if (opts.split === 'heldout' && !objects.some((o) => isHeldOutCombo(o.colour, o.shape))) {
    // Replace one group by a held-out combination, keeping its place and count.
    const i = rng.int(objects.length);
    const o = objects[i] as SceneObject;
    const used = new Set(objects.filter((_, j) => j !== i).map((x) => x.shape));
    const choices = HELDOUT_COMBOS.filter(([, s]) => !used.has(s));
    const [colour, shape] = rng.pick(choices.length > 0 ? choices : HELDOUT_COMBOS);
    objects[i] = { ...o, colour, shape };
  }
  const wordProbability = opts.wordProbability ?? 0.3;
  const word = rng.next() < wordProbability ? { text: rng.pick(WORDS), corner: rng.pick(CORNERS) } : null;
  return { objects, background: rng.pick(BACKGROUNDS), word };
}

export function sceneSplit(scene: Scene): Split {
  return scene.objects.some((o) => isHeldOutCombo(o.colour, o.shape)) ? 'heldout' : 'train';
}

export function shapeCount(scene: Scene): number {
  return scene.objects.reduce((n, o) => n + o.count, 0);
}

/** A deterministic per-item seed from (seed, stream, index), so any item can be regenerated alone. */
export function itemSeed(seed: number, stream: string, index: number): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < stream.length; i++) h = Math.imul(h ^ stream.charCodeAt(i), 0x01000193) >>> 0;
  h = Math.imul(h ^ (index >>> 0), 0x9e3779b1) >>> 0;
  h = Math.imul(h ^ Math.floor(index / 4294967296), 0x85ebca6b) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

export function itemRng(seed: number, stream: string, index: number): Rng {
  return new Rng(itemSeed(seed, stream, index));
}
