/**
 * The common start of the vision benches (vision-shape-probe, vision-dense-encoder): a vision preset,
 * an optional saved encoder that must have it, and the images dataset's scenes with their scene spec,
 * tiled for that preset and split into train / held-out (unseen colour × shape pairs).
 */
import { HerdError } from '@herd/core';
import { loadLanguageCore } from '@herd/llama3';
import { type VisionConfig, loadMiniEncoder, loadVisionPreset, miniVisionConfig, readSceneExamples, resizeEncoderPatches } from '@herd/vision';

type SceneExample = Awaited<ReturnType<typeof readSceneExamples>>[number];
export interface VisionBenchScene { readonly image: SceneExample['image']; readonly scene: NonNullable<SceneExample['scene']>; readonly split: SceneExample['split'] }

export interface VisionBenchScenes {
  readonly vision: VisionConfig;
  /** The saved encoder given, checked to have the preset (or, with `resize.on`, resized to its patch size). */
  readonly encoder?: ReturnType<typeof loadMiniEncoder>;
  /** The saved encoder's patch size when it was resized to the preset's; absent when it was not. */
  readonly resizedFrom?: number;
  /** Every scene with its spec (train-split and held-out). */
  readonly all: readonly VisionBenchScene[];
  readonly trainSplit: readonly VisionBenchScene[];
  readonly heldout: readonly VisionBenchScene[];
}

/**
 * `encoderFlag` names the flag the encoder came from, for the mismatch error; `cleanOnly` drops the noisy scenes.
 * `resize` (with the name of its switch): an encoder whose patch size is a multiple of the preset's, all else equal,
 * is resized to it (`resizeEncoderPatches`); without it a different patch size is refused, naming the switch.
 */
export async function loadVisionBenchScenes(o: { data: string; preset: string; encoderDir?: string; encoderFlag: string; resize?: { on: boolean; flag: string }; cleanOnly?: boolean }): Promise<VisionBenchScenes> {
  const vision = loadVisionPreset(o.preset);
  let encoder = o.encoderDir === undefined ? undefined : loadMiniEncoder(o.encoderDir);
  let resizedFrom: number | undefined;
  if (o.resize?.on && !encoder) throw new HerdError('invalid_argument', `--${o.resize.flag} resizes the --${o.encoderFlag} encoder: give --${o.encoderFlag}`);
  if (encoder && o.resize?.on) {
    if (encoder.vision.patchSize === vision.patchSize) throw new HerdError('invalid_argument', `--${o.resize.flag}: the --${o.encoderFlag} encoder ${o.encoderDir} already has the ${o.preset} preset's patch size ${vision.patchSize} (drop --${o.resize.flag})`);
    resizedFrom = encoder.vision.patchSize;
    encoder = { ...encoder, vision, encoder: resizeEncoderPatches(encoder.vision, encoder.encoder, vision) };
  }
  if (encoder && JSON.stringify(encoder.vision) !== JSON.stringify(vision)) {
    const patches = o.resize && encoder.vision.patchSize !== vision.patchSize ? ` Its patch size is ${encoder.vision.patchSize} px, the preset's ${vision.patchSize} px: --${o.resize.flag} resizes it.` : '';
    throw new HerdError('checkpoint_mismatch', `--${o.encoderFlag} ${o.encoderDir}: its config ${JSON.stringify(encoder.vision)} is not the ${o.preset} preset's (pick it with --preset).${patches}`);
  }
  const m = miniVisionConfig(loadLanguageCore().config, vision);
  const all = (await readSceneExamples(o.data, m))
    .filter((s) => s.scene !== undefined && (!o.cleanOnly || (s.noise ?? null) === null))
    .map((s) => ({ image: s.image, scene: s.scene!, split: s.split }));
  return { vision, ...(encoder ? { encoder } : {}), ...(resizedFrom !== undefined ? { resizedFrom } : {}), all, trainSplit: all.filter((s) => s.split === 'train'), heldout: all.filter((s) => s.split === 'heldout') };
}
