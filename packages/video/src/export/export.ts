/**
 * The video part of an export (llama3's `ExportModality`), beside the vision part it sits on:
 * - `video.frames.onnx`: a clip's F sampled frames through the frozen image encoder + projector →
 *   frame features [F, S, D], and the image adapter's keys/values of the middle frame (what the image
 *   cross-attention layers see of a clip) — `buildFrameGraph`;
 * - `video.aggregator.onnx`: the temporal aggregator (perceiver resampler), features → video tokens
 *   [1, V, D], once per clip — `buildVideoTokensGraph`;
 * - inside the decoder: the gated video cross-attention layers (`videoExtension(…, 'tokens')`), each
 *   acting before its image cross-attention layer at the same core layer, so in the composed decoder
 *   the video part must come BEFORE the vision part (pass it first to `buildExport`). The decoder takes
 *   any number of video tokens (several clips side by side; the mask says which rows see which clip).
 * Rows with no video (video.mask all false) are left unchanged: text-only and image turns feed zeros.
 *
 * Legend: F frames, N tile slots, P tokens per tile, S = N·P image tokens per frame, V video tokens,
 * D core width.
 */
import { type ExportModality } from '@herd/llama3';
import { type VisionWeights, patchesPerTile } from '@herd/vision';
import { HerdError } from '@herd/core';
import { type ClipSampling, effectiveFrames, videoTokenCount } from '../config.js';
import { type VideoModelConfig, buildFrameGraph, buildVideoTokensGraph, frameTokens, middleFrame, videoExtension } from '../model/graphs.js';

/** `vision`: the frozen image encoder + adapter the clip's frames go through; `video`: the video group. */
export function videoExportModality(m: VideoModelConfig, clip: ClipSampling, vision: VisionWeights, video: VisionWeights): ExportModality {
  // The look input needs a second image checkpoint's frame graph and a one-clip decoder: not part of the export (yet).
  if (m.video.look) throw new HerdError('invalid_argument', 'video export: this video checkpoint has a second feature input (look, `herd video train --look-vision`), which the export does not carry; export one trained without it');
  const S = frameTokens(m.image);
  const V = videoTokenCount(m.video, clip, S);
  return {
    name: 'video',
    extension: videoExtension(m, clip, 'tokens'),
    weights: video,
    graphs: { frames: buildFrameGraph(m.image, vision, clip.frames), aggregator: buildVideoTokensGraph(m, clip, video) },
    recipe: {
      frames: clip.frames,
      groupFrames: clip.groupFrames,
      effectiveFrames: effectiveFrames(clip),
      middleFrame: middleFrame(clip.frames),
      tokensPerFrame: S,
      tokensPerTile: patchesPerTile(m.image.vision),
      videoTokens: V,
      imageTokenId: m.image.imageTokenId,
      composeBefore: 'vision',
      preprocess: {
        text: [
          'Decode `frames` frames spread over the clip: with n frames in the clip, frame i (0-based) is frame number min(n − 1, ⌊(i + 0.5)·n / frames⌋), 8-bit RGB.',
          'Tile each frame exactly as modalities.vision.recipe.preprocess says for an image: pixels [frames, maxTiles, 3, tileSize, tileSize], aspectRatioIds [frames] (1-based), tileMask [frames, maxTiles].',
          'Run video.frames: features [frames, S, D] and xattn.k/v.{adapterLayer} [1, K, S, Dh] of the middle frame. herd rounds features to float16 and back here (it caches them in f16); do the same for token-exact answers.',
          'Run video.aggregator with video.frames = features as [1, frames, S, D] and video.frameMask [1, S] = true for the first nTiles·tokensPerTile tokens (nTiles: real tiles of a frame): video.tokens [1, videoTokens, D].',
        ],
      },
      decoderInputs: {
        tokens: 'video.tokens',
        mask: 'video.mask',
        text: [
          'Prompt (as `herd generate --video`): the clip is one imageTokenId at the start of its user turn, like one image. The image layers get the middle frame\'s xattn.k/v (S = tokensPerFrame) and xattn.mask as for one image with nTiles real tiles.',
          'Several clips: video.tokens [1, clips·videoTokens, D], the clips\' tokens side by side in prompt order.',
          'video.mask [1, 1, T, clips·videoTokens] bool: a row is true on clip c\'s columns [c·videoTokens, (c+1)·videoTokens) where its xattn.mask row has any true in clip c\'s slot (its middle frame), else false.',
          'No clip: video.tokens zeros [1, videoTokens, D] and video.mask all false (rows unchanged).',
        ],
      },
      idle: { 'video.tokens': 0, 'video.mask': false },
    },
  };
}
