import { describe, expect, it } from 'vitest';
import { parseSpeechConfig } from './config.js';
import { loadSpeechPreset } from './presets/index.js';

describe('speech config', () => {
  it("the paper's preset: 24 layers, dim 1536, 24 heads, FFN 4096, kernel 7, BEST-RQ 16 × 8192 × 16", () => {
    const c = loadSpeechPreset('llama3-speech');
    expect([c.nLayers, c.dim, c.nHeads, c.ffnDim, c.convKernel, c.stack, c.nMels]).toEqual([24, 1536, 24, 4096, 7, 4, 80]);
    expect(c.bestRq).toMatchObject({ codebooks: 16, codebookSize: 8192, codeDim: 16, maskProb: 0.025, maskSpan: 32 });
    expect(loadSpeechPreset('mini').dim).toBeLessThan(c.dim);
  });

  it('rejects unknown keys and reports every broken invariant at once', () => {
    const base = loadSpeechPreset('mini');
    expect(() => parseSpeechConfig({ ...base, nLayer: 3 })).toThrow(/unknown key 'nLayer'/);
    let err: Error | undefined;
    try {
      parseSpeechConfig({ ...base, dim: 130, convKernel: 6, bestRq: { ...base.bestRq, maskSpan: 30 } });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toMatch(/dim 130 must be a multiple of nHeads 4/);
    expect(err?.message).toMatch(/convKernel must be odd/);
    expect(err?.message).toMatch(/maskSpan 30 must be a multiple of stack 4/);
    expect(() => loadSpeechPreset('huge')).toThrow(/valid presets: llama3-speech, mini/);
  });
});
