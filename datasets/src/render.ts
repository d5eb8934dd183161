/**
 * SVG drawing of scenes, shared by the image and video generators. Layout is a 3×3 grid: the five
 * positions are the arms and centre, the written word sits in a corner cell, so nothing overlaps and
 * the ground truth (colour, count, place) is visible in the pixels.
 */
import {
  BACKGROUND_RGB,
  COLOUR_RGB,
  CORNER_CELL,
  POSITION_CELL,
  SIZE_SCALE,
  type Background,
  type Colour,
  type Scene,
  type SceneObject,
  type Shape,
  type Size,
} from './world.js';

/** Text drawn by librsvg through fontconfig; DejaVu is in Debian's fonts-dejavu-core. */
export const FONT_FAMILY = 'DejaVu Sans';

export function rgbCss(rgb: readonly [number, number, number]): string {
  return `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;
}

function fmt(x: number): string {
  return x.toFixed(2);
}

function polygon(cx: number, cy: number, points: readonly (readonly [number, number])[], fill: string): string {
  return `<polygon points="${points.map(([x, y]) => `${fmt(cx + x)},${fmt(cy + y)}`).join(' ')}" fill="${fill}"/>`;
}

function regular(n: number, r: number, rotation: number): [number, number][] {
  return Array.from({ length: n }, (_, i) => {
    const a = rotation + (2 * Math.PI * i) / n;
    return [r * Math.cos(a), r * Math.sin(a)];
  });
}

/** One shape of "radius" r (half its extent) centred at (cx, cy). */
export function shapeSvg(shape: Shape, cx: number, cy: number, r: number, colour: Colour): string {
  const fill = rgbCss(COLOUR_RGB[colour]);
  switch (shape) {
    case 'circle':
      return `<circle cx="${fmt(cx)}" cy="${fmt(cy)}" r="${fmt(r)}" fill="${fill}"/>`;
    case 'square': {
      const h = r * 0.85;
      return `<rect x="${fmt(cx - h)}" y="${fmt(cy - h)}" width="${fmt(2 * h)}" height="${fmt(2 * h)}" fill="${fill}"/>`;
    }
    case 'triangle':
      // Pointing up; shifted down so its bounding box is centred.
      return polygon(cx, cy + r * 0.25, regular(3, r * 1.15, -Math.PI / 2), fill);
    case 'star': {
      const pts: [number, number][] = [];
      for (let i = 0; i < 10; i++) {
        const rr = i % 2 === 0 ? r : r * 0.45;
        const a = -Math.PI / 2 + (Math.PI * i) / 5;
        pts.push([rr * Math.cos(a), rr * Math.sin(a)]);
      }
      return polygon(cx, cy + r * 0.08, pts, fill);
    }
    case 'hexagon':
      return polygon(cx, cy, regular(6, r, 0), fill);
    case 'diamond':
      return polygon(cx, cy, [[0, -r], [r * 0.7, 0], [0, r], [-r * 0.7, 0]], fill);
  }
}

export interface Placed {
  readonly shape: Shape;
  readonly colour: Colour;
  readonly cx: number;
  readonly cy: number;
  readonly r: number;
}

/** Radius of one of `count` copies of a shape of this size in a cell of cw × ch pixels. */
export function shapeRadius(size: Size, count: number, cw: number, ch: number): number {
  const cols = count === 1 ? 1 : count === 2 ? 2 : 2;
  const rows = count <= 2 ? 1 : 2;
  return (Math.min(cw / cols, ch / rows) / 2) * SIZE_SCALE[size];
}

/** Where each copy of a group goes: 1 centred, 2 side by side, 3 as a small triangle of shapes. */
export function placeGroup(o: SceneObject, width: number, height: number): Placed[] {
  const cw = width / 3;
  const ch = height / 3;
  const [col, row] = POSITION_CELL[o.position];
  const x0 = col * cw;
  const y0 = row * ch;
  const r = shapeRadius(o.size, o.count, cw, ch);
  const offsets: (readonly [number, number])[] =
    o.count === 1 ? [[0.5, 0.5]] : o.count === 2 ? [[0.25, 0.5], [0.75, 0.5]] : [[0.5, 0.25], [0.25, 0.75], [0.75, 0.75]];
  return offsets.slice(0, o.count).map(([fx, fy]) => ({ shape: o.shape, colour: o.colour, cx: x0 + fx * cw, cy: y0 + fy * ch, r }));
}

export function svgDocument(width: number, height: number, background: Background | readonly [number, number, number], body: string): string {
  const bg = typeof background === 'string' ? BACKGROUND_RGB[background] : background;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="${width}" height="${height}" fill="${rgbCss(bg)}"/>${body}</svg>`
  );
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The written word's ink colour. */
export const WORD_RGB: readonly [number, number, number] = [25, 25, 25];

/** A word centred in a grid cell, sized to fit its width (DejaVu Sans glyphs are ~0.6 em wide). */
export function wordSvg(text: string, cell: readonly [number, number], width: number, height: number): string {
  const cw = width / 3;
  const ch = height / 3;
  const fontSize = Math.max(4, Math.min((cw * 0.9) / (0.62 * text.length), ch * 0.6));
  const x = (cell[0] + 0.5) * cw;
  const y = (cell[1] + 0.5) * ch + fontSize * 0.36;
  return `<text x="${fmt(x)}" y="${fmt(y)}" font-family="${FONT_FAMILY}" font-size="${fmt(fontSize)}" text-anchor="middle" fill="${rgbCss(WORD_RGB)}">${escapeXml(text)}</text>`;
}

/** The whole scene as an SVG string of the given pixel size. */
export function sceneSvg(scene: Scene, width: number, height: number, extra = ''): string {
  const shapes = scene.objects
    .flatMap((o) => placeGroup(o, width, height))
    .map((p) => shapeSvg(p.shape, p.cx, p.cy, p.r, p.colour))
    .join('');
  const word = scene.word !== null ? wordSvg(scene.word.text, CORNER_CELL[scene.word.corner], width, height) : '';
  return svgDocument(width, height, scene.background, shapes + word + extra);
}
