import { describe, expect, it } from 'vitest';
import { checkTextRendering, renderTextSample } from './fonts.js';

describe('checkTextRendering', () => {
  it('passes where the font renders: two words of one length draw different ink', async () => {
    const [a, b] = await Promise.all([renderTextSample('Ship'), renderTextSample('Frog')]);
    expect(a.filter((v) => v < 128).length).toBeGreaterThan(50);
    expect(a).not.toEqual(b);
    await expect(checkTextRendering()).resolves.toBeUndefined();
  });

  it('refuses blank text and placeholder boxes, saying what to install', async () => {
    const blank = async () => new Uint8Array(64 * 24).fill(255);
    await expect(checkTextRendering(blank)).rejects.toMatchObject({ code: 'tool_missing', message: expect.stringMatching(/no ink.*blank.*fonts-dejavu-core/) });
    // One box per letter: any two four-letter words look the same.
    const boxes = async (word: string) => Uint8Array.from({ length: 64 * 24 }, (_, i) => ((i % 64) % 16 < 12 && word.length === 4 ? 0 : 255));
    await expect(checkTextRendering(boxes)).rejects.toMatchObject({ code: 'tool_missing', message: expect.stringMatching(/the same pixels.*placeholder boxes/) });
  });
});
