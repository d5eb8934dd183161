/**
 * Tests' second model: the built-in mini vision checkpoint with its adapter perturbed by seeded noise
 * and every cross-attention gate set to −2 (the image's contribution reversed) — a checkpoint of the same shapes that answers differently.
 */
import { Rng } from '@herd/core';
import { loadLanguageCore } from '@herd/llama3';
import { hostTensor } from '@herd/runtime';
import { MINI_VISION_DIR, adapterParamSpecs, loadMiniVision, saveMiniVision } from '@herd/vision';

export async function writePerturbedVision(dir: string): Promise<void> {
  const v = loadMiniVision(MINI_VISION_DIR, loadLanguageCore());
  const adapter = new Set(adapterParamSpecs(v.config).map((s) => s.name));
  const rng = new Rng(7);
  const tensors = Object.fromEntries(Object.entries(v.weights).map(([name, w]) => {
    const data = Float32Array.from(w.data as Float32Array);
    if (/cross_attn_(attn|mlp)_gate$/.test(name)) data.fill(-2);
    else if (adapter.has(name)) for (let i = 0; i < data.length; i++) data[i] = data[i]! * (1 + 0.5 * rng.normal());
    return [name, hostTensor('f32', [...w.shape], data)];
  }));
  await saveMiniVision(dir, v.config, v.core, tensors);
}

