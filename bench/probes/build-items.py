# Probe items from a corpus's index.jsonl (scene dialogues with their scene meta): for each scene with >= 2 objects
# of different colours, one colour question about one object ("What colour is the X?" + teacher-forced "The X is"),
# and for each scene with a written word, one word question ("Which word can you read?" + "The word is").
# Usage: python3 build-items.py INDEX.jsonl N_SCENES OUT_PREFIX   -> OUT_PREFIX-colour.jsonl, OUT_PREFIX-word.jsonl
import json, random, sys
idx, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = random.Random(12)
col, word = [], []
for l in open(idx):
    m = json.loads(l).get('meta', {})
    sc = m.get('scene')
    if m.get('kind') != 'dialogue' or not sc: continue
    u = m['turns'][0]['content']
    cut = u.rfind('. ')
    if not u.endswith('?') or cut < 0: continue
    desc = u[:cut + 1]
    objs = sc['objects']
    if len(objs) >= 2 and len({o['colour'] for o in objs}) >= 2 and len({o['shape'] for o in objs}) == len(objs) and len(col) < n:
        t = rng.choice(objs)
        pl = t['shape'] + ('es' if t['shape'].endswith('x') else 's') if t['count'] > 1 else t['shape']
        isare = 'are' if t['count'] > 1 else 'is'
        col.append({'user': f'{desc} What colour {isare} the {pl}?', 'prefix': f'The {pl} {isare}', 'target': t, 'objects': objs, 'desc': desc})
    if sc.get('word') and len(word) < n:
        word.append({'user': f'{desc} Which word can you read?', 'prefix': 'The word is', 'word': sc['word']['text'], 'objects': objs, 'desc': desc})
    if len(col) >= n and len(word) >= n: break
for name, rows in [('colour', col), ('word', word)]:
    with open(f'{out}-{name}.jsonl', 'w') as f:
        for r in rows: f.write(json.dumps(r) + '\n')
    print(name, len(rows))
