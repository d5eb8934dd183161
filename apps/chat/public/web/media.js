// Media decoded in the page for the in-browser mode, so a picture, a recording or a clip never
// leaves the browser: the browser's own decoders (createImageBitmap, Web Audio, <video>) turn the
// bytes into pixels and samples, and herd's code (the /web/herd.js bundle, passed in as `herd`) does
// everything the server does after its decoder: WAV reading, resampling, the clip frame rule.
//
// Where the page's decoder is not the server's (ffmpeg), numbers can differ slightly: a WAV is read
// by herd's own reader on both sides (bit-exact); Opus (WebM/Ogg recordings) is decoded at its
// native 48 kHz by the browser and resampled by herd (the codec's float output, very close); other
// compressed audio is decoded at 48 kHz by the browser first; clip frames come from the browser's
// H.264/VP9 decoder and its YUV→RGB conversion (a few levels off ffmpeg's, see page-browser-media.e2e).

/** Decodes an image file in the page (its bytes decide: a non-image fails here) → RGB. */
export async function decodeImageInPage(herd, file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error(`'${file.name}' is not an image this browser can decode`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { colorSpace: 'srgb' });
  ctx.drawImage(bitmap, 0, 0);
  const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  return herd.rgbaToRgb(data, bitmap.width, bitmap.height);
}

/** Audio file → mono float samples at `rate` Hz (herd.decodeAudioBytes with Web Audio for what is not WAV). */
export async function decodeAudioInPage(herd, file, rate, maxSeconds) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  return herd.decodeAudioBytes(bytes, file.name, rate, maxSeconds, async (b, format) => {
    // 48 kHz: Opus's own rate (no resampling by the browser); herd resamples to `rate`.
    const ctx = new OfflineAudioContext(1, 1, 48000);
    let buf;
    try {
      buf = await ctx.decodeAudioData(b.slice().buffer);
    } catch {
      throw new Error(`'${file.name}' (${format}) is not audio this browser can decode`);
    }
    return { sampleRate: buf.sampleRate, channels: Array.from({ length: buf.numberOfChannels }, (_, c) => buf.getChannelData(c)) };
  });
}

const once = (el, ok, timeoutMs, what) => new Promise((resolve, reject) => {
  const done = (f, v) => {
    clearTimeout(timer);
    el.removeEventListener(ok, onOk);
    el.removeEventListener('error', onError);
    f(v);
  };
  const onOk = () => done(resolve);
  const onError = () => done(reject, new Error(`${what}: this browser cannot decode it (${el.error?.message || `media error ${el.error?.code ?? '?'}`})`));
  const timer = setTimeout(() => done(reject, new Error(`${what}: no answer from the video decoder in ${timeoutMs / 1000} s`)), timeoutMs);
  el.addEventListener(ok, onOk);
  el.addEventListener('error', onError);
});

/**
 * `count` frames of a clip file as RGB ({data, width, height}, display size), the frames the server
 * samples: herd's rule (the centres of `count` equal segments, by frame number) on the MP4's own
 * frame count; each frame is shown by seeking a <video> to the middle of its display interval and
 * drawn to a canvas. A container without a frame count (WebM) is cut by time, which is the same
 * rule for a constant frame rate. Returns {frames, frameIndices (null when cut by time), duration}.
 */
export async function sampleClipInPage(herd, file, count, { timeoutMs = 30_000 } = {}) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const total = herd.sniffFormat(bytes) === 'mp4' ? herd.mp4VideoFrameCount(bytes) : undefined;
  const video = document.createElement('video');
  video.muted = true;
  video.preload = 'auto';
  const url = URL.createObjectURL(file);
  try {
    video.src = url;
    await once(video, 'loadeddata', timeoutMs, file.name);
    const D = video.duration;
    if (!(D > 0) || !Number.isFinite(D)) throw new Error(`${file.name}: the clip has no duration (${D})`);
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (!(w > 0 && h > 0)) throw new Error(`${file.name}: no video track (size ${w}×${h})`);
    const frameIndices = total ? herd.clipFrameIndices(total, count) : null;
    const times = frameIndices ? frameIndices.map((k) => ((k + 0.5) * D) / total) : Array.from({ length: count }, (_, i) => ((i + 0.5) * D) / count);
    const canvas = new OffscreenCanvas(w, h);
    const ctx = canvas.getContext('2d', { colorSpace: 'srgb', willReadFrequently: true });
    const frames = [];
    const seen = new Map();
    for (const t of times) {
      if (!seen.has(t)) {
        video.currentTime = t;
        await once(video, 'seeked', timeoutMs, file.name);
        ctx.drawImage(video, 0, 0, w, h);
        seen.set(t, herd.rgbaToRgb(ctx.getImageData(0, 0, w, h).data, w, h));
      }
      frames.push(seen.get(t));
    }
    return { frames, frameIndices, duration: D };
  } finally {
    video.removeAttribute('src');
    video.load();
    URL.revokeObjectURL(url);
  }
}
