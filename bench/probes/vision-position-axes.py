"""Position answers of vision answer files (JSON lines of bench/probes/vision-answers.mjs or vision-oracle --answers), by axis:
left/right items right, top/bottom/centre items right (all and one-group scenes), the preposition on the true axis (on -> left/right,
near/at -> top/bottom, in -> centre) and the true axis -> the answer's axis.   python3 bench/probes/vision-position-axes.py FILE...
"""
import json, sys, re, collections
def place(s):
    ws = set(w if w != 'middle' else 'centre' for w in re.findall(r'\b(left|right|top|bottom|centre|middle)\b', s.lower()))
    return ','.join(sorted(ws)) or '-'
ax = lambda p: 'lr' if re.search('left|right', p) else 'tb' if re.search('top|bottom', p) else 'c' if 'centre' in p else '-'
prep = lambda s: {'on': 'lr', 'near': 'tb', 'at': 'tb', 'in': 'c'}.get((re.search(r'\b(on|in|near|at) the\b', s, re.I) or [None, None])[1] and re.search(r'\b(on|in|near|at) the\b', s, re.I)[1].lower(), '-')
for f in sys.argv[1:]:
    rows = [json.loads(l) for l in open(f) if json.loads(l)['type'] == 'position']
    t = collections.Counter(f"{ax(place(r['reference']))}->{ax(place(r['answers']['adapter']))}" for r in rows)
    lr = [r for r in rows if ax(place(r['reference'])) == 'lr']; oth = [r for r in rows if ax(place(r['reference'])) != 'lr']
    one = [r for r in rows if r['groups'] == 1]
    print(f, f"left/right {sum(r['hits']['adapter'] for r in lr)}/{len(lr)}, top/bottom/centre {sum(r['hits']['adapter'] for r in oth)}/{len(oth)}; one-group t/b/c {sum(r['hits']['adapter'] for r in one if ax(place(r['reference'])) != 'lr')}/{sum(1 for r in one if ax(place(r['reference'])) != 'lr')}; preposition on truth axis {sum(prep(r['answers']['adapter']) == ax(place(r['reference'])) for r in rows)}/{len(rows)}; axes {dict(t)}")
