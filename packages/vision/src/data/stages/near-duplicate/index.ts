/**
 * Perceptual de-duplication (Llama 3 paper §7.1.1; SPEC "Data curation"): near-identical images —
 * resized, re-encoded, cropped, colour-shifted copies — are found by nearest-neighbour search over a
 * 64-bit DCT perceptual hash (Hamming distance), verified, linked, grouped into connected components
 * (union-find), and one sample per component is kept: the highest quality score, then the earliest.
 * The rest are dropped as `duplicate-of:<kept key>`. Small sets are searched exactly (all pairs of
 * about the same aspect ratio); large ones with a usearch HNSW index (`ANN_DEFAULTS`, tested) over
 * each view's hash and its colour layout pooled to 4 × 4 cells (`layoutWeight`): the world's scenes
 * that differ only in colour share a pHash in buckets of hundreds, and the hash alone gave the k
 * nearest of a bucket at random. The index is built and searched on one thread, so a run's
 * decisions do not depend on thread scheduling.
 *
 * Two kinds of candidate pair, each verified before it links:
 * - whole image ↔ whole image: Hamming ≤ maxHamming, same aspect ratio, colour-layout cosine ≥
 *   minLayoutCosine (grey low frequencies alone confuse scenes that differ in a shape's colour), and
 *   the 32×32 grey thumbnails correlate ≥ minThumbCorrelation (pHash's 8×8 low frequencies cannot
 *   tell a small star from a small triangle, or one written word from another; the thumbnail can).
 * - centre crop ↔ whole image: every image is also hashed at a few centred crops (`cropScales`), so
 *   a cropped copy matches its source's crop at about its scale (a whole-image hash of a 10 % zoom
 *   moves most bits); verified the same way, crop against whole.
 * - both: the background's chroma (Cb/Y, Cr/Y of the border colour) must agree within
 *   maxBackgroundChromaDiff: the same objects on a cream, sky or white background pass every check
 *   above, and with many similar scenes such pairs are most of the false links.
 * - both, last (the fine check, round 10): the 64 × 64 grey thumbnails (`fineThumb`, one per sample)
 *   must correlate ≥ minFineCorrelation (whole pairs) or, with the whole image cropped at the best
 *   centre scale 0.83–0.955, ≥ cropMinFineCorrelation (crop pairs, compared at `fineCropSide`), and
 *   keep their contrast (|log std ratio| ≤ maxContrastLogRatio): small one-object scenes that differ
 *   in shape, one size step or a near hue pass the 32 × 32 checks and fail these.
 * - the colour checks (layout cosine, local chroma, background chroma) compare the two layouts after a per-pair
 *   colour fit (`colourFit`, round 11: one hue rotation and saturation gain, clamped), so a colour-jittered copy
 *   passes them; the grey checks are untouched by it.
 * Verified pairs are grouped as stars (`starGroups`: every dropped sample is linked to its group's
 * centre), not union-find components, which chain unrelated images as the set grows.
 * The thresholds were chosen on two labelled validation sets (1 500 and 8 000 images, seeds 2001 and
 * 6001; `bench/src/curate-dedup-eval.ts --sweep`) and scored on others (CURATION.md).
 *
 * Mode `both` also links a pair when the learned copy-detection embedding (`train/copy-detect.ts`)
 * calls it a copy (cosine, same aspect, optionally a colour-layout check); `embedding` uses only that.
 *
 * A global stage: `prepare` decodes once and computes the hashes, layouts and thumbnails; the runner
 * spills the features to disk; a streaming observer (`DedupStore`) keeps in memory only what the
 * search needs (key, quality, aspect, and per view its hash, background chroma and pooled colour
 * layout: ≈ 280 B per sample with three crop views, plus the key, and 4 B per embedding dimension in
 * the embedding modes; the HNSW path builds float vectors of 115 numbers per view for its index and
 * queries, ≈ 1.8 kB per sample while it runs) and appends the verification data (layouts, thumbnails and the
 * fine thumbnail: ≈ 11 kB per sample, 4 kB of it the fine one) to a temporary file it reads back only for candidate pairs; `decide` then sees the JSON
 * features one partition at a time.
 *
 * Files: `options.ts` (the options and their chosen defaults), `store.ts` (what the observer keeps, the
 * spill file), `search.ts` (candidate pairs: exact and HNSW), `stage.ts` (prepare, verify, group).
 */
export { Components } from '@herd/data';
export { nearDuplicate } from './stage.js';
export { DedupStore, type DedupFeature, type DedupView } from './store.js';
export { annCosinePairs, annCrossPairs, annViewPairs, exactCosinePairs, exactHashPairs, exactViewPairs } from './search.js';
export * from './options.js';
