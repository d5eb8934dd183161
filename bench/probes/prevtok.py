# Is there a previous-token head? Per layer/head, the mean attention weight on position t-1 (and on t itself, and on
# the first token) over every position t >= 5 of 60 probe prompts. Usage: python3 prevtok.py CORE ITEMS.tok.jsonl
import json, os, sys
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"): os.environ.setdefault(_v, "1")
import numpy as np
sys.path.insert(0, __file__.rsplit('/', 1)[0])
from fwd import load, forward
cfg, W = load(sys.argv[1]); rs = [json.loads(l) for l in open(sys.argv[2])][:60]
prev = np.zeros((4, 8)); self_ = np.zeros((4, 8)); first = np.zeros((4, 8)); n = 0
for r in rs:
    _, att, _ = forward(cfg, W, r['ids']); T = len(r['ids'])
    for l in range(4):
        a = att[l]
        prev[l] += sum(a[:, t, t - 1] for t in range(5, T)); self_[l] += sum(a[:, t, t] for t in range(5, T)); first[l] += sum(a[:, t, 0] for t in range(5, T))
    n += T - 5
for l in range(4): print(f'L{l} prev-token / self / first-token mass per head: ' + ' | '.join(f'{prev[l,h]/n:.2f}/{self_[l,h]/n:.2f}/{first[l,h]/n:.2f}' for h in range(8)))
