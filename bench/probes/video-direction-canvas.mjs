// Round 38: are the video adapter's wrong direction answers tied to the clip's tile canvas? Reads `herd video eval
// --answers` files and the clips dataset's index (each clip's size), tiles each clip's size as the image model does
// (`optimalCanvas` with its config's tile size and aspect ratios) and tallies the direction answers by canvas
// (rows × cols) and by one vs several moving shapes, summed over the answer files given.
// Why: `tokenPlaces` lays a frame's tiles out as the squarest canvas (2 × 2 for the mini image model), since the frame
// features do not carry the canvas: a tall clip's second tile (2 × 1) is placed to the right of its first, so a shape
// moving down across the tiles reads as moving right in the place term.
// Usage (built repo, from the repo root): node bench/probes/video-direction-canvas.mjs CLIPS_DIR ANSWERS.jsonl [ANSWERS.jsonl …]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readIndex } from '@herd/data';
import { MINI_VIDEO_IMAGE_DIR } from '@herd/video';
import { optimalCanvas } from '@herd/vision';

const [clipsDir, ...answerFiles] = process.argv.slice(2);
if (!clipsDir || answerFiles.length === 0) throw new Error('usage: node bench/probes/video-direction-canvas.mjs CLIPS_DIR ANSWERS.jsonl [ANSWERS.jsonl …]');
const vision = JSON.parse(readFileSync(join(MINI_VIDEO_IMAGE_DIR, 'config.json'), 'utf8')).vision;
const clips = new Map();
for await (const e of readIndex(clipsDir)) clips.set(e.key, e.meta);

const tally = new Map(); // "2×1, several movers" → [wrong, all]
const canvases = new Map();
for (const file of answerFiles) {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const a = JSON.parse(line);
    if (a.type !== 'direction') continue;
    const meta = clips.get(a.clip);
    if (!meta) throw new Error(`${file}: clip '${a.clip}' is not in ${clipsDir}`);
    const { rows, cols } = optimalCanvas(meta.height, meta.width, vision.tileSize, vision.supportedAspectRatios);
    const movers = meta.objects.filter((o) => o.motion.kind === 'move').length;
    const key = `${rows}×${cols}, ${movers > 1 ? 'several movers' : 'one mover'}`;
    const t = tally.get(key) ?? [0, 0];
    tally.set(key, [t[0] + (a.hits.video ? 0 : 1), t[1] + 1]);
    canvases.set(`${rows}×${cols}`, (canvases.get(`${rows}×${cols}`) ?? 0) + 1);
  }
}
console.log(`direction answers of ${answerFiles.length} file(s) by canvas (tile ${vision.tileSize} px): wrong / asked`);
for (const [k, [bad, n]] of [...tally].sort()) console.log(`  ${k}: ${bad} / ${n} (${((100 * bad) / n).toFixed(1)}% wrong)`);
console.log('items by canvas:', JSON.stringify(Object.fromEntries(canvases)));
