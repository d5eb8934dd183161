// @herd/video — video understanding on top of the image model (Llama 3 paper §7.6 / SPEC.md "Video"):
// frames sampled through @herd/media, a temporal aggregator (perceiver resampler) and video
// cross-attention layers trained with the core, the image encoder and the image adapter frozen.
// Model, training, evals and curation stages land here; see README.md for what exists.
export const VIDEO_PACKAGE = '@herd/video';
