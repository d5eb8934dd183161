# Turns a training checkpoint (step-*.safetensors: params + Adam state, f32) into a core folder the probes
# load: model.safetensors (the params only, f32), config.json (the init core's, tie_word_embeddings set from
# whether the checkpoint holds lm_head.weight), vocab.json (the init core's; --keep-vocab runs).
# Usage: python3 ck2core.py CHECKPOINT INIT_CORE_DIR OUT_DIR
import json, os, struct, sys, shutil
ck, init, out = sys.argv[1:4]
os.makedirs(out, exist_ok=True)
with open(ck, 'rb') as f:
    n = struct.unpack('<Q', f.read(8))[0]
    h = json.loads(f.read(n)); base = 8 + n
    keep = {k: v for k, v in h.items() if k != '__metadata__' and not k.startswith('adam.')}
    hdr, blobs, off = {}, [], 0
    for k, v in keep.items():
        s, e = v['data_offsets']; f.seek(base + s); b = f.read(e - s)
        hdr[k] = {'dtype': v['dtype'], 'shape': v['shape'], 'data_offsets': [off, off + len(b)]}; off += len(b); blobs.append(b)
hb = json.dumps(hdr).encode(); hb += b' ' * ((8 - len(hb) % 8) % 8)
with open(os.path.join(out, 'model.safetensors.tmp'), 'wb') as g:
    g.write(struct.pack('<Q', len(hb))); g.write(hb); [g.write(b) for b in blobs]
os.replace(os.path.join(out, 'model.safetensors.tmp'), os.path.join(out, 'model.safetensors'))
cfg = json.load(open(os.path.join(init, 'config.json')))
cfg['tie_word_embeddings'] = 'lm_head.weight' not in keep
cfg['torch_dtype'] = 'float32'
json.dump(cfg, open(os.path.join(out, 'config.json'), 'w'), indent=2)
shutil.copy(os.path.join(init, 'vocab.json'), os.path.join(out, 'vocab.json'))
print(out, 'tied' if cfg['tie_word_embeddings'] else 'untied', len(keep), 'tensors')
