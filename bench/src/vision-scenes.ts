/**
 * The common start of the vision benches (vision-shape-probe, vision-dense-encoder): a vision preset,
 * an optional saved encoder that must have it, and the images dataset's scenes with their scene spec,
 * tiled for that preset and split into train / held-out (unseen colour × shape pairs).
 */
import { HerdError } from '@herd/core';
import { loadLanguageCore } from '@herd/llama3';
import { type VisionConfig, loadMiniEncoder, loadVisionPreset, miniVisionConfig, readSceneExamples } from '@herd/vision';

type SceneExample = Awaited<ReturnType<typeof readSceneExamples>>[number];
export interface VisionBenchScene { readonly image: SceneExample['image']; readonly scene: NonNullable<SceneExample['scene']>; readonly split: SceneExample['split'] }

export interface VisionBenchScenes {
  readonly vision: VisionConfig;
  /** The saved encoder given, checked to have the preset. */
  readonly encoder?: ReturnType<typeof loadMiniEncoder>;
  /** Every scene with its spec (train-split and held-out). */
  readonly all: readonly VisionBenchScene[];
  readonly trainSplit: readonly VisionBenchScene[];
  readonly heldout: readonly VisionBenchScene[];
}

/** `encoderFlag` names the flag the encoder came from, for the mismatch error; `cleanOnly` drops the noisy scenes. */
export async function loadVisionBenchScenes(o: { data: string; preset: string; encoderDir?: string; encoderFlag: string; cleanOnly?: boolean }): Promise<VisionBenchScenes> {
  const vision = loadVisionPreset(o.preset);
  const encoder = o.encoderDir === undefined ? undefined : loadMiniEncoder(o.encoderDir);
  if (encoder && JSON.stringify(encoder.vision) !== JSON.stringify(vision)) throw new HerdError('checkpoint_mismatch', `--${o.encoderFlag} ${o.encoderDir}: its config ${JSON.stringify(encoder.vision)} is not the ${o.preset} preset's (pick it with --preset)`);
  const m = miniVisionConfig(loadLanguageCore().config, vision);
  const all = (await readSceneExamples(o.data, m))
    .filter((s) => s.scene !== undefined && (!o.cleanOnly || (s.noise ?? null) === null))
    .map((s) => ({ image: s.image, scene: s.scene!, split: s.split }));
  return { vision, ...(encoder ? { encoder } : {}), all, trainSplit: all.filter((s) => s.split === 'train'), heldout: all.filter((s) => s.split === 'heldout') };
}
