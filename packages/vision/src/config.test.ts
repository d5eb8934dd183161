import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type SafetensorsSource, isHerdError, openSafetensors } from '@herd/core';
import { describe, expect, it } from 'vitest';
import { coreAttachPoints, parseVisionConfig, patchesPerTile, visionOutputDim } from './config.js';
import { readMllamaWeights, stackIndexOfCoreLayer } from './model/load.js';
import { loadHfMllama } from './model/load.js';
import { LLAMA32_VISION_CROSS_LAYERS, VISION_PRESET_NAMES, loadVisionPreset } from './presets/index.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'mllama-tiny');

describe('vision config', () => {
  it('presets: the paper\'s ViT-H/14 at 336 px, Llama 3.2 Vision at 560 px, mini, mini-patch4', () => {
    expect(VISION_PRESET_NAMES).toEqual(['vit-h14-336', 'llama3.2-vision', 'mini', 'mini-patch4']);
    const vit = loadVisionPreset('vit-h14-336');
    expect(patchesPerTile(vit)).toBe(577); // 24² + class token
    expect(vit.nLayers + vit.nGlobalLayers).toBe(40); // §7.2: 32 + 8 gated global layers
    const l32 = loadVisionPreset('llama3.2-vision');
    expect(patchesPerTile(l32)).toBe(1601);
    expect(visionOutputDim(l32)).toBe(7680); // 1280 × (1 + 5 intermediate layers)
    expect(l32.supportedAspectRatios.length).toBe(8);
    expect(loadVisionPreset('mini').tileSize).toBe(48); // the mini CLIP's image tower (48-px tile, 8-px patches)
    // mini-patch4: the mini encoder with 4-px patches and nothing else changed (same tiles, widths, layers).
    const [mini, p4] = [loadVisionPreset('mini'), loadVisionPreset('mini-patch4')];
    expect({ ...p4, patchSize: 8 }).toEqual(mini);
    expect([patchesPerTile(mini), patchesPerTile(p4)]).toEqual([37, 145]);
  });

  it('Llama 3.2 Vision attaches a cross-attention layer before every 4th core layer', () => {
    expect(LLAMA32_VISION_CROSS_LAYERS['11b']).toEqual([3, 8, 13, 18, 23, 28, 33, 38]);
    // core layers (stack minus cross layers): 3, 7, 11, … = llama3's fusionSchedule(32, 4)
    expect(coreAttachPoints(LLAMA32_VISION_CROSS_LAYERS['11b'])).toEqual([3, 7, 11, 15, 19, 23, 27, 31]);
    expect(stackIndexOfCoreLayer([3, 8], 8)).toEqual([0, 1, 2, 4, 5, 6, 7, 9]);
  });

  it('rejects unknown keys and lists every bad field at once', () => {
    expect(() => loadVisionPreset('mini', { tileSize: 56, nLayer: 3 })).toThrow(/unknown key.*nLayer/);
    try {
      loadVisionPreset('mini', { tileSize: 50, nHeads: 5, intermediateLayers: [9] });
      expect.unreachable();
    } catch (e) {
      expect(isHerdError(e, 'invalid_config')).toBe(true);
      const msg = (e as Error).message;
      expect(msg).toMatch(/tileSize 50 must be a multiple of patchSize 8/);
      expect(msg).toMatch(/dim 64 must be a multiple of nHeads 5/);
      expect(msg).toMatch(/intermediateLayers/);
    }
    expect(() => loadVisionPreset('tiny')).toThrow(/valid presets: vit-h14-336, llama3.2-vision, mini, mini-patch4/);
    expect(() => parseVisionConfig({ ...loadVisionPreset('mini'), intermediateTap: 'middle' })).toThrow(/intermediateTap/);
  });
});

describe('HF Mllama checkpoint loading', () => {
  it('names every missing and mis-shaped tensor at once', () => {
    const { config } = loadHfMllama(FIXTURE);
    const real = openSafetensors(join(FIXTURE, 'model.safetensors'));
    const gone = 'vision_model.transformer.layers.2.mlp.fc1.bias';
    const bent = 'language_model.model.layers.8.cross_attn.k_norm.weight';
    const core = 'language_model.model.layers.9.self_attn.q_proj.weight'; // core layer 7
    const fake: SafetensorsSource = {
      metadata: real.metadata,
      names: () => real.names().filter((n) => n !== gone && n !== core),
      has: (n) => n !== gone && n !== core && real.has(n),
      info: (n) => (n === bent ? { ...real.info(n), shape: [7] } : real.info(n)),
      readBytes: (n) => real.readBytes(n),
      read: (n) => real.read(n),
      readFloat32: (n) => real.readFloat32(n),
      assertFinite: (n) => real.assertFinite(n),
    };
    try {
      readMllamaWeights(fake, config, 'fixture');
      expect.unreachable();
    } catch (e) {
      expect(isHerdError(e, 'checkpoint_mismatch')).toBe(true);
      const msg = (e as Error).message;
      expect(msg).toContain(`missing tensor '${gone}' (shape [64])`);
      expect(msg).toContain(`missing tensor '${core}'`);
      expect(msg).toContain(`tensor '${bent}' has shape [7], the config needs [8]`);
    }
  });
});
