import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { LookSet, cropNeighbourLooks, drawScene, generateImages, sceneLook } from './images.js';
import { IMAGE_NOISE } from './noise.js';
import type { Sample } from './sample.js';
import { COLOUR_RGB, isHeldOutCombo, itemRng, type Colour, type Scene } from './world.js';

async function collect(it: AsyncIterable<Sample>): Promise<Sample[]> {
  const out: Sample[] = [];
  for await (const s of it) out.push(s);
  return out;
}

const imageBytes = (s: Sample): Uint8Array => (s.files.png ?? s.files.jpg)!;
const caption = (s: Sample): string => new TextDecoder().decode(s.files.txt);

/** Connected regions (4-neighbour) of pixels near `rgb`, ignoring specks of anti-aliasing. */
function countBlobs(px: Buffer, w: number, h: number, rgb: readonly number[], minPixels = 4): number {
  const near = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) {
    const d = Math.hypot(px[i * 3]! - rgb[0]!, px[i * 3 + 1]! - rgb[1]!, px[i * 3 + 2]! - rgb[2]!);
    near[i] = d < 60 ? 1 : 0;
  }
  let blobs = 0;
  const stack: number[] = [];
  for (let i = 0; i < w * h; i++) {
    if (near[i] !== 1) continue;
    let size = 0;
    near[i] = 2;
    stack.push(i);
    while (stack.length > 0) {
      const j = stack.pop()!;
      size++;
      const x = j % w;
      for (const k of [j - w, j + w, x > 0 ? j - 1 : -1, x < w - 1 ? j + 1 : -1]) {
        if (k >= 0 && k < w * h && near[k] === 1) {
          near[k] = 2;
          stack.push(k);
        }
      }
    }
    if (size >= minPixels) blobs++;
  }
  return blobs;
}

describe('image generator', () => {
  it('is deterministic: same seed, byte-identical samples', async () => {
    const a = await collect(generateImages({ seed: 11, count: 16, noiseRate: 0.5 }));
    const b = await collect(generateImages({ seed: 11, count: 16, noiseRate: 0.5 }));
    expect(a.map((s) => s.key)).toEqual(b.map((s) => s.key));
    a.forEach((s, i) => {
      expect(Buffer.compare(Buffer.from(imageBytes(s)), Buffer.from(imageBytes(b[i]!)))).toBe(0);
      expect(caption(s)).toBe(caption(b[i]!));
      expect(JSON.stringify(s.meta)).toBe(JSON.stringify(b[i]!.meta));
    });
    const c = await collect(generateImages({ seed: 12, count: 4 }));
    expect(caption(c[0]!)).not.toBe(caption(a[0]!));
  });

  it('draws what the scene says: one blob per shape of each colour', async () => {
    const samples = await collect(generateImages({ seed: 5, count: 30, noiseRate: 0, format: 'png', wordProbability: 0, side: [120, 200] }));
    for (const s of samples) {
      const scene = s.meta.scene as Scene;
      const { data, info } = await sharp(Buffer.from(s.files.png!)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height]).toEqual([s.meta.width, s.meta.height]);
      const perColour = new Map<Colour, number>();
      for (const o of scene.objects) perColour.set(o.colour, (perColour.get(o.colour) ?? 0) + o.count);
      for (const [colour, n] of perColour) {
        expect(countBlobs(data, info.width, info.height, COLOUR_RGB[colour]), `${s.key} ${colour} ${caption(s)}`).toBe(n);
      }
      // A colour that is not in the scene is not in the picture.
      const absent = (Object.keys(COLOUR_RGB) as Colour[]).find((c) => !perColour.has(c))!;
      expect(countBlobs(data, info.width, info.height, COLOUR_RGB[absent])).toBe(0);
    }
  });

  it('labels noise at the configured rate, every kind, each with its signature', async () => {
    const count = 60;
    const samples = await collect(generateImages({ seed: 3, count, noiseRate: 0.3 }));
    const noisy = samples.filter((s) => s.meta.noise !== null);
    expect(noisy.length).toBe(Math.round(0.3 * count));
    expect(new Set(noisy.map((s) => s.meta.noise))).toEqual(new Set(IMAGE_NOISE));
    const byKey = new Map(samples.map((s) => [s.key, s]));
    for (const s of samples) {
      expect(s.meta.noise === null || IMAGE_NOISE.includes(s.meta.noise as never)).toBe(true);
      const bytes = imageBytes(s);
      switch (s.meta.noise) {
        case 'exact_duplicate': {
          const src = byKey.get(s.meta.duplicateOf as string)!;
          expect(src.meta.noise).toBeNull();
          expect(Buffer.compare(Buffer.from(bytes), Buffer.from(imageBytes(src)))).toBe(0);
          break;
        }
        case 'near_duplicate': {
          const src = byKey.get(s.meta.duplicateOf as string)!;
          expect(Buffer.compare(Buffer.from(bytes), Buffer.from(imageBytes(src)))).not.toBe(0);
          expect(caption(s)).toBe(caption(src));
          break;
        }
        case 'truncated':
          await expect(sharp(Buffer.from(bytes)).raw().toBuffer()).rejects.toThrow();
          break;
        case 'tiny': {
          const m = await sharp(Buffer.from(bytes)).metadata();
          expect(Math.max(m.width!, m.height!)).toBeLessThanOrEqual(16);
          break;
        }
        case 'extreme_aspect': {
          const m = await sharp(Buffer.from(bytes)).metadata();
          expect(Math.max(m.width!, m.height!) / Math.min(m.width!, m.height!)).toBeGreaterThanOrEqual(7);
          break;
        }
        case 'blank': {
          const st = await sharp(Buffer.from(bytes)).stats();
          expect(st.channels.every((c) => c.max - c.min <= 2)).toBe(true);
          break;
        }
        case 'non_english_caption':
          expect(['fr', 'de', 'es']).toContain(s.meta.language);
          break;
        case 'mismatched_caption':
          expect(s.meta.captionScene).toBeDefined();
          break;
        default:
          break;
      }
    }
  });

  it('keeps held-out combinations out of the train split', async () => {
    const samples = await collect(generateImages({ seed: 9, count: 60, heldoutFraction: 0.3, noiseRate: 0 }));
    const held = samples.filter((s) => s.meta.split === 'heldout');
    expect(held.length).toBeGreaterThan(5);
    for (const s of samples) {
      const has = (s.meta.scene as Scene).objects.some((o) => isHeldOutCombo(o.colour, o.shape));
      expect(has).toBe(s.meta.split === 'heldout');
    }
  });

  it('never draws two samples that look alike unless it labels one a copy of the other', async () => {
    const scene: Scene = {
      objects: [
        { shape: 'circle', colour: 'red', size: 'big', position: 'left', count: 1 },
        { shape: 'star', colour: 'black', size: 'small', position: 'top', count: 2 },
      ],
      background: 'white',
      word: null,
    };
    const look = sceneLook(scene, 160, 120);
    // The drawing does not depend on the order of the groups; white and grey are one brightness edit apart.
    expect(sceneLook({ ...scene, objects: [...scene.objects].reverse() }, 160, 120)).toBe(look);
    expect(sceneLook({ ...scene, background: 'grey' }, 240, 180)).toBe(look);
    expect(sceneLook({ ...scene, background: 'cream' }, 160, 120)).not.toBe(look);
    expect(sceneLook(scene, 120, 160)).not.toBe(look);
    expect(sceneLook({ ...scene, objects: [{ ...scene.objects[0]!, colour: 'pink' }, scene.objects[1]!] }, 160, 120)).not.toBe(look);
    // The generator's own draw loop, without rendering: 8000 draws repeat a look ~90 times when
    // each draw is kept (a fresh LookSet each time), and never once through the generator's LookSet.
    const draws = (shared: boolean): string[] => {
      const looks = new LookSet();
      return Array.from({ length: 8000 }, (_, i) => {
        const rng = itemRng(21, 'images', i);
        const d = drawScene(rng, `img-${i}`, 'train', null, { count: 8000 }, [96, 256], shared ? looks : new LookSet());
        return sceneLook(d.scene, d.width, d.height);
      });
    };
    const repeats = (xs: string[]): number => xs.length - new Set(xs).size;
    expect(repeats(draws(false))).toBeGreaterThan(30);
    expect(repeats(draws(true))).toBe(0);
    // A lone centred group one size up or down looks like a centre crop of the scene: never both drawn.
    const lone: Scene = { objects: [{ shape: 'star', colour: 'red', size: 'medium', position: 'centre', count: 1 }], background: 'white', word: null };
    const sized = (size: 'small' | 'medium' | 'big'): string => sceneLook({ ...lone, objects: [{ ...lone.objects[0]!, size }] }, 160, 120);
    expect(cropNeighbourLooks(lone, 160, 120).sort()).toEqual([sized('small'), sized('big')].sort());
    expect(cropNeighbourLooks({ ...lone, objects: [{ ...lone.objects[0]!, size: 'big' }] }, 160, 120)).toEqual([sized('medium')]);
    expect(cropNeighbourLooks({ ...lone, objects: [{ ...lone.objects[0]!, position: 'left' }] }, 160, 120)).toEqual([]);
    expect(cropNeighbourLooks(scene, 160, 120)).toEqual([]);
    const shared = draws(true);
    const drawn = new Set(shared);
    const loneDraws = Array.from({ length: 8000 }, (_, i) => drawScene(itemRng(21, 'images', i), `img-${i}`, 'train', null, { count: 8000 }, [96, 256], new LookSet()));
    const withNeighbour = (xs: { scene: Scene; width: number; height: number }[], set: Set<string>): number => xs.filter((d) => cropNeighbourLooks(d.scene, d.width, d.height).some((l) => set.has(l))).length;
    expect(withNeighbour(loneDraws, new Set(loneDraws.map((d) => sceneLook(d.scene, d.width, d.height))))).toBeGreaterThan(10);
    const sharedDraws = ((): { scene: Scene; width: number; height: number }[] => {
      const looks = new LookSet();
      return Array.from({ length: 8000 }, (_, i) => drawScene(itemRng(21, 'images', i), `img-${i}`, 'train', null, { count: 8000 }, [96, 256], looks));
    })();
    expect(withNeighbour(sharedDraws, drawn)).toBe(0);
    // And through generateImages: the looks of the samples that are not labelled copies are distinct.
    const samples = await collect(generateImages({ seed: 21, count: 40, noiseRate: 0.5, noiseKinds: ['exact_duplicate', 'near_duplicate', 'mismatched_caption'], side: [24, 32] }));
    const clean = samples.filter((s) => s.meta.duplicateOf === undefined);
    expect(clean.length).toBeGreaterThan(20);
    expect(repeats(clean.map((s) => sceneLook(s.meta.scene as Scene, s.meta.width as number, s.meta.height as number)))).toBe(0);
  });
});
