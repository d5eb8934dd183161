/**
 * The written words of the world (a scene's word, subtitles, text overlays) are drawn by librsvg through
 * fontconfig. On a machine without the font or without a fontconfig configuration (a bare container: round
 * 29's GPU host printed "Fontconfig error: Cannot load default config file" and went on) the text comes out
 * blank or as placeholder boxes — silently, while the labels still name the word. So each generator draws two
 * words of the same length once before its first sample and refuses to go on if they do not differ.
 */
import { HerdError } from '@herd/core';
import sharp from 'sharp';
import { FONT_FAMILY, escapeXml } from './render.js';

/** Grey pixels of `word` drawn as the generators draw text (black on white, 64×24). */
export async function renderTextSample(word: string): Promise<Uint8Array> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="24"><rect width="64" height="24" fill="white"/>`
    + `<text x="32" y="18" font-family="${FONT_FAMILY}" font-size="16" text-anchor="middle" fill="black">${escapeXml(word)}</text></svg>`;
  return new Uint8Array(await sharp(Buffer.from(svg)).greyscale().raw().toBuffer());
}

let checked: Promise<void> | undefined;

/**
 * Throws `tool_missing` unless text renders: "Ship" must leave ink and differ from "Frog" (blank output and
 * one placeholder box per letter are both the same for any two words of one length). `render` is for tests.
 */
export function checkTextRendering(render: (word: string) => Promise<Uint8Array> = renderTextSample): Promise<void> {
  if (render !== renderTextSample) return check(render);
  checked ??= check(render).catch((e: unknown) => { checked = undefined; throw e; });
  return checked;
}

async function check(render: (word: string) => Promise<Uint8Array>): Promise<void> {
  const [a, b] = await Promise.all([render('Ship'), render('Frog')]);
  const ink = a.reduce((n, v) => n + (v < 128 ? 1 : 0), 0);
  const same = a.length === b.length && a.every((v, i) => v === b[i]);
  if (ink === 0 || same) {
    throw new HerdError('tool_missing', `text does not render: two different words drew ${ink === 0 ? 'no ink' : 'the same pixels'}, so the world's written words would be ${ink === 0 ? 'blank' : 'placeholder boxes'} while the labels still name them. Install the font '${FONT_FAMILY}' and a fontconfig configuration (Debian: apt-get install fonts-dejavu-core fontconfig-config; scripts/system-deps.sh does it)`);
  }
}
