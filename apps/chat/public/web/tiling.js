// Image → tiles in the page, as an export's manifest (modalities.vision.recipe.preprocess) says and as
// @herd/vision's tileImage does it: best canvas of tiles, Pillow's antialiased BILINEAR resize (22-bit
// fixed point, horizontal then vertical pass), black padding, normalisation, row-major tiles.
// A port for a page without a build step; src/web-engine.test.ts checks it gives herd's pixels.

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const taps = new Int32Array(outSize);
  const weights = new Float64Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < n; x++) {
      const a = Math.abs((x + xmin - center + 0.5) / filterScale);
      k[x] = a < 1 ? 1 - a : 0;
      sum += k[x];
    }
    start[xx] = xmin;
    taps[xx] = n;
    for (let x = 0; x < n; x++) {
      const w = sum !== 0 ? k[x] / sum : k[x];
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
  }
  return { ksize, start, taps, weights };
}

const clip8 = (acc) => Math.min(255, Math.max(0, Math.floor(acc / ONE)));

function pass(src, w, h, out, horizontal) {
  const c = coefficients(horizontal ? w : h, out);
  const ow = horizontal ? out : w;
  const oh = horizontal ? h : out;
  const dst = new Uint8Array(ow * oh * 3);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const o = horizontal ? x : y;
      const s = c.start[o];
      const n = c.taps[o];
      let r = HALF, g = HALF, b = HALF;
      for (let t = 0; t < n; t++) {
        const wt = c.weights[o * c.ksize + t];
        const i = horizontal ? (y * w + s + t) * 3 : ((s + t) * w + x) * 3;
        r += src[i] * wt;
        g += src[i + 1] * wt;
        b += src[i + 2] * wt;
      }
      const d = (y * ow + x) * 3;
      dst[d] = clip8(r);
      dst[d + 1] = clip8(g);
      dst[d + 2] = clip8(b);
    }
  }
  return dst;
}

/** {data: RGB bytes, width, height} → resized the way Pillow's BILINEAR does. */
export function resizeBilinear(img, width, height) {
  let data = img.data;
  if (width !== img.width) data = pass(data, img.width, img.height, width, true);
  if (height !== img.height) data = pass(data, width, img.height, height, false);
  return { data, width, height };
}

export function optimalCanvas(height, width, tileSize, arrangements) {
  const scales = arrangements.map(([r, c]) => Math.min((c * tileSize) / width, (r * tileSize) / height));
  const up = scales.filter((s) => s >= 1);
  const chosen = up.length > 0 ? Math.min(...up) : Math.max(...scales);
  let best = -1;
  for (let i = 0; i < arrangements.length; i++) {
    if (scales[i] !== chosen) continue;
    const [r, c] = arrangements[i];
    if (best < 0 || r * c < arrangements[best][0] * arrangements[best][1]) best = i;
  }
  return { rows: arrangements[best][0], cols: arrangements[best][1] };
}

export function fitToCanvas(height, width, canvasHeight, canvasWidth, tileSize) {
  const targetW = Math.min(Math.max(width, tileSize), canvasWidth);
  const targetH = Math.min(Math.max(height, tileSize), canvasHeight);
  const scaleH = targetH / height;
  const scaleW = targetW / width;
  if (scaleW < scaleH) return { width: targetW, height: Math.min(Math.floor(height * scaleW), targetH) };
  return { height: targetH, width: Math.min(Math.floor(width * scaleH), targetW) };
}

/** RGB image → {pixels [maxTiles, 3, S, S], aspectRatioId, tileMask [maxTiles], nTiles}. */
export function tileImage(img, pre, maxTiles) {
  const S = pre.tileSize;
  const canvas = optimalCanvas(img.height, img.width, S, pre.supportedAspectRatios);
  const id = pre.supportedAspectRatios.findIndex(([r, c]) => r === canvas.rows && c === canvas.cols) + 1;
  const H = canvas.rows * S;
  const W = canvas.cols * S;
  const size = fitToCanvas(img.height, img.width, H, W, S);
  const resized = resizeBilinear(img, size.width, size.height);
  const nTiles = canvas.rows * canvas.cols;
  const pixels = new Float32Array(maxTiles * 3 * S * S);
  const pad = [0, 1, 2].map((ch) => (0 - pre.imageMean[ch]) / pre.imageStd[ch]);
  for (let y = 0; y < H; y++) {
    const tr = Math.floor(y / S);
    const ty = y % S;
    for (let x = 0; x < W; x++) {
      const tile = tr * canvas.cols + Math.floor(x / S);
      const tx = x % S;
      const inside = y < resized.height && x < resized.width;
      for (let ch = 0; ch < 3; ch++) {
        pixels[((tile * 3 + ch) * S + ty) * S + tx] = inside ? (resized.data[(y * resized.width + x) * 3 + ch] / 255 - pre.imageMean[ch]) / pre.imageStd[ch] : pad[ch];
      }
    }
  }
  const tileMask = new Uint8Array(maxTiles);
  tileMask.fill(1, 0, nTiles);
  return { pixels, aspectRatioId: id, tileMask, nTiles };
}

/** RGBA (ImageData, not premultiplied) → RGB, alpha flattened onto white as the server's decoder does. */
export function rgbaToRgb(rgba, width, height) {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height * 4; i += 4, j += 3) {
    const a = rgba[i + 3];
    for (let ch = 0; ch < 3; ch++) data[j + ch] = a === 255 ? rgba[i + ch] : Math.round((rgba[i + ch] * a + 255 * (255 - a)) / 255);
  }
  return { data, width, height };
}
