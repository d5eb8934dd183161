# Is there a previous-token head? Per layer/head, the mean attention weight on position t-1 (and on t itself, and on
# the first token) over every position t >= 5 of 60 probe prompts. Only t-1: copyheads.py also finds previous-d-token
# heads (d ≤ 8), which a copying core may grow instead (round 13's control: t-5 / t-6). Usage: python3 prevtok.py CORE ITEMS.tok.jsonl
import json, os, sys
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"): os.environ.setdefault(_v, "1")
import numpy as np
sys.path.insert(0, __file__.rsplit('/', 1)[0])
from fwd import load, forward
cfg, W = load(sys.argv[1]); rs = [json.loads(l) for l in open(sys.argv[2])][:60]
NL, H = cfg['num_hidden_layers'], cfg['num_attention_heads']
prev = np.zeros((NL, H)); self_ = np.zeros((NL, H)); first = np.zeros((NL, H)); n = 0
for r in rs:
    _, att, _ = forward(cfg, W, r['ids']); T = len(r['ids'])
    for l in range(NL):
        a = att[l]
        prev[l] += sum(a[:, t, t - 1] for t in range(5, T)); self_[l] += sum(a[:, t, t] for t in range(5, T)); first[l] += sum(a[:, t, 0] for t in range(5, T))
    n += T - 5
for l in range(NL): print(f'L{l} prev-token / self / first-token mass per head: ' + ' | '.join(f'{prev[l,h]/n:.2f}/{self_[l,h]/n:.2f}/{first[l,h]/n:.2f}' for h in range(H)))
