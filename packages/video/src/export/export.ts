/**
 * The video part of an export (llama3's `ExportModality`): the video model exactly as it is evaluated
 * alone — the image model it was trained on (frozen image encoder + image cross-attention layers)
 * plus its video layers — self-contained, so it sits beside any vision part in one decoder:
 * - `video.frames.onnx`: a clip's F sampled frames through its own frozen image encoder + projector →
 *   frame features [F, S, D], and its own image layers' keys/values of the middle frame
 *   (`video.image.xattn.k/v.{j}`) — `buildFrameGraph`;
 * - `video.aggregator.onnx`: the temporal aggregator (perceiver resampler), features → video tokens
 *   [1, V, D], once per clip — `buildVideoTokensGraph`;
 * - inside the decoder: the gated video cross-attention layers (`videoExtension(…, 'tokens')`), then
 *   its own image cross-attention layers under the prefix `video.image.` (parameters and inputs,
 *   `prefixedExtension`), as `videoModelSpec` composes them; the vision part's image layers (the
 *   vision checkpoint's, answering images) are another set beside them. The decoder takes any number
 *   of video tokens (several clips side by side; the mask says which rows see which clip).
 * Rows with no clip (video.mask and video.image.xattn.mask all false) are left unchanged.
 *
 * Legend: F frames, N tile slots, P tokens per tile, S = N·P image tokens per frame, V video tokens,
 * D core width.
 */
import { type ExportModality, composeExtensions, prefixedExtension, prefixedValues } from '@herd/llama3';
import { type ImageLayersSource, type VisionWeights, adapterParamSpecs, imageLayersRecipe, isPlaceParam, patchesPerTile, visionExtension } from '@herd/vision';
import { HerdError } from '@herd/core';
import { type ClipSampling, effectiveFrames, videoTokenCount } from '../config.js';
import { type VideoModelConfig, buildFrameGraph, buildVideoTokensGraph, frameTokens, middleFrame, videoExtension } from '../model/graphs.js';

/** The prefix of the video model's own image layers in a composed decoder: parameters, decoder inputs, frame-graph outputs. */
export const VIDEO_IMAGE_PREFIX = 'video.image.';

/** `vision`: the frozen image encoder + adapter the video model was trained on (its frames go through it; `imageSource`: that checkpoint, recorded when given); `video`: the video group. */
export function videoExportModality(m: VideoModelConfig, clip: ClipSampling, vision: VisionWeights, video: VisionWeights, imageSource?: ImageLayersSource): ExportModality {
  // The look input needs a second image checkpoint's frame graph and a one-clip decoder: not part of the export (yet).
  if (m.video.look) throw new HerdError('invalid_argument', 'video export: this video checkpoint has a second feature input (look, `herd video train --look-vision`), which the export does not carry; export one trained without it');
  const S = frameTokens(m.image);
  const V = videoTokenCount(m.video, clip, S);
  const adapterNames = new Set(adapterParamSpecs(m.image).filter((x) => !x.name.startsWith('multi_modal_projector') && !isPlaceParam(x.name)).map((x) => x.name));
  const imageAdapter = Object.fromEntries(Object.entries(vision).filter(([n]) => adapterNames.has(n)));
  const { idle: imageIdle, ...image } = imageLayersRecipe(m.image, VIDEO_IMAGE_PREFIX, 'clips', imageSource);
  return {
    name: 'video',
    // As videoModelSpec: the video layer acts first at a shared core layer, then the image layer ('SC': the clips' middle frames' image tokens).
    extension: composeExtensions(videoExtension(m, clip, 'tokens'), prefixedExtension(visionExtension(m.image, 'SC'), VIDEO_IMAGE_PREFIX)),
    weights: { ...video, ...prefixedValues(imageAdapter, VIDEO_IMAGE_PREFIX) },
    graphs: { frames: buildFrameGraph(m.image, vision, clip.frames, VIDEO_IMAGE_PREFIX), aggregator: buildVideoTokensGraph(m, clip, video) },
    recipe: {
      frames: clip.frames,
      groupFrames: clip.groupFrames,
      effectiveFrames: effectiveFrames(clip),
      middleFrame: middleFrame(clip.frames),
      tokensPerFrame: S,
      tokensPerTile: patchesPerTile(m.image.vision),
      videoTokens: V,
      imageTokenId: m.image.imageTokenId,
      // Each clip's canvas places its frame tokens (video config frameLayout): the aggregator then takes video.aspectRatioId.
      ...(m.video.frameLayout === 'canvas' ? { frameLayout: 'canvas' } : {}),
      // The video model's own image layers: how its frames are tiled and how its middle frame's keys/values are fed.
      image,
      preprocess: {
        text: [
          'Decode `frames` frames spread over the clip: with n frames in the clip, frame i (0-based) is frame number min(n − 1, ⌊(i + 0.5)·n / frames⌋), 8-bit RGB.',
          'Tile each frame exactly as image.preprocess (this recipe\'s) says for an image: pixels [frames, maxTiles, 3, tileSize, tileSize], aspectRatioIds [frames] (1-based), tileMask [frames, maxTiles].',
          'Run video.frames: features [frames, S, D] and video.image.xattn.k/v.{adapterLayer} [1, K, S, Dh] of the middle frame. herd rounds features to float16 and back here (it caches them in f16); do the same for token-exact answers.',
          `Run video.aggregator with video.frames = features as [1, frames, S, D] and video.frameMask [1, S] = true for the first nTiles·tokensPerTile tokens (nTiles: real tiles of a frame)${m.video.frameLayout === 'canvas' ? ' and video.aspectRatioId [1] int32 = the frames\' aspect-ratio id (frameLayout \'canvas\')' : ''}: video.tokens [1, videoTokens, D].`,
        ],
      },
      decoderInputs: {
        tokens: 'video.tokens',
        mask: 'video.mask',
        text: [
          'Prompt (as `herd generate --video`): the clip is one imageTokenId at the start of its user turn, like one image. The video model\'s own image layers (image.decoderInputs: video.image.xattn.k/v, video.image.xattn.mask, video.image.learnableIds) get the clips\' middle frames, fed as image.decoderInputs says with the clips as its images (S = clips × tokensPerFrame); images of the prompt go to the vision part\'s layers instead.',
          'Several clips: video.tokens [1, clips·videoTokens, D], the clips\' tokens side by side in prompt order.',
          'video.mask [1, 1, T, clips·videoTokens] bool: a row is true on clip c\'s columns [c·videoTokens, (c+1)·videoTokens) where its video.image.xattn.mask row has any true in clip c\'s slot (its middle frame), else false.',
          'No clip: video.tokens zeros [1, videoTokens, D], video.mask all false and the image inputs idle (rows unchanged).',
        ],
      },
      idle: { 'video.tokens': 0, 'video.mask': false, ...imageIdle },
    },
  };
}
