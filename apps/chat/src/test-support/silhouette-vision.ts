/**
 * Tests' checkpoint with a silhouette stream (`MllamaConfig.silhouetteLayers`), made from the built-in mini vision
 * checkpoint without training: its image layers and projector as they are, and after each image layer a silhouette
 * layer that is a copy of it with its weights perturbed by seeded noise and its gates wide open, reading the silhouette through a
 * likewise perturbed copy of the projector. The silhouette then changes the answer, so a runner that feeds it wrong
 * (or not at all) gives other logits and other answers.
 */
import { Rng } from '@herd/core';
import { loadLanguageCore } from '@herd/llama3';
import { type HostTensor, hostTensor } from '@herd/runtime';
import { IMAGE_PROJECTOR, MINI_VISION_DIR, SILHOUETTE_PROJECTOR, crossLayerPrefix, loadMiniVision, saveMiniVision, withSilhouetteStream } from '@herd/vision';

/** The silhouette layers' gates (tanh 0.91): wide open, so what they read decides the answer, not only its logits. */
const SILHOUETTE_GATE = 1.5;

export async function writeSilhouetteVision(dir: string): Promise<void> {
  const v = loadMiniVision(MINI_VISION_DIR, loadLanguageCore());
  const m = { ...v.config, ...withSilhouetteStream(v.config.crossAttentionLayers) };
  const rng = new Rng(11);
  const weights: Record<string, HostTensor> = Object.fromEntries(Object.entries(v.weights).map(([n, w]) => [n, hostTensor('f32', [...w.shape], w.data as Float32Array)]));
  const copy = (from: string, to: string, how: (data: Float32Array) => Float32Array) => {
    const w = v.weights[from]!;
    weights[to] = hostTensor('f32', [...w.shape], how(w.data as Float32Array));
  };
  const same = (data: Float32Array) => Float32Array.from(data);
  const perturbed = (data: Float32Array) => data.map((x) => x * (1 + 0.5 * rng.normal()));
  // Stack indices move: image layer k of the old schedule is new layer 2k's, its silhouette layer 2k + 1's.
  for (const [k, old] of v.config.crossAttentionLayers.entries()) {
    const [image, silhouette] = [m.crossAttentionLayers[2 * k]!, m.crossAttentionLayers[2 * k + 1]!];
    for (const name of Object.keys(v.weights).filter((n) => n.startsWith(`${crossLayerPrefix(old)}.`))) {
      delete weights[name];
      const rest = name.slice(crossLayerPrefix(old).length);
      copy(name, `${crossLayerPrefix(image)}${rest}`, same);
      copy(name, `${crossLayerPrefix(silhouette)}${rest}`, /_gate$/.test(name) ? (d) => d.map(() => SILHOUETTE_GATE) : perturbed);
    }
  }
  for (const part of ['weight', 'bias']) copy(`${IMAGE_PROJECTOR}.${part}`, `${SILHOUETTE_PROJECTOR}.${part}`, perturbed);
  await saveMiniVision(dir, m, v.core, weights);
}
