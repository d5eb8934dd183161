# numpy forward of a herd mini core (HF Llama layout, f16/f32 safetensors) that keeps what the probes need:
# the residual stream after the embedding and after each layer, each layer's attention probabilities, the logits.
import json, struct, os
import numpy as np
def load(core):
    cfg = json.load(open(os.path.join(core, 'config.json')))
    W = {}
    with open(os.path.join(core, 'model.safetensors'), 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n)); base = 8 + n
        for k, v in h.items():
            if k == '__metadata__': continue
            s, e = v['data_offsets']; f.seek(base + s)
            dt = {'F16': np.float16, 'F32': np.float32, 'BF16': None}[v['dtype']]
            W[k] = np.frombuffer(f.read(e - s), dtype=dt).reshape(v['shape']).astype(np.float64)
    W['__out'] = W.get('lm_head.weight', W['model.embed_tokens.weight'])
    return cfg, W
def rms(x, w, eps): return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w
def forward(cfg, W, ids):
    D, H, K, Dh = cfg['hidden_size'], cfg['num_attention_heads'], cfg['num_key_value_heads'], cfg['head_dim']
    eps = cfg['rms_norm_eps']; T = len(ids)
    inv = 1.0 / (cfg['rope_theta'] ** (np.arange(0, Dh, 2) / Dh))
    ang = np.arange(T)[:, None] * np.concatenate([inv, inv])[None, :]
    cos, sin = np.cos(ang), np.sin(ang)
    def rope(x):  # x [n, T, Dh]
        x1, x2 = x[..., :Dh // 2], x[..., Dh // 2:]
        return x * cos + np.concatenate([-x2, x1], -1) * sin
    x = W['model.embed_tokens.weight'][ids]
    resid, attn = [x.copy()], []
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(cfg['num_hidden_layers']):
        p = f'model.layers.{i}.'
        a = rms(x, W[p + 'input_layernorm.weight'], eps)
        q = (a @ W[p + 'self_attn.q_proj.weight'].T).reshape(T, H, Dh).transpose(1, 0, 2)
        k = (a @ W[p + 'self_attn.k_proj.weight'].T).reshape(T, K, Dh).transpose(1, 0, 2)
        v = (a @ W[p + 'self_attn.v_proj.weight'].T).reshape(T, K, Dh).transpose(1, 0, 2)
        q, k = rope(q), rope(k)
        k = np.repeat(k, H // K, 0); v = np.repeat(v, H // K, 0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(Dh) + mask
        s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        attn.append(s)
        o = (s @ v).transpose(1, 0, 2).reshape(T, H * Dh)
        x = x + o @ W[p + 'self_attn.o_proj.weight'].T
        m = rms(x, W[p + 'post_attention_layernorm.weight'], eps)
        g = m @ W[p + 'mlp.gate_proj.weight'].T; u = m @ W[p + 'mlp.up_proj.weight'].T
        x = x + (g / (1 + np.exp(-g)) * u) @ W[p + 'mlp.down_proj.weight'].T
        resid.append(x.copy())
    logits = rms(x, W['model.norm.weight'], eps) @ W['__out'].T
    return resid, attn, logits
if __name__ == '__main__':
    import sys
    cfg, W = load(sys.argv[1])
    for l in open(sys.argv[2]):
        r = json.loads(l)
        if 'refLogits' not in r: continue
        _, _, lg = forward(cfg, W, r['ids'])
        ref = np.array(r['refLogits'])
        print('max |numpy - TS| at last position', np.abs(lg[-1] - ref).max(), 'argmax', lg[-1].argmax(), ref.argmax())
