"""What the vision adapter's cross-attention reads at a position answer's preposition (round 23): a numpy forward of
the frozen core (fwd.py) with the adapter's gated cross-attention layers (packages/vision/src/model/cross-attention.ts:
q/k RMSNorm, GQA, Meta's masking, tanh gates) on the sequences and image tokens dumped by vision-tokens.mjs. At the
position that predicts the preposition ("The star is| on the left."), and at the one that predicts the place word,
it reports per cross layer and head the attention mass on ink tokens, background patches, padding patches and class
tokens; linear probes (train-split one-object scenes -> held-out ones) of the axis (left/right, top/bottom, centre)
and the 5-way position from each cross layer's attention output and from the residual stream; and the adapter's
probability of each preposition by the true axis.
    python3 bench/probes/vision-xattn.py CORE_DIR DUMP_DIR [MAX_TRAIN=500]
"""
import json, sys, os
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fwd import load, rms
from vision_dump import read_vision_dump

core_dir, d = sys.argv[1], sys.argv[2]
max_train = int(sys.argv[3]) if len(sys.argv) > 3 else 500
cfg, CW = load(core_dir)
meta, scenes, X, cells, ink, VW = read_vision_dump(d, np.float64)
sq = json.load(open(f'{d}/sequences.json'))
S = len(scenes)
N, P, Dv = meta['featureShape']
D, H, K, Dh = cfg['hidden_size'], cfg['num_attention_heads'], cfg['num_key_value_heads'], cfg['head_dim']
eps = cfg['rms_norm_eps']
cross = meta['crossAttentionLayers']
attach = {c - k: c for k, c in enumerate(sorted(cross))}  # core layer -> stack index
V = sq['vocab']


def xattn_layer(c, x, kimg, vimg, keymask, rows):
    pre = f'language_model.model.layers.{c}'
    T = len(x)
    hn = rms(x, VW[f'{pre}.input_layernorm.weight'], eps)
    q = (hn @ VW[f'{pre}.cross_attn.q_proj.weight'].T).reshape(T, H, Dh).transpose(1, 0, 2)
    q = rms(q, VW[f'{pre}.cross_attn.q_norm.weight'], eps)
    kk = np.repeat(kimg, H // K, 0); vv = np.repeat(vimg, H // K, 0)  # [H, S, Dh]
    s = q @ kk.transpose(0, 2, 1) / np.sqrt(Dh)
    s = np.where(keymask[None, None, :], s, -np.inf)
    s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
    o = (s @ vv).transpose(1, 0, 2).reshape(T, H * Dh) * rows[:, None]
    h = x + np.tanh(VW[f'{pre}.cross_attn_attn_gate'][0]) * (o @ VW[f'{pre}.cross_attn.o_proj.weight'].T)
    m = rms(h, VW[f'{pre}.post_attention_layernorm.weight'], eps)
    g = m @ VW[f'{pre}.mlp.gate_proj.weight'].T; u = m @ VW[f'{pre}.mlp.up_proj.weight'].T
    f = ((g / (1 + np.exp(-g)) * u) @ VW[f'{pre}.mlp.down_proj.weight'].T) * rows[:, None]
    return h + np.tanh(VW[f'{pre}.cross_attn_mlp_gate'][0]) * f, s, o


def forward(i, ids):
    T = len(ids)
    proj = X[i].astype(np.float64) @ VW['multi_modal_projector.weight'].T + VW['multi_modal_projector.bias']
    keymask = np.zeros(N * P, bool); keymask[:scenes[i]['nTiles'] * P] = True
    img_at = ids.index(sq['imageTokenId'])
    rows = (np.arange(T) >= img_at).astype(np.float64)
    ids_core = [t if t < V else 0 for t in ids]
    x = CW['model.embed_tokens.weight'][ids_core].copy()
    for t, a in enumerate(ids):
        if a >= V: x[t] = VW['learnable_embedding.weight'][a - V]
    inv = 1.0 / (cfg['rope_theta'] ** (np.arange(0, Dh, 2) / Dh))
    ang = np.arange(T)[:, None] * np.concatenate([inv, inv])[None, :]
    cos, sin = np.cos(ang), np.sin(ang)
    rope = lambda z: z * cos + np.concatenate([-z[..., Dh // 2:], z[..., :Dh // 2]], -1) * sin
    cmask = np.triu(np.full((T, T), -np.inf), 1)
    att, outs, resid = {}, {}, []
    for L in range(cfg['num_hidden_layers']):
        if L in attach:
            c = attach[L]
            pre = f'language_model.model.layers.{c}.cross_attn'
            kimg = (proj @ VW[f'{pre}.k_proj.weight'].T).reshape(-1, K, Dh).transpose(1, 0, 2)
            kimg = rms(kimg, VW[f'{pre}.k_norm.weight'], eps)
            vimg = (proj @ VW[f'{pre}.v_proj.weight'].T).reshape(-1, K, Dh).transpose(1, 0, 2)
            x, att[c], outs[c] = xattn_layer(c, x, kimg, vimg, keymask, rows)
        p = f'model.layers.{L}.'
        a = rms(x, CW[p + 'input_layernorm.weight'], eps)
        q = rope((a @ CW[p + 'self_attn.q_proj.weight'].T).reshape(T, H, Dh).transpose(1, 0, 2))
        k = rope((a @ CW[p + 'self_attn.k_proj.weight'].T).reshape(T, K, Dh).transpose(1, 0, 2))
        v = (a @ CW[p + 'self_attn.v_proj.weight'].T).reshape(T, K, Dh).transpose(1, 0, 2)
        k = np.repeat(k, H // K, 0); v = np.repeat(v, H // K, 0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(Dh) + cmask
        s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        x = x + (s @ v).transpose(1, 0, 2).reshape(T, H * Dh) @ CW[p + 'self_attn.o_proj.weight'].T
        m = rms(x, CW[p + 'post_attention_layernorm.weight'], eps)
        g = m @ CW[p + 'mlp.gate_proj.weight'].T; u = m @ CW[p + 'mlp.up_proj.weight'].T
        x = x + (g / (1 + np.exp(-g)) * u) @ CW[p + 'mlp.down_proj.weight'].T
        resid.append(x.copy())
    logits = rms(x, CW['model.norm.weight'], eps) @ CW['__out'].T
    return att, outs, resid, logits


POS = ['left', 'right', 'top', 'bottom', 'centre']
AXIS = {'left': 0, 'right': 0, 'top': 1, 'bottom': 1, 'centre': 2}
prep = {w: set(ids) for w, ids in sq['prepositions'].items()}
prep_any = set().union(*prep.values())
place_any = set().union(*[set(v) for v in sq['places'].values()])
split = np.array([s['split'] for s in scenes])
one = [i for i in range(S) if len(scenes[i]['objects']) == 1 and sq['sequences'][i]]
tr = [i for i in one if split[i] == 'train'][:max_train]
te = [i for i in one if split[i] == 'heldout']
tok = np.arange(N * P); within = tok % P - 1
rec = {}
for i in tr + te:
    s = sq['sequences'][i]; ids = s['tokens']
    at = [t for t in range(s['trainFrom'], len(ids)) if ids[t] in prep_any]
    pl = [t for t in range(s['trainFrom'], len(ids)) if ids[t] in place_any]
    if not at or not pl: continue
    att, outs, resid, logits = forward(i, ids)
    r = {}
    for name, t in (('prep', at[0] - 1), ('place', pl[0] - 1)):
        real = np.zeros(N * P, bool); real[:scenes[i]['nTiles'] * P] = True
        kinds = {'ink': real & (cells[i] >= 0) & (ink[i] >= 0.15), 'bg': real & (cells[i] >= 0) & (ink[i] < 0.15), 'pad': real & (cells[i] < 0) & (within >= 0), 'cls': real & (within < 0)}
        mass = {c: {k: att[c][:, t, m].sum(-1) for k, m in kinds.items()} for c in att}
        share = {k: m.sum() / real.sum() for k, m in kinds.items()}
        pr = np.exp(logits[t] - logits[t].max()); pr /= pr.sum()
        r[name] = {'mass': mass, 'share': share, 'out': {c: outs[c][t] for c in outs}, 'resid': [z[t] for z in resid], 'prep': {w: pr[list(v)].sum() for w, v in prep.items()}, 'argmax': int(np.argmax(logits[t])), 'target': ids[t + 1]}
    rec[i] = r
print(f'{len(tr)} train / {len(te)} held-out one-object scenes with a position question; cross layers {cross} before core layers {sorted(attach)}')
te = [i for i in te if i in rec]; tr = [i for i in tr if i in rec]
lab = {i: POS.index(scenes[i]['objects'][0]['position']) for i in rec}
for name in ('prep', 'place'):
    print(f'\n== at the position predicting the {"preposition" if name == "prep" else "place word"} (held-out, n = {len(te)}) ==')
    print('argmax = the reference token:', sum(rec[i][name]['argmax'] == rec[i][name]['target'] for i in te), 'of', len(te), '; by truth axis:', ', '.join(f"{nm} {sum(rec[i][name]['argmax'] == rec[i][name]['target'] for i in te if AXIS[POS[lab[i]]] == ax)}/{sum(1 for i in te if AXIS[POS[lab[i]]] == ax)}" for ax, nm in enumerate(('left/right', 'top/bottom', 'centre'))))
    sh = {k: np.mean([rec[i][name]['share'][k] for i in te]) for k in ('ink', 'bg', 'pad', 'cls')}
    print('token share (uniform attention):', ' '.join(f'{k} {v:.3f}' for k, v in sh.items()))
    for c in cross:
        for h in range(H):
            m = {k: np.mean([rec[i][name]['mass'][c][k][h] for i in te]) for k in ('ink', 'bg', 'pad', 'cls')}
            print(f'  layer {c} head {h}: ' + ' '.join(f'{k} {v:.3f}' for k, v in m.items()))
    if name == 'prep':
        for ax, nm in enumerate(('left/right', 'top/bottom', 'centre')):
            its = [i for i in te if AXIS[POS[lab[i]]] == ax]
            print(f'  truth {nm:10} (n={len(its)}): P(on) {np.mean([rec[i][name]["prep"]["on"] for i in its]):.3f}  P(near)+P(at) {np.mean([rec[i][name]["prep"]["near"] + rec[i][name]["prep"]["at"] for i in its]):.3f}  P(in) {np.mean([rec[i][name]["prep"]["in"] for i in its]):.3f}')

    from importlib import util
    def probe(get, y, classes):
        xtr = np.array([get(i) for i in tr]); xte = np.array([get(i) for i in te])
        ytr = np.array([y(i) for i in tr]); yte = np.array([y(i) for i in te])
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        a = np.hstack([(xtr - mu) / sd, np.ones((len(xtr), 1))]); b = np.hstack([(xte - mu) / sd, np.ones((len(xte), 1))])
        w = np.zeros((a.shape[1], classes)); m1 = np.zeros_like(w); v1 = np.zeros_like(w); Y = np.eye(classes)[ytr]
        for it in range(1, 301):
            z = a @ w; z -= z.max(1, keepdims=True); p = np.exp(z); p /= p.sum(1, keepdims=True)
            gr = a.T @ (p - Y) / len(a) + 1e-2 * w
            m1 = 0.9 * m1 + 0.1 * gr; v1 = 0.999 * v1 + 0.001 * gr * gr
            w -= 0.05 * (m1 / (1 - 0.9 ** it)) / (np.sqrt(v1 / (1 - 0.999 ** it)) + 1e-8)
        return (np.argmax(b @ w, 1) == yte).mean()
    def mlp_probe(get, y, classes, hidden=64, iters=600, seed=0):
        xtr = np.array([get(i) for i in tr]); xte = np.array([get(i) for i in te])
        ytr = np.array([y(i) for i in tr]); yte = np.array([y(i) for i in te])
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        a, b = (xtr - mu) / sd, (xte - mu) / sd
        rng = np.random.default_rng(seed)
        P1 = [rng.normal(0, 1 / np.sqrt(a.shape[1]), (a.shape[1], hidden)), np.zeros(hidden), rng.normal(0, 1 / np.sqrt(hidden), (hidden, classes)), np.zeros(classes)]
        M = [np.zeros_like(p) for p in P1]; Vv = [np.zeros_like(p) for p in P1]; Y = np.eye(classes)[ytr]
        for it in range(1, iters + 1):
            hpre = a @ P1[0] + P1[1]; h = np.maximum(hpre, 0); z = h @ P1[2] + P1[3]
            z -= z.max(1, keepdims=True); p = np.exp(z); p /= p.sum(1, keepdims=True)
            dz = (p - Y) / len(a); dh = (dz @ P1[2].T) * (hpre > 0)
            G = [a.T @ dh + 1e-2 * P1[0], dh.sum(0), h.T @ dz + 1e-2 * P1[2], dz.sum(0)]
            for j in range(4):
                M[j] = 0.9 * M[j] + 0.1 * G[j]; Vv[j] = 0.999 * Vv[j] + 0.001 * G[j] ** 2
                P1[j] -= 0.01 * (M[j] / (1 - 0.9 ** it)) / (np.sqrt(Vv[j] / (1 - 0.999 ** it)) + 1e-8)
        return (np.argmax(np.maximum(b @ P1[0] + P1[1], 0) @ P1[2] + P1[3], 1) == yte).mean()
    print('  one-hidden-layer MLP probes (held-out accuracy): axis 3-way / position 5-way')
    for c in cross:
        print(f'    cross layer {c} attention output: {mlp_probe(lambda i: rec[i][name]["out"][c], lambda i: AXIS[POS[lab[i]]], 3):.3f} / {mlp_probe(lambda i: rec[i][name]["out"][c], lambda i: lab[i], 5):.3f}')
    print(f'    residual after the last core layer: {mlp_probe(lambda i: rec[i][name]["resid"][-1], lambda i: AXIS[POS[lab[i]]], 3):.3f} / {mlp_probe(lambda i: rec[i][name]["resid"][-1], lambda i: lab[i], 5):.3f}')
    print('  linear probes (held-out accuracy): axis 3-way / position 5-way')
    for c in cross:
        print(f'    cross layer {c} attention output: {probe(lambda i: rec[i][name]["out"][c], lambda i: AXIS[POS[lab[i]]], 3):.3f} / {probe(lambda i: rec[i][name]["out"][c], lambda i: lab[i], 5):.3f}')
    for c in cross:
        for h in range(H):
            get = lambda i: rec[i][name]["out"][c][h * Dh:(h + 1) * Dh]
            print(f'      layer {c} head {h} output: {probe(get, lambda i: AXIS[POS[lab[i]]], 3):.3f} / {probe(get, lambda i: lab[i], 5):.3f}')
    def inkmean_v(i, c):
        pre = f'language_model.model.layers.{c}.cross_attn'
        sel = (cells[i] >= 0) & (ink[i] >= 0.15)
        if not sel.any(): sel = cells[i] >= 0
        proj = X[i][sel].astype(np.float64) @ VW['multi_modal_projector.weight'].T + VW['multi_modal_projector.bias']
        return (proj @ VW[f'{pre}.v_proj.weight'].T).mean(0)
    for c in cross:
        print(f'    ink-mean values of cross layer {c} (same scenes): {probe(lambda i: inkmean_v(i, c), lambda i: AXIS[POS[lab[i]]], 3):.3f} / {probe(lambda i: inkmean_v(i, c), lambda i: lab[i], 5):.3f}')
    for L in range(cfg['num_hidden_layers']):
        print(f'    residual after core layer {L}: {probe(lambda i: rec[i][name]["resid"][L], lambda i: AXIS[POS[lab[i]]], 3):.3f} / {probe(lambda i: rec[i][name]["resid"][L], lambda i: lab[i], 5):.3f}')
