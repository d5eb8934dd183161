# Round 12's binding probes on one core (numpy forward, fwd.py). Items: build-items.py + tok.mjs outputs.
#  (a) cosines of the input-embedding / lm_head rows within the colour, shape and written-word sets;
#  (b) linear probe (ridge classifier, fit on TRAIN scenes, scored on HELDOUT scenes) per layer: does the residual at
#      an object's shape token in the description carry its own colour (vs. another object's colour)? also at the
#      question's shape token and at the answer position;
#  (c) attention mass per layer/head from the answer position (after "The X is") and from the question's shape token
#      onto the asked object's colour/shape tokens vs the other objects'; teacher-forced accuracy.
# Usage: python3 probes.py CORE ITEMS_DIR [--heads]
import json, os, re, sys
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"): os.environ.setdefault(_v, "1")
import numpy as np
sys.path.insert(0, __file__.rsplit('/', 1)[0])
from fwd import load, forward
core, items = sys.argv[1], sys.argv[2]
show_heads = '--heads' in sys.argv
cfg, W = load(core)
COLOURS = ['red', 'green', 'blue', 'yellow', 'orange', 'purple', 'pink', 'black']
SHAPES = ['circle', 'square', 'triangle', 'star', 'hexagon', 'diamond']
WORDS = ['cat', 'dog', 'sun', 'moon', 'fish', 'bird', 'tree', 'book', 'car', 'ship', 'milk', 'rain', 'snow', 'lamp', 'door', 'frog', 'king', 'rose', 'cake', 'hat']
def rd(name): return [json.loads(l) for l in open(f'{items}/{name}.tok.jsonl')]
tr_c, he_c, tr_w, he_w = rd('train-colour'), rd('heldout-colour'), rd('train-word'), rd('heldout-word')
QUICK = int(os.environ.get('QUICK', '0'))  # QUICK=N: the first N train and N/2 held-out items of each set
if QUICK: tr_c, tr_w, he_c, he_w = tr_c[:QUICK], tr_w[:QUICK], he_c[:QUICK // 2], he_w[:QUICK // 2]
p2id = {}
for r in tr_c + tr_w + he_c + he_w:
    for p, i in zip(r['pieces'], r['ids']): p2id[p] = i
def offsets(r):
    off, o = [], 0
    for p in r['pieces'][5:]: off.append(o); o += len(p)
    return [None] * 5 + off
def tok_at(off, ch):  # index of the token covering character ch of the user text
    best = None
    for i, o in enumerate(off):
        if o is not None and o <= ch: best = i
    return best
def annotate(r):
    off = offsets(r); u = r['user']; dl = len(r['desc'])
    objs = []
    for o in r['objects']:
        m = re.search(rf"\b{o['colour']} {o['shape']}(e?s)?\b", u[:dl])
        if not m: return None
        objs.append({'colour': o['colour'], 'shape': o['shape'], 'ctok': tok_at(off, m.start()), 'stok': tok_at(off, m.end() - 1), 'target': o == r.get('target')})
    r['objs'] = objs
    if 'target' in r:
        q = u.rfind(r['target']['shape'])
        r['qtok'] = tok_at(off, q + len(r['target']['shape']) - 1)
    if 'word' in r:
        m = re.search(rf"\b{r['word']}\b", u[:dl]); r['wtok'] = tok_at(off, m.start())
    return r
for rs in (tr_c, he_c, tr_w, he_w):
    rs[:] = [a for a in map(annotate, rs) if a is not None]
print(f'core {core}: colour items train {len(tr_c)} heldout {len(he_c)}; word items train {len(tr_w)} heldout {len(he_w)}')
# (a)
def cosset(M, words):
    ids = [p2id[' ' + w] for w in words]
    X = M[ids]; X = X / np.linalg.norm(X, axis=1, keepdims=True); C = X @ X.T
    off = C[~np.eye(len(ids), dtype=bool)]
    return f'mean {off.mean():.3f} max {off.max():.3f}'
mats = [('input', W['model.embed_tokens.weight'])] + ([('lm_head', W['lm_head.weight'])] if 'lm_head.weight' in W else [])
for name, M in mats:
    print(f'(a) {name} row cosines: colours {cosset(M, COLOURS)} | shapes {cosset(M, [s for s in SHAPES if " " + s in p2id])} | words {cosset(M, WORDS)} | left/right {cosset(M, ["left", "right"])}')
# run the forward once per item
def run(rs):
    for r in rs:
        res, att, lg = forward(cfg, W, r['ids'])
        r['res'] = [x.astype(np.float32) for x in res]; r['att'] = [a[:, [-1, r.get('qtok', -1)], :].astype(np.float32) for a in att]; r['lg'] = lg[-1]
for rs in (tr_c, he_c, tr_w, he_w): run(rs)
L = cfg['num_hidden_layers']; H = cfg['num_attention_heads']
def ridge(Xtr, ytr, Xte, yte, ncls, lam=10.0):
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    Z, Zt = (Xtr - mu) / sd, (Xte - mu) / sd
    Y = np.eye(ncls)[ytr]
    A = np.linalg.solve(Z.T @ Z + lam * np.eye(Z.shape[1]), Z.T @ (Y - Y.mean(0)))
    return ((Zt @ A).argmax(1) == yte).mean(), (np.bincount(ytr, minlength=ncls).argmax() == yte).mean()
# (b) shape token of each object in the description -> own colour vs another object's colour
def feats(rs, layer, where):
    X, own, other = [], [], []
    for r in rs:
        for j, o in enumerate(r['objs']):
            if where == 'desc': pos = o['stok']
            elif where == 'question': pos = r['qtok']
            else: pos = len(r['ids']) - 1
            if where != 'desc' and not o['target']: continue
            others = [p for p in r['objs'] if p['colour'] != o['colour']]
            if not others: continue
            X.append(r['res'][layer][pos]); own.append(COLOURS.index(o['colour'])); other.append(COLOURS.index(others[0]['colour']))
    return np.array(X), np.array(own), np.array(other)
print('(b) linear probe accuracy (ridge, fit on train scenes, scored on held-out scenes; 8 colours): own colour / another object\'s colour [majority baseline]')
for where in ['desc', 'question', 'answer']:
    row = []
    for layer in range(L + 1):
        Xa, ya, za = feats(tr_c, layer, where); Xb, yb, zb = feats(he_c, layer, where)
        a, base = ridge(Xa, ya, Xb, yb, 8); b, _ = ridge(Xa, za, Xb, zb, 8)
        row.append(f'L{layer} {a:.2f}/{b:.2f}')
    print(f'  at {where:8s} shape token' if where != 'answer' else '  at answer position  ', ' | '.join(row), f'[{base:.2f}] n {len(yb)}')
# is the asked shape (the query a match needs) at the answer position?
row = []
for layer in range(L + 1):
    Xa = np.array([r['res'][layer][-1] for r in tr_c]); ya = np.array([SHAPES.index(r['target']['shape']) for r in tr_c])
    Xb = np.array([r['res'][layer][-1] for r in he_c]); yb = np.array([SHAPES.index(r['target']['shape']) for r in he_c])
    a, base = ridge(Xa, ya, Xb, yb, 6); row.append(f'L{layer} {a:.2f}')
print('  the asked shape (6) at the answer position:', ' | '.join(row), f'[{base:.2f}]')
# teacher-forced accuracy: target colour vs the scene's other colours
def tf(rs):
    ok = 0
    for r in rs:
        cs = sorted({o['colour'] for o in r['objs']}); sc = [r['lg'][p2id[' ' + c]] for c in cs]
        ok += cs[int(np.argmax(sc))] == r['target']['colour']
    return ok / len(rs)
print(f'(c) teacher-forced "The X is" -> the asked colour among the scene\'s colours: train {tf(tr_c):.3f} heldout {tf(he_c):.3f}')
# (c) attention from the answer position and from the question's shape token
def attn_table(rs, src):  # src 0 = answer position, 1 = question shape token
    out = np.zeros((L, H, 5))
    for r in rs:
        T = [o for o in r['objs'] if o['target']][0]; O = [o for o in r['objs'] if not o['target']]
        for l in range(L):
            a = r['att'][l][:, src, :]  # [H, T]
            tc, ts = a[:, T['ctok']], a[:, T['stok']]
            oc = np.mean([a[:, o['ctok']] for o in O], 0); os_ = np.mean([a[:, o['stok']] for o in O], 0)
            win = (a[:, [T['ctok'], T['stok']]].sum(1) > np.max([a[:, [o['ctok'], o['stok']]].sum(1) for o in O], 0))
            out[l, :, 0] += tc; out[l, :, 1] += ts; out[l, :, 2] += oc; out[l, :, 3] += os_; out[l, :, 4] += win
    return out / len(rs)
for src, name in [(0, 'answer position'), (1, 'question shape token')]:
    t = attn_table(tr_c + he_c, src)
    print(f'  attention from the {name}: per layer, the head with the largest (target - other) mass on colour+shape tokens')
    for l in range(L):
        d = (t[l, :, 0] + t[l, :, 1]) - (t[l, :, 2] + t[l, :, 3]); h = int(np.argmax(d))
        print(f'    L{l} h{h}: target colour {t[l,h,0]:.3f} shape {t[l,h,1]:.3f} | other object (mean) colour {t[l,h,2]:.3f} shape {t[l,h,3]:.3f} | target > every other object in {t[l,h,4]:.2f} of items; all heads target-other: ' + ' '.join(f'{x:+.2f}' for x in d))
        if show_heads:
            for hh in range(H): print(f'      h{hh}: tc {t[l,hh,0]:.3f} ts {t[l,hh,1]:.3f} oc {t[l,hh,2]:.3f} os {t[l,hh,3]:.3f} win {t[l,hh,4]:.2f}')
# written word: teacher-forced, linear probe at the answer position, attention to the word token
def tfw(rs):
    ok = 0; picks = {}
    for r in rs:
        sc = [r['lg'][p2id[' ' + w]] for w in WORDS]; w = WORDS[int(np.argmax(sc))]; picks[w] = picks.get(w, 0) + 1; ok += w == r['word']
    return ok / len(rs), sorted(picks.items(), key=lambda x: -x[1])[:3]
print(f'(word) teacher-forced "The word is" -> the scene\'s word among 20: train {tfw(tr_w)} heldout {tfw(he_w)}')
row = []
for layer in range(L + 1):
    Xa = np.array([r['res'][layer][-1] for r in tr_w]); ya = np.array([WORDS.index(r['word']) for r in tr_w])
    Xb = np.array([r['res'][layer][-1] for r in he_w]); yb = np.array([WORDS.index(r['word']) for r in he_w])
    a, base = ridge(Xa, ya, Xb, yb, 20); row.append(f'L{layer} {a:.2f}')
print('(word) linear probe of the scene\'s word at the answer position (20 words):', ' | '.join(row), f'[{base:.2f}]')
row = []
for layer in range(L + 1):
    Xa = np.array([r['res'][layer][r['wtok']] for r in tr_w]); ya = np.array([WORDS.index(r['word']) for r in tr_w])
    Xb = np.array([r['res'][layer][r['wtok']] for r in he_w]); yb = np.array([WORDS.index(r['word']) for r in he_w])
    a, base = ridge(Xa, ya, Xb, yb, 20); row.append(f'L{layer} {a:.2f}')
print('(word) the same at the written word\'s own token:', ' | '.join(row))
for l in range(L):
    m = np.mean([r['att'][l][:, 0, r['wtok']] for r in tr_w + he_w], 0)
    print(f'(word) L{l} attention from the answer position onto the written word token, per head: ' + ' '.join(f'{x:.3f}' for x in m))
