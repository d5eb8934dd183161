"""Probes of the image tokens a vision checkpoint's adapter reads (dumped by vision-tokens.mjs): does each stage
— (a) the encoder's output features, (b) the projected tokens, (c) each cross-attention layer's keys and values —
carry where a patch is (its 3x3 grid cell, row, column; its x / y on the 12x12 patch canvas) and where a one-object
scene's object is (5-way position from the mean of its ink tokens, or of all tokens: what a query that reads ink /
reads everything would get)? Linear read-outs (softmax regression, ridge R^2) fitted on train-split scenes, scored
on held-out scenes.
    python3 bench/probes/vision-tokens.py DUMP_DIR [TRAIN_SCENES=600]
"""
import json, sys
import numpy as np

from vision_dump import read_vision_dump

d = sys.argv[1]
n_train = int(sys.argv[2]) if len(sys.argv) > 2 else 600
meta, scenes, X, cells, ink, W = read_vision_dump(d)
S = len(scenes)
N, P, Dv = meta['featureShape']
t = meta['text']
dh = t['dim'] // t['nHeads']
K = t['nKvHeads']
for k in sorted(W):
    if k.endswith('gate'):
        print(f'{k} = {W[k].ravel()[0]:.4f} (tanh {np.tanh(W[k].ravel()[0]):.4f})')

proj = X @ W['multi_modal_projector.weight'].T + W['multi_modal_projector.bias']
stages = {'encoder': X, 'projected': proj}
for c in meta['crossAttentionLayers']:
    pre = f'language_model.model.layers.{c}.cross_attn'
    k = (proj @ W[f'{pre}.k_proj.weight'].T).reshape(S, N * P, K, dh)
    k = k / np.sqrt((k ** 2).mean(-1, keepdims=True) + t['normEps']) * W[f'{pre}.k_norm.weight']
    stages[f'k{c}'] = k.reshape(S, N * P, K * dh)
    stages[f'v{c}'] = proj @ W[f'{pre}.v_proj.weight'].T

split = np.array([s['split'] for s in scenes])
tr_idx = np.where(split == 'train')[0][:n_train]
te_idx = np.where(split == 'heldout')[0]
g = int(round(np.sqrt(P - 1)))
tok = np.arange(N * P)
tile, within = tok // P, tok % P - 1
cols = 2  # a square image is a 2x2 canvas
px = np.where(within >= 0, (tile % cols) * g + within % g, -1)
py = np.where(within >= 0, (tile // cols) * g + within // g, -1)


def softmax_probe(xtr, ytr, xte, yte, classes, iters=300, lr=0.05, l2=1e-3):
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    xtr = np.hstack([xtr, np.ones((len(xtr), 1))]); xte = np.hstack([xte, np.ones((len(xte), 1))])
    w = np.zeros((xtr.shape[1], classes)); m = np.zeros_like(w); v = np.zeros_like(w)
    Y = np.eye(classes)[ytr]
    for i in range(1, iters + 1):
        z = xtr @ w; z -= z.max(1, keepdims=True); p = np.exp(z); p /= p.sum(1, keepdims=True)
        gr = xtr.T @ (p - Y) / len(xtr) + l2 * w
        m = 0.9 * m + 0.1 * gr; v = 0.999 * v + 0.001 * gr * gr
        w -= lr * (m / (1 - 0.9 ** i)) / (np.sqrt(v / (1 - 0.999 ** i)) + 1e-8)
    return (np.argmax(xtr @ w, 1) == ytr).mean(), (np.argmax(xte @ w, 1) == yte).mean()


def ridge_r2(xtr, ytr, xte, yte, lam=1.0):
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    a, b = (xtr - mu) / sd, (xte - mu) / sd
    ym = ytr.mean()
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (ytr - ym))
    pred = b @ w + ym
    return 1 - ((pred - yte) ** 2).sum() / ((yte - yte.mean()) ** 2).sum()


def tokens(idx, stage, only_ink):
    sel = (cells[idx] >= 0) & ((ink[idx] >= 0.15) if only_ink else True)
    si, ti = np.nonzero(sel)
    return stages[stage][idx][si, ti], cells[idx][si, ti].astype(int), px[ti], py[ti]


print(f'{len(tr_idx)} train / {len(te_idx)} held-out scenes; tokens {N}x{P}; arid {set(s["aspectRatioId"] for s in scenes)}; nTiles {set(s["nTiles"] for s in scenes)}; resized {set((s["resized"]["width"], s["resized"]["height"]) for s in scenes)}')
print('\nper-token probes (held-out accuracy / R^2):')
print(f'{"stage":10} {"tokens":5} {"cell9":>6} {"row3":>6} {"col3":>6} {"R2 x":>6} {"R2 y":>6}')
sub = tr_idx[:200]
for stage in stages:
    for only_ink in (False, True):
        a, ca, xa, ya = tokens(sub, stage, only_ink)
        b, cb, xb, yb = tokens(te_idx, stage, only_ink)
        cell9 = softmax_probe(a, ca, b, cb, 9)[1]
        row3 = softmax_probe(a, ca // 3, b, cb // 3, 3)[1]
        col3 = softmax_probe(a, ca % 3, b, cb % 3, 3)[1]
        print(f'{stage:10} {"ink" if only_ink else "all":5} {cell9:6.3f} {row3:6.3f} {col3:6.3f} {ridge_r2(a, xa, b, xb):6.3f} {ridge_r2(a, ya, b, yb):6.3f}')

POS = ['left', 'right', 'top', 'bottom', 'centre']
one = np.array([len(s['objects']) == 1 for s in scenes])
lab = np.array([POS.index(s['objects'][0]['position']) if len(s['objects']) == 1 else -1 for s in scenes])
otr = np.where(one & (split == 'train'))[0]
ote = np.where(one & (split == 'heldout'))[0]
print(f'\none-object scenes: {len(otr)} train / {len(ote)} held-out; held-out by position {np.bincount(lab[ote], minlength=5).tolist()}')
print('scene-level 5-way position from the mean of ink tokens / of all patch tokens (held-out accuracy):')
for stage in stages:
    res = []
    for only_ink in (True, False):
        def pooled(idx):
            out = []
            for i in idx:
                sel = (cells[i] >= 0) & ((ink[i] >= 0.15) if only_ink else True)
                out.append(stages[stage][i][sel].mean(0) if sel.any() else stages[stage][i][cells[i] >= 0].mean(0))
            return np.array(out)
        res.append(softmax_probe(pooled(otr), lab[otr], pooled(ote), lab[ote], 5)[1])
    print(f'{stage:10} ink-mean {res[0]:.3f}  all-mean {res[1]:.3f}')
