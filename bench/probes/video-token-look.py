# Round 21 (reel21): can a text row find the asked shape among the object-motion tokens by its look?
# For every moving shape of every clip (its track in the clips' index), the object-motion token's look at the shape's
# place in each half clip — the half's mean frame feature minus the clip's mean frame (`motionTokens`, without the
# place term) — or, with --raw, the half's mean frame feature itself. A ridge probe (train clips → held-out clips,
# whose colour × shape pairs were never trained on) reads colour and shape from it; on held-out clips with two moving
# shapes, it asks whether the named (colour, shape) scores higher at its own shape's token than at the other's — what
# a look-up by name can do with a linear read. Python 3 + numpy; no model run.
# Usage: python3 bench/probes/video-token-look.py FEATURES_DIR CLIPS_DIR [--raw]
#   FEATURES_DIR: the feature cache `herd video train` writes (features-<sha>-<clips>, 8 frames, mini image model);
#   CLIPS_DIR: the clips dataset it was made from (index.jsonl holds the tracks).
import json, sys, tarfile
import numpy as np

args = [a for a in sys.argv[1:] if not a.startswith('--')]
if len(args) != 2:
    sys.exit('usage: python3 bench/probes/video-token-look.py FEATURES_DIR CLIPS_DIR [--raw]')
features_dir, clips_dir = args
RAW = '--raw' in sys.argv
F, E = 8, 2  # frames sampled, effective frames (the fine-tuning sampling: 8 frames merged 4 → 1)
TILE, SIDE = 48, 6  # the mini image model: 48-px tiles of 8-px patches, 2 × 2 canvas
P = SIDE * SIDE + 1  # tokens per tile (a class token first)
S = 4 * P

SPEED_RATE = {'slow': 0.12, 'fast': 0.4}  # canvas fractions per second (@herd/datasets SPEED_RATE)

def place_token(x, y, w, h):
    """The patch token over pixel (x, y) of a w × h frame on the 2 × 2 canvas (every clip of 64–112 px gets it), resized
    as `tileImage` does (`fitToCanvas`: each side clamped to [48, 96] px, so a side under 96 px is NOT scaled up; the
    smaller of the two scales wins), tiles row by row (`tokenPlaces`). Until round 25 this scaled every clip up to
    fill the canvas, which misplaced the token on the 759 of 800 clips with a side under 96 px."""
    s = min(min(max(w, TILE), 2 * TILE) / w, min(max(h, TILE), 2 * TILE) / h)
    X, Y = min(x * s, 2 * TILE - 0.1), min(y * s, 2 * TILE - 0.1)
    return (int(Y // TILE) * 2 + int(X // TILE)) * P + 1 + int((Y % TILE) // 8) * SIDE + int((X % TILE) // 8)

def mover_at(tr, o, k, meta):
    """A moving shape's centre (pixels) at clip frame k: from its start at SPEED_RATE, stopping at the margin
    (`positionAt`; until round 25 a straight line from the track's first to last point, which misses the stop)."""
    d = SPEED_RATE[o['motion']['speed']] * k / meta['fps']
    x, y, r, W, H = tr['first']['x'], tr['first']['y'], tr['radius'], meta['width'], meta['height']
    way = o['motion']['direction']
    if way == 'right': x = min(W - r, x + d * W)
    elif way == 'left': x = max(r, x - d * W)
    elif way == 'down': y = min(H - r, y + d * H)
    else: y = max(r, y - d * H)
    return x, y

clips = {}
for line in open(f'{clips_dir}/index.jsonl'):
    r = json.loads(line)
    clips[r['key']] = r['meta']
manifest = json.load(open(f'{features_dir}/manifest.json'))
rows, ranks = [], []  # rows: (split, key, colour, shape, half, vector, moving shapes)
for shard in manifest['shards']:
    t = tarfile.open(f"{features_dir}/{shard['file']}")
    members = {m.name: m for m in t.getmembers()}
    for name in members:
        if not name.endswith('.json'):
            continue
        key = name[:-5]
        meta = clips[key]
        movers = [o for o in meta['objects'] if o['motion']['kind'] == 'move']
        if not movers:
            continue
        f = np.frombuffer(t.extractfile(members[key + '.features']).read(), dtype=np.float16).astype(np.float32)
        D = f.size // (F * S)
        f = f.reshape(F, S, D)
        half = f.reshape(E, F // E, S, D).mean(1)
        look = half - f.mean(0, keepdims=True)
        norms = np.linalg.norm(look, axis=2)
        split = json.loads(t.extractfile(members[name]).read())['split']
        for tr in meta['tracks']:
            o = next((o for o in movers if o['shape'] == tr['shape'] and o['colour'] == tr['colour']), None)
            if o is None:
                continue
            for e in range(E):
                # Where the shape is, averaged over the half's sampled frames (segment centres, as `sampleFrames` takes them).
                ks = [min(meta['frames'] - 1, int((i + 0.5) * meta['frames'] / F)) for i in range(e * F // E, (e + 1) * F // E)]
                xy = np.mean([mover_at(tr, o, k, meta) for k in ks], 0)
                p = place_token(xy[0], xy[1], meta['width'], meta['height'])
                rows.append((split, key, tr['colour'], tr['shape'], e, (half if RAW else look)[e, p].copy(), len(movers)))
                ranks.append(int((norms[e] > norms[e, p]).sum()))
X = np.stack([r[5] for r in rows])
split = np.array([r[0] for r in rows])
train, held = split == 'train', split != 'train'
print(f"{'half-mean frame features' if RAW else 'object-motion token looks'}: {len(rows)} shape-half tokens ({train.sum()} train, {held.sum()} held-out); "
      f'the change at the shape\'s token ranks {np.median(ranks):.0f} (median) among the {S} tokens (a check of the place)')

def probe(labels, what):
    classes = sorted(set(labels))
    y = np.array([classes.index(c) for c in labels])
    mu, sd = X[train].mean(0), X[train].std(0) + 1e-6
    Z = (X - mu) / sd
    W = np.linalg.solve(Z[train].T @ Z[train] + 50 * np.eye(Z.shape[1]), Z[train].T @ np.eye(len(classes))[y[train]])
    scores = Z @ W
    pred = scores.argmax(1)
    print(f'{what}: train {np.mean(pred[train] == y[train]):.2f}, held-out {np.mean(pred[held] == y[held]):.2f} '
          f'({len(classes)} classes, held-out majority {np.bincount(y[held]).max() / held.sum():.2f})')
    return scores, classes

colour, colours = probe([r[2] for r in rows], 'colour (ridge)')
shape, shapes = probe([r[3] for r in rows], 'shape (ridge)')
pairs = {}
for i, r in enumerate(rows):
    if r[0] != 'train' and r[6] == 2:
        pairs.setdefault((r[1], r[4]), []).append(i)
both = own = by_colour = 0
for ii in pairs.values():
    if len(ii) != 2:
        continue
    for a, b in ((ii[0], ii[1]), (ii[1], ii[0])):
        c, s = colours.index(rows[a][2]), shapes.index(rows[a][3])
        own += colour[a, c] + shape[a, s] > colour[b, c] + shape[b, s]
        by_colour += colour[a, c] > colour[b, c]
        both += 1
print(f'held-out two-mover clips: the named (colour, shape) scores higher at its own shape\'s token than at the other\'s: {own}/{both} (colour alone {by_colour}/{both})')
