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
