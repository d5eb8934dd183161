# Copy heads of a core, per layer and head, on copy-seqs.mjs sequences (a random list, filler, the list again).
#  prev@d  — mean attention on position t-d, for the offset d in 1..8 that gets the most (a previous-token head is
#            prev@1 ~0.8+; the fresh 2-layer control of round 13 grew previous-5/6-token heads instead, prev@5 0.9);
#  induc@j — from the list's k-th word in the second pass, mean attention on the first pass's word k+j, for the j in
#            1..8 that gets the most (the classic induction head: j = 1 with a previous-token head; with a
#            previous-d-token head the match lands at j = d);
#  self, first-token — mass on t itself and on position 0 (<|begin_of_text|>, where idle heads park);
#  and top-1 next-token accuracy on the first vs the second pass. Usage: python3 copyheads.py CORE SEQS.jsonl
import json, os, sys
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"): os.environ.setdefault(_v, "1")
import numpy as np
sys.path.insert(0, __file__.rsplit('/', 1)[0])
from fwd import load, forward
cfg, W = load(sys.argv[1]); rs = [json.loads(l) for l in open(sys.argv[2])]
NL, H, D = cfg['num_hidden_layers'], cfg['num_attention_heads'], 8
prev = np.zeros((NL, H, D + 1)); induc = np.zeros((NL, H, D + 1)); self_ = np.zeros((NL, H)); bos = np.zeros((NL, H))
np_ = ni = 0; a1 = a2 = n = 0
for r in rs:
    ids, f, s, L = r['ids'], r['first'], r['second'], r['length']
    _, att, lg = forward(cfg, W, ids); T = len(ids)
    assert s - f >= L and L > D, 'copyheads.py needs lists longer than 8 words'
    for l in range(NL):
        a = att[l]
        for d in range(1, D + 1): prev[l, :, d] += sum(a[:, t, t - d] for t in range(D, T))
        for j in range(1, D + 1): induc[l, :, j] += sum(a[:, s + k, f + k + j] for k in range(L - D))
        self_[l] += sum(a[:, t, t] for t in range(D, T)); bos[l] += sum(a[:, t, 0] for t in range(D, T))
    np_ += T - D; ni += L - D
    a1 += sum(lg[f + k].argmax() == ids[f + k + 1] for k in range(L - 1))
    a2 += sum(lg[s + k].argmax() == ids[s + k + 1] for k in range(L - 1)); n += L - 1
prev /= np_; induc /= ni; self_ /= np_; bos /= np_
print(f'{sys.argv[1]}: top-1 first pass {a1/n:.2f}, second pass {a2/n:.2f} ({n} predictions)')
for l in range(NL):
    cells = []
    for h in range(H):
        d, j = prev[l, h].argmax(), induc[l, h].argmax()
        cells.append(f'prev@{d} {prev[l,h,d]:.2f} induc@{j} {induc[l,h,j]:.2f} self {self_[l,h]:.2f} first {bos[l,h]:.2f}')
    print(f'L{l}: ' + ' | '.join(cells))
print('best per layer: prev@1 ' + ' '.join(f'{prev[l,:,1].max():.2f}' for l in range(NL)) + '; prev@any ' + ' '.join(f'{prev[l].max():.2f}' for l in range(NL))
      + '; induc@1 ' + ' '.join(f'{induc[l,:,1].max():.2f}' for l in range(NL)) + '; induc@any ' + ' '.join(f'{induc[l].max():.2f}' for l in range(NL)))
