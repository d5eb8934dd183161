/**
 * The image path the server streams through: `VisionGenerator.generate` (added for the chat server)
 * must yield exactly what `complete` returns, on the tiny HF Mllama fixture of @herd/vision with its
 * square.png. (An end-to-end image chat needs a vision checkpoint on the mini core's vocabulary,
 * which does not exist yet.)
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VisionGenerator, loadHfMllama, preprocessImage } from '@herd/vision';

const FIXTURE = fileURLToPath(new URL('../../../packages/vision/fixtures/mllama-tiny/', import.meta.url));

describe('vision streaming', () => {
  it('VisionGenerator.generate streams the same greedy ids as complete, and stops early when the caller leaves', async () => {
    const m = loadHfMllama(FIXTURE);
    const gen = VisionGenerator.create(m.config, m.core, m.vision);
    try {
      const image = await preprocessImage(`${FIXTURE}square.png`, m.config.vision);
      const prompt = [1, m.config.imageTokenId, 30, 31, 32];
      const whole = await gen.complete(prompt, [image], { maxNewTokens: 5, temperature: 0 });
      const streamed: number[] = [];
      for await (const id of gen.generate(prompt, [image], { maxNewTokens: 5, temperature: 0 })) streamed.push(id);
      expect(streamed).toEqual(whole);
      const early: number[] = [];
      for await (const id of gen.generate(prompt, [image], { maxNewTokens: 5, temperature: 0 })) {
        early.push(id);
        if (early.length === 2) break;
      }
      expect(early).toEqual(whole.slice(0, 2));
    } finally {
      await gen.release();
    }
  });
});
