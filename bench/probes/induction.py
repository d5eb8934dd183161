# Classic induction test: a random sequence of ordinary word tokens, repeated; top-1 accuracy of the next token in the
# first pass vs the second pass (a core with induction heads predicts the second pass). Also inside the chat template.
# Usage: python3 induction.py CORE ITEMS.tok.jsonl
import json, os, sys
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"): os.environ.setdefault(_v, "1")
import numpy as np
sys.path.insert(0, __file__.rsplit('/', 1)[0])
from fwd import load, forward
cfg, W = load(sys.argv[1]); rs = [json.loads(l) for l in open(sys.argv[2])]
words = sorted({i for r in rs for p, i in zip(r['pieces'], r['ids']) if p.startswith(' ') and p[1:].isalpha()})
rng = np.random.default_rng(0)
bos = rs[0]['ids'][0]; head = rs[0]['ids'][:5]; tail = rs[0]['ids'][-7:-3]  # <bos><sh>user<eh>\n\n ... <eot><sh>assistant<eh>\n\n
for name, pre, mid in [('plain', [bos], []), ('chat', head, tail)]:
    a1 = a2 = 0; n = 0
    for _ in range(30):
        seq = list(rng.choice(words, 20, replace=False))
        ids = pre + seq + mid + seq
        _, _, lg = forward(cfg, W, ids)
        L = len(pre); M = len(mid)
        p1 = [lg[L + i].argmax() == seq[i + 1] for i in range(19)]
        p2 = [lg[L + 20 + M + i].argmax() == seq[i + 1] for i in range(19)]
        a1 += sum(p1); a2 += sum(p2); n += 19
    print(sys.argv[1], name, f'first pass {a1/n:.2f} second pass {a2/n:.2f}')
