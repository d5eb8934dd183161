// @herd/media: decoding at the edge. Images, audio and video become plain typed arrays here, with
// limits and errors that name the file; nothing above this package touches a codec.

// Inputs and sniffing
export { readSource } from './source.js';
export type { MediaInput, SourceBytes } from './source.js';
export { sniffFormat } from './sniff.js';
export type { ImageFormat, SniffedFormat } from './sniff.js';

// Images
export { decodeImage, readImageHeader, DECODABLE_IMAGE_FORMATS, DEFAULT_MAX_PIXELS, DEFAULT_MAX_IMAGE_BYTES } from './image/decode.js';
export type { DecodeImageOptions, ImageHeader, RgbImage, Rgb } from './image/decode.js';
export { resizeRgb, encodeRgb } from './image/resize.js';
export type { ResizeOptions } from './image/resize.js';
export { decodeBmp, encodeBmp, parseBmpHeader } from './image/bmp.js';
export type { BmpHeader } from './image/bmp.js';

// Audio
export { decodeAudio, DEFAULT_AUDIO_SAMPLE_RATE, DEFAULT_MAX_AUDIO_SECONDS } from './audio/decode.js';
export type { DecodeAudioOptions, DecodedAudio } from './audio/decode.js';
export { resample } from './audio/resample.js';
export { readWav, writeWav, encodeWav, decodeWav, parseWavHeader, wavDeclaredDuration, clampInt16, floatToInt16 } from './audio/wav.js';
export type { WavInfo, WavAudio } from './audio/wav.js';

// Video
export { probeVideo, sampleFrames, SEEK_MIN_SPACING } from './video/frames.js';
export type { VideoInfo, SampleFramesOptions, VideoFrames } from './video/frames.js';
export { mp4Duration, mp4VideoFrameCount } from './video/mp4.js';

// ffmpeg
export { resolveFfmpeg, resolveFfprobe } from './ffmpeg/resolve.js';
export type { ResolveToolOptions } from './ffmpeg/resolve.js';
export { runFfmpeg, runTool, DEFAULT_FFMPEG_TIMEOUT_MS } from './ffmpeg/process.js';
export type { ToolCallOptions, ToolResult } from './ffmpeg/process.js';
export { probeMedia } from './ffmpeg/probe.js';
export type { MediaCallOptions, MediaProbe, MediaStreamInfo } from './ffmpeg/probe.js';
