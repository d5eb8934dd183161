/**
 * The image near-duplicate stage itself: `prepare` computes each image's signals, the observer keeps
 * them (`DedupStore`), and the decision verifies the candidate pairs (`./search.ts`) and groups them
 * (overview and the verification's rules: `./index.ts`).
 */
import { HerdError } from '@herd/core';
import { Components, starGroups, type FeatureObserver, type GlobalStage, type ObserverContext } from '@herd/data';
import { type RgbImage, decodeImage } from '@herd/media';
import { centreCrop } from '../../resize.js';
import { backgroundChroma, FINE_CROP_SCALES, FINE_CROP_SIDE, fineMatch, fineThumb, fitLayoutColour, layoutChromaDiff, layoutCosine, thumbBlockResidual, thumbCorrelation, viewSignals } from '../phash.js';
import { imageFileOf } from '../meta.js';
import { ANN_DEFAULTS, COLOUR_FIT, CROP_MAX_HAMMING, CROP_MIN_FINE_CORRELATION, CROP_MIN_LAYOUT_COSINE, CROP_MIN_THUMB_CORRELATION, defaultQuality, EXACT_LIMIT, LOCAL_CHROMA_POOL, MAX_ASPECT_LOG_DIFF, MAX_BACKGROUND_CHROMA_DIFF, MAX_BLOCK_RESIDUAL, MAX_CONTRAST_LOG_RATIO, MAX_HAMMING, MAX_LOCAL_CHROMA_DIFF, MIN_FINE_CORRELATION, MIN_LAYOUT_COSINE, MIN_THUMB_CORRELATION, type AnnParams, type NearDuplicateOptions } from './options.js';
import { annCosinePairs, annViewPairs, exactCosinePairs, exactViewPairs } from './search.js';
import { type DedupFeature, type DedupView, DedupStore } from './store.js';

function unit(v: ArrayLike<number>): number[] {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] as number) ** 2;
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  return Array.from(v, (x) => Number((x * inv).toFixed(6)));
}

export function nearDuplicate(options: NearDuplicateOptions = {}): GlobalStage<DedupFeature | null, Map<string, string>> {
  const mode = options.mode ?? 'hash';
  const maxHamming = options.maxHamming ?? MAX_HAMMING;
  const minLayout = options.minLayoutCosine ?? MIN_LAYOUT_COSINE;
  const minThumb = options.minThumbCorrelation ?? MIN_THUMB_CORRELATION;
  const cropScales = options.cropScales ?? [0.93, 0.89, 0.85];
  const cropMaxHamming = options.cropMaxHamming ?? CROP_MAX_HAMMING;
  const cropMinLayout = options.cropMinLayoutCosine ?? CROP_MIN_LAYOUT_COSINE;
  const cropMinThumb = options.cropMinThumbCorrelation ?? CROP_MIN_THUMB_CORRELATION;
  const maxAspect = options.maxAspectLogDiff ?? MAX_ASPECT_LOG_DIFF;
  const maxChroma = options.maxBackgroundChromaDiff ?? MAX_BACKGROUND_CHROMA_DIFF;
  const maxResidual = options.maxBlockResidual ?? MAX_BLOCK_RESIDUAL;
  const maxLocalChroma = options.maxLocalChromaDiff ?? MAX_LOCAL_CHROMA_DIFF;
  const chromaPool = options.localChromaPool ?? LOCAL_CHROMA_POOL;
  const cropMaxLocalChroma = options.cropMaxLocalChromaDiff ?? Infinity;
  const minFine = options.minFineCorrelation ?? MIN_FINE_CORRELATION;
  const cropMinFine = options.cropMinFineCorrelation ?? CROP_MIN_FINE_CORRELATION;
  const maxContrast = options.maxContrastLogRatio ?? MAX_CONTRAST_LOG_RATIO;
  const fineCropSide = options.fineCropSide ?? FINE_CROP_SIDE;
  const colourFit = options.colourFit ?? COLOUR_FIT;
  if (colourFit && !(colourFit.maxHueDeg >= 0 && colourFit.maxHueDeg < 90 && colourFit.maxGain >= 1 && Number.isFinite(colourFit.maxGain))) throw new HerdError('invalid_argument', `nearDuplicate: colourFit needs maxHueDeg in [0, 90) and a finite maxGain ≥ 1, got ${JSON.stringify(colourFit)}`);
  // How far the fit can move a background chroma c: |r·c − c| ≤ |r − 1|·|c|, largest at the clamp's corner.
  const fitSlack = colourFit ? Math.hypot(colourFit.maxGain * Math.cos((colourFit.maxHueDeg * Math.PI) / 180) - 1, colourFit.maxGain * Math.sin((colourFit.maxHueDeg * Math.PI) / 180)) : 0;
  if (!(Number.isInteger(fineCropSide) && fineCropSide >= 8 && fineCropSide <= 64)) throw new HerdError('invalid_argument', `nearDuplicate: fineCropSide must be an integer 8–64, got ${fineCropSide}`);
  const fineOn = minFine > 0 || cropMinFine > 0 || maxContrast < Infinity;
  if (!(Number.isInteger(chromaPool) && chromaPool >= 1 && chromaPool <= 16)) throw new HerdError('invalid_argument', `nearDuplicate: localChromaPool must be an integer 1–16, got ${chromaPool}`);
  const minCosine = options.minCosine ?? 0.9;
  const embLayout = options.embeddingMinLayoutCosine ?? 0;
  const exactLimit = options.exactLimit ?? EXACT_LIMIT;
  const ann: AnnParams = { ...ANN_DEFAULTS, ...options.ann };
  const quality = options.quality ?? defaultQuality;
  const grouping = options.grouping ?? 'star';
  if (grouping !== 'star' && grouping !== 'components') throw new HerdError('invalid_argument', `nearDuplicate: grouping must be "star" or "components", got ${JSON.stringify(grouping)}`);
  if (mode !== 'hash' && typeof options.embed !== 'function' && typeof options.embedImage !== 'function') throw new HerdError('invalid_argument', `nearDuplicate: ${mode} mode needs embed(sample) or embedImage(image)`);
  for (const s of cropScales) if (!(s > 0 && s < 1)) throw new HerdError('invalid_argument', `nearDuplicate: crop scale ${s} is not in (0, 1)`);
  const sameShape = (aspect: Float32Array, a: number, b: number): boolean => Number.isNaN(aspect[a]!) || Number.isNaN(aspect[b]!) || Math.abs(aspect[a]! - aspect[b]!) <= maxAspect;
  /** Candidates by the signals of `mode`, verified, union-find, one representative per component. */
  const duplicates = async (st: DedupStore): Promise<Map<string, string>> => {
    const n = st.keys.length;
    const aspect = st.aspects();
    let pairs: [number, number][] = [];
    if (mode !== 'embedding' && n > 0) {
      const candidates = n <= exactLimit ? exactViewPairs(st, maxHamming, cropMaxHamming, maxAspect) : await annViewPairs(st, maxHamming, cropMaxHamming, ann);
      // Grouped by the first sample, so its views are read from the spill file once.
      candidates.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
      for (const [a, b, v] of candidates) {
        if (!sameShape(aspect, a, b)) continue;
        // In memory, before the spill file is read; with the colour fit, a bound the fitted distance cannot beat.
        if (st.chromaDiff(a, v, b) - fitSlack * st.chromaNorm(a, v) > maxChroma) continue;
        const va = st.view(a, v);
        const vb = st.view(b, 0);
        // The colour checks compare a's layout after the per-pair colour fit (when on) with b's.
        const la = colourFit && va.layout && vb.layout ? fitLayoutColour(va.layout, vb.layout, colourFit.maxHueDeg, colourFit.maxGain) : va.layout;
        if (colourFit && la && vb.layout) {
          const ca = backgroundChroma(la);
          const cb = backgroundChroma(vb.layout);
          if (ca && cb && Math.hypot(ca[0] - cb[0], ca[1] - cb[1]) > maxChroma) continue;
        }
        const [layoutMin, thumbMin] = v === 0 ? [minLayout, minThumb] : [cropMinLayout, cropMinThumb];
        if (layoutMin > 0 && la && vb.layout && layoutCosine(la, vb.layout) < layoutMin) continue;
        if (thumbMin > 0 && va.thumb && vb.thumb && thumbCorrelation(va.thumb, vb.thumb) < thumbMin) continue;
        if (maxResidual < Infinity && va.thumb && vb.thumb && thumbBlockResidual(va.thumb, vb.thumb) > maxResidual) continue;
        const localMax = v === 0 ? maxLocalChroma : cropMaxLocalChroma;
        if (localMax < Infinity && la && vb.layout && layoutChromaDiff(la, vb.layout, 0.04, chromaPool) > localMax) continue;
        if (fineOn) {
          const fa = st.fine(a);
          const fb = st.fine(b);
          if (fa && fb) {
            const m = v === 0 ? fineMatch(fa, fb) : fineMatch(fa, fb, FINE_CROP_SCALES, fineCropSide);
            if (m.correlation < (v === 0 ? minFine : cropMinFine) || m.contrast > maxContrast) continue;
          }
        }
        pairs.push([a, b]);
      }
    }
    if (mode !== 'hash') {
      const { flat, dims } = st.embeddings();
      let emb = n <= exactLimit ? exactCosinePairs(flat, dims, minCosine) : await annCosinePairs(flat, dims, minCosine, ann);
      if (mode === 'both') {
        // The embedding proposes; the cheap shape (and optionally layout) checks verify.
        emb = emb.filter(([a, b]) => {
          if (!sameShape(aspect, a, b)) return false;
          if (embLayout <= 0) return true;
          const la = st.view(a).layout;
          const lb = st.view(b).layout;
          return la === undefined || lb === undefined || layoutCosine(la, lb) >= embLayout;
        });
      }
      pairs = pairs.concat(emb);
    }
    const q = st.qualities();
    const better = (a: number, b: number): boolean => q[a]! > q[b]! || (q[a] === q[b] && a < b);
    let keepOf: (i: number) => number;
    if (grouping === 'star') {
      const keep = starGroups(n, pairs, better);
      keepOf = (i) => keep[i]!;
    } else {
      const comps = new Components(n, better);
      for (const [a, b] of pairs) comps.union(a, b);
      keepOf = (i) => comps.find(i);
    }
    const drops = new Map<string, string>();
    for (let i = 0; i < n; i++) {
      const kept = keepOf(i);
      if (kept !== i) drops.set(st.keys[i] as string, `duplicate-of:${st.keys[kept]}`);
    }
    return drops;
  };
  const decideAll = async (st: DedupStore): Promise<Map<string, string>> => {
    try {
      return await duplicates(st);
    } finally {
      st.close();
    }
  };
  const b64 = (x: Int8Array | Uint8Array): string => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');
  const views = (img: RgbImage): DedupView => {
    const { hash, thumb, layout } = viewSignals(img);
    return { h: hash, l: b64(layout), t: b64(thumb) };
  };
  return {
    kind: 'global',
    name: options.name ?? 'near_duplicate',
    version: JSON.stringify([
      mode, maxHamming, minLayout, maxAspect, minCosine, exactLimit, ann, grouping,
      ...(mode === 'embedding' ? [] : [minThumb, cropScales, cropMaxHamming, cropMinLayout, cropMinThumb, maxChroma, ...(maxResidual < Infinity ? [`residual ${maxResidual}`] : []), ...(maxLocalChroma < Infinity ? [`local chroma ${maxLocalChroma}${chromaPool > 1 ? ` pool ${chromaPool}` : ''}`] : []), ...(cropMaxLocalChroma < Infinity ? [`crop local chroma ${cropMaxLocalChroma}`] : []), ...(fineOn ? [`fine ${minFine} crop ${cropMinFine} side ${fineCropSide} contrast ${maxContrast}`] : []), ...(colourFit ? [`colour fit ${colourFit.maxHueDeg} ${colourFit.maxGain}`] : [])]),
      ...(mode === 'hash' ? [] : [options.embedderId ?? 'unnamed', embLayout]),
    ]),
    async prepare(sample) {
      const q = quality(sample);
      if (mode === 'embedding' && options.embed) return { e: unit(await options.embed(sample)), q };
      const file = imageFileOf(sample);
      if (file === undefined) return null;
      let img: RgbImage;
      try {
        img = await decodeImage(file.bytes, { name: `${sample.key}.${file.ext}` });
      } catch {
        return null; // not an image this stage can judge; the quality filter drops undecodable ones
      }
      const f: DedupFeature = { q };
      if (mode !== 'hash') f.e = unit(options.embedImage ? await options.embedImage(img) : await (options.embed as NonNullable<NearDuplicateOptions['embed']>)(sample));
      // Shape and layout serve the embedding checks too.
      const whole = views(img);
      f.a = Number(Math.log(img.width / img.height).toFixed(5));
      f.l = whole.l;
      if (mode !== 'embedding') {
        f.h = whole.h;
        f.t = whole.t;
        if (cropScales.length > 0) f.c = cropScales.map((s) => views(centreCrop(img, s)));
        f.g = b64(fineThumb(img));
      }
      return f;
    },
    observe(ctx?: ObserverContext): FeatureObserver<DedupFeature | null, Map<string, string>> {
      // The spill file lives in the run's scratch folder when there is one: a killed run leaves it
      // there, and the resumed decision clears that folder before it starts again.
      const store = new DedupStore(options.spillDir ?? ctx?.scratchDir);
      return { add: (key, f) => store.add(key, f), finish: () => decideAll(store) };
    },
    ...(options.featuresPerPartition !== undefined ? { featuresPerPartition: options.featuresPerPartition } : {}),
    // The observer keeps what the decision needs; the runner need not load the JSON features again.
    decideNeedsFeatures: false,
    // Decisions come from the observer's compact arrays; the JSON features only need spreading.
    partitionBy: (f) => (f === null ? null : (f.h ?? String(f.e?.[0] ?? f.q))),
    async decide(features, observed) {
      let drops = observed;
      if (drops === undefined) {
        // Called directly (not by the runner): gather these features first.
        const store = new DedupStore(options.spillDir);
        for (const [key, f] of features) store.add(key, f);
        drops = await decideAll(store);
      }
      const mine = new Map<string, string>();
      for (const key of features.keys()) {
        const reason = drops.get(key);
        if (reason !== undefined) mine.set(key, reason);
      }
      return mine;
    },
  };
}
