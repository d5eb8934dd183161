"""PyTorch peers of bench/src/adapter-step.ts: one training step of the mini vision recipe (frozen
Llama core + trained ViT encoder, projector and gated cross-attention adapter), of the mini speech
recipe (frozen core + trained Conformer encoder and adapter, audio spliced into the embeddings) and of
the mini video recipe (frozen core and image cross-attention fed the middle frame's cached keys/values
+ trained perceiver-resampler aggregator on cached frame features and gated video cross-attention). Same
shapes, same layer kinds and the same trained/frozen split as herd's graphs (the frozen core gets no
gradient for its weights but is differentiated through); numerics are not compared — only the cost.
AdamW (decay 0.01) with clipping at 1 over the trained parameters. Runs on cfg["device"] (cpu or
cuda: every tensor is made there; timed steps end with a synchronise). Prints one JSON line."""
import contextlib, json, math, os, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
torch.manual_seed(0)
C = cfg["core"]
D, L, H, K, Dh, FF, V = C["dim"], C["nLayers"], C["nHeads"], C["nKvHeads"], C["headDim"], C["ffnDim"], C["vocabSize"]
B, T = cfg["batch"], cfg["seqLen"]
DEVICE = cfg.get("device", "cpu")
if DEVICE == "cuda" and not torch.cuda.is_available():
    sys.exit("adapter_step.py: device cuda asked for, but torch.cuda.is_available() is False")


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d)); self.eps = eps
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w


def rope(x, cos, sin):
    h = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin


def rope_tables(n, dh, theta):
    # Made on DEVICE: the speech encoder builds its tables inside forward, outside the construction scope below.
    inv = 1.0 / (theta ** (torch.arange(0, dh, 2, device=DEVICE).float() / dh))
    a = torch.arange(n, device=DEVICE).float()[:, None] * inv[None, :]
    a = torch.cat([a, a], -1)
    return a.cos(), a.sin()


def attend(q, k, v, mask=None):
    # q [B, H, T, Dh], k/v [B, K, S, Dh] with GQA by repeat.
    r = q.shape[1] // k.shape[1]
    if r > 1:
        k, v = k.repeat_interleave(r, 1), v.repeat_interleave(r, 1)
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, -1e9)
    return s.softmax(-1) @ v


class CoreBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(D), RMSNorm(D)
        self.q = nn.Linear(D, H * Dh, bias=False); self.k = nn.Linear(D, K * Dh, bias=False)
        self.v = nn.Linear(D, K * Dh, bias=False); self.o = nn.Linear(H * Dh, D, bias=False)
        self.w1, self.w3, self.w2 = nn.Linear(D, FF, bias=False), nn.Linear(D, FF, bias=False), nn.Linear(FF, D, bias=False)
    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.n1(x)
        q = rope(self.q(h).view(b, t, H, Dh).transpose(1, 2), cos, sin)
        k = rope(self.k(h).view(b, t, K, Dh).transpose(1, 2), cos, sin)
        v = self.v(h).view(b, t, K, Dh).transpose(1, 2)
        x = x + self.o(attend(q, k, v, mask).transpose(1, 2).reshape(b, t, H * Dh))
        h = self.n2(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class Core(nn.Module):
    """The frozen language core (tied embeddings, as the mini core)."""
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.blocks = nn.ModuleList(CoreBlock() for _ in range(L))
        self.norm = RMSNorm(D)
        c, s = rope_tables(T, Dh, C["ropeTheta"])
        self.register_buffer("cos", c); self.register_buffer("sin", s)
        self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).tril())
    def forward(self, x, before_layer=None):
        for i, b in enumerate(self.blocks):
            if before_layer is not None:
                x = before_layer(i, x)
            x = b(x, self.cos, self.sin, self.mask)
        return self.norm(x) @ self.emb.weight.t()


class CrossLayer(nn.Module):
    """Gated cross-attention layer (GQA, RMSNorm on q and k heads, SwiGLU FFN; rows without an image masked)."""
    def __init__(self, FF=FF):
        super().__init__()
        self.n1, self.n2 = RMSNorm(D), RMSNorm(D)
        self.q = nn.Linear(D, H * Dh, bias=False); self.k = nn.Linear(D, K * Dh, bias=False)
        self.v = nn.Linear(D, K * Dh, bias=False); self.o = nn.Linear(H * Dh, D, bias=False)
        self.qn, self.kn = RMSNorm(Dh), RMSNorm(Dh)
        self.w1, self.w3, self.w2 = nn.Linear(D, FF, bias=False), nn.Linear(D, FF, bias=False), nn.Linear(FF, D, bias=False)
        self.ga, self.gf = nn.Parameter(torch.full((1,), 0.5)), nn.Parameter(torch.full((1,), 0.5))
    def forward(self, x, img, mask, rows):
        b, t, _ = x.shape
        s = img.shape[1]
        q = self.qn(self.q(self.n1(x)).view(b, t, H, Dh).transpose(1, 2))
        k = self.kn(self.k(img).view(b, s, K, Dh).transpose(1, 2))
        v = self.v(img).view(b, s, K, Dh).transpose(1, 2)
        a = attend(q, k, v, mask) * rows
        h = x + torch.tanh(self.ga) * self.o(a.transpose(1, 2).reshape(b, t, H * Dh))
        f = self.n2(h)
        return h + torch.tanh(self.gf) * self.w2(F.silu(self.w1(f)) * self.w3(f)) * rows.squeeze(1)


class VitLayer(nn.Module):
    def __init__(self, d, heads, ff, gated):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.ModuleList(nn.Linear(d, d, bias=False) for _ in range(3)); self.o = nn.Linear(d, d, bias=False)
        self.f1, self.f2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.heads = heads
        self.g = (nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))) if gated else None
        if gated:
            self.ga, self.gf = self.g
    def forward(self, x, mask):
        b, n, d = x.shape
        h = self.n1(x)
        q, k, v = (m(h).view(b, n, self.heads, d // self.heads).transpose(1, 2) for m in self.qkv)
        a = self.o(attend(q, k, v, mask).transpose(1, 2).reshape(b, n, d))
        x = x + (torch.tanh(self.ga) * a if self.g else a)
        f = self.f2(F.gelu(self.f1(self.n2(x))))
        return x + (torch.tanh(self.gf) * f if self.g else f)


def image_prompt(B, T, V):
    """Random tokens with the <|image|> slot at position 1 (id 0 there; its row is replaced by the learnable embedding)."""
    tok = torch.randint(0, V, (B, T)); tok[:, 1] = 0
    at_image = torch.zeros(B, T, 1, dtype=torch.bool); at_image[:, 1] = True
    return tok, at_image


def vision_model():
    Vc = cfg["vision"]
    d, P = Vc["dim"], (Vc["tileSize"] // Vc["patchSize"]) ** 2 + 1
    Pp = P + (8 - P % 8) % 8

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch = nn.Conv2d(3, d, Vc["patchSize"], Vc["patchSize"], bias=False)
            self.cls = nn.Parameter(torch.randn(d) * 0.02)
            self.pos = nn.Parameter(torch.randn(P, d) * 0.02)
            self.pre, self.post = nn.LayerNorm(d), nn.LayerNorm(d)
            self.layers = nn.ModuleList(VitLayer(d, Vc["nHeads"], Vc["ffnDim"], False) for _ in range(Vc["nLayers"]))
            self.glob = nn.ModuleList(VitLayer(d, Vc["nHeads"], Vc["ffnDim"], True) for _ in range(Vc["nGlobalLayers"]))
            self.proj = nn.Linear(d * (1 + len(Vc["intermediateLayers"])), D)
        def forward(self, px, mask):
            h = self.patch(px).flatten(2).transpose(1, 2)  # [B, P-1, d]
            h = torch.cat([self.cls.expand(h.shape[0], 1, d), h], 1) + self.pos
            h = F.pad(self.pre(h), (0, 0, 0, Pp - P))
            kept = []
            for i, l in enumerate(self.layers):
                if i in Vc["intermediateLayers"]:
                    kept.append(h)
                h = l(h, mask)
            h = self.post(h)
            for l in self.glob:
                h = l(h, mask)
            return self.proj(torch.cat([h] + kept, -1)[:, :P])  # [B, P, D]

    enc = Encoder()
    layers = nn.ModuleList(CrossLayer() for _ in cfg["crossAt"])
    learnable = nn.Parameter(torch.randn(cfg["learnable"], D) * 0.02)
    real = torch.zeros(Pp, dtype=torch.bool); real[:P] = True
    enc_mask = (real[:, None] | real[None, :])[None, None]
    px = torch.randn(B, 3, Vc["tileSize"], Vc["tileSize"])
    xmask = torch.zeros(B, 1, T, P, dtype=torch.bool); xmask[:, :, 1:] = True  # text after <|image|> at 1 sees the image
    rows = xmask.any(-1, keepdim=True).float()
    tok, at_image = image_prompt(B, T, V)

    def loss_fn(core):
        img = enc(px, enc_mask)
        x = torch.where(at_image, learnable[0].expand(B, T, D), core.emb(tok))
        def before(i, h):
            if i in cfg["crossAt"]:
                return layers[cfg["crossAt"].index(i)](h, img, xmask, rows)
            return h
        return core(x, before)
    return [*enc.parameters(), *layers.parameters(), learnable], loss_fn


class FedCrossLayer(CrossLayer):
    """The image cross-attention layer as the video recipe runs it: keys/values of the middle frame fed (cached with the frame features)."""
    def forward(self, x, k, v, mask, rows):
        b, t, _ = x.shape
        q = self.qn(self.q(self.n1(x)).view(b, t, H, Dh).transpose(1, 2))
        a = attend(q, k, v, mask) * rows
        h = x + torch.tanh(self.ga) * self.o(a.transpose(1, 2).reshape(b, t, H * Dh))
        f = self.n2(h)
        return h + torch.tanh(self.gf) * self.w2(F.silu(self.w1(f)) * self.w3(f)) * rows.squeeze(1)


class ResamplerLayer(nn.Module):
    def __init__(self, heads, ff):
        super().__init__()
        self.nf, self.nl, self.nm = nn.LayerNorm(D), nn.LayerNorm(D), nn.LayerNorm(D)
        self.q, self.k, self.v, self.o = (nn.Linear(D, D, bias=False) for _ in range(4))
        self.f1, self.f2 = nn.Linear(D, ff), nn.Linear(ff, D)
        self.heads = heads
    def forward(self, lat, x, mask):
        n, l, _ = lat.shape
        ln = self.nl(lat)
        kv = torch.cat([self.nf(x), ln], 1)
        hd = D // self.heads
        q = self.q(ln).view(n, l, self.heads, hd).transpose(1, 2)
        k, v = (m(kv).view(n, kv.shape[1], self.heads, hd).transpose(1, 2) for m in (self.k, self.v))
        lat = lat + self.o(attend(q, k, v, mask).transpose(1, 2).reshape(n, l, D))
        return lat + self.f2(F.gelu(self.f1(self.nm(lat))))


def video_model():
    R, Fr, k, S = cfg["resampler"], cfg["frames"], cfg["groupFrames"], cfg["frameTokens"]
    E, Lt = Fr // k, R["latents"]

    class Resampler(nn.Module):
        """Perceiver resampler: time embedding (+ frame difference, scaled per place by the position embedding), latents attend to a group's frame tokens and themselves."""
        def __init__(self):
            super().__init__()
            self.latents = nn.Parameter(torch.randn(Lt, D) * 0.25)
            self.time = nn.Parameter(torch.randn(Fr, D) * 0.5)
            self.pos = nn.Parameter(torch.randn(S, D) * 0.5) if R["positionTokens"] else None
            self.layers = nn.ModuleList(ResamplerLayer(R["heads"], R["ffnDim"]) for _ in range(R["layers"]))
            self.norm = nn.LayerNorm(D)
        def forward(self, frames, mask):
            change = frames - frames[:, :1]
            if self.pos is not None:
                change = change + change * self.pos
            x = frames + R["frameDifference"] * change if R["frameDifference"] else frames
            x = (x + self.time[None, :, None, :]).reshape(B * E, k * S, D)
            lat = self.latents.expand(B * E, Lt, D)
            for l in self.layers:
                lat = l(lat, x, mask)
            return self.norm(lat).reshape(B, E * Lt, D)

    agg = Resampler()
    video = nn.ModuleList(CrossLayer(cfg["crossFfnDim"]) for _ in cfg["videoAt"])
    image = nn.ModuleList(FedCrossLayer(cfg["imageFfnDim"]) for _ in cfg["imageAt"])
    learnable = nn.Parameter(torch.randn(cfg["learnable"], D) * 0.02)
    for p in [*image.parameters(), learnable]:
        p.requires_grad_(False)
    frames = torch.randn(B, Fr, S, D)
    rmask = torch.ones(B * E, 1, 1, k * S + Lt, dtype=torch.bool)
    kvs = [(torch.randn(B, K, S, Dh), torch.randn(B, K, S, Dh)) for _ in cfg["imageAt"]]
    xmask = torch.zeros(B, 1, T, S, dtype=torch.bool); xmask[:, :, 1:] = True  # text from <|image|> at 1 on sees the clip
    vmask = torch.zeros(B, 1, T, E * Lt, dtype=torch.bool); vmask[:, :, 1:] = True
    rows = xmask.any(-1, keepdim=True).float()
    tok, at_image = image_prompt(B, T, V)

    def loss_fn(core):
        vt = agg(frames, rmask)
        x = torch.where(at_image, learnable[0].expand(B, T, D), core.emb(tok))
        def before(i, h):
            for j, c in enumerate(cfg["videoAt"]):  # the video layer runs before the image layer at the same core layer
                if c == i:
                    h = video[j](h, vt, vmask, rows)
            for j, c in enumerate(cfg["imageAt"]):
                if c == i:
                    h = image[j](h, *kvs[j], xmask, rows)
            return h
        return core(x, before)
    return [*agg.parameters(), *video.parameters()], loss_fn


class ConformerBlock(nn.Module):
    def __init__(self, d, heads, ff, kernel):
        super().__init__()
        self.ff1 = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, ff), nn.SiLU(), nn.Linear(ff, d))
        self.ff2 = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, ff), nn.SiLU(), nn.Linear(ff, d))
        self.na, self.nc, self.nf = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.ModuleList(nn.Linear(d, d) for _ in range(3)); self.o = nn.Linear(d, d)
        self.pw1, self.dw = nn.Conv1d(d, 2 * d, 1), nn.Conv1d(d, d, kernel, padding=kernel // 2, groups=d)
        self.bn, self.pw2 = nn.LayerNorm(d), nn.Conv1d(d, d, 1)
        self.heads = heads
    def forward(self, x, cos, sin, mask, keep):
        b, n, d = x.shape
        x = x + 0.5 * self.ff1(x)
        h = self.na(x)
        q, k, v = (m(h).view(b, n, self.heads, d // self.heads).transpose(1, 2) for m in self.qkv)
        x = x + self.o(attend(rope(q, cos, sin), rope(k, cos, sin), v, mask).transpose(1, 2).reshape(b, n, d))
        c = (self.nc(x) * keep).transpose(1, 2)
        c = F.glu(self.pw1(c), 1)
        c = F.silu(self.bn(self.dw(c).transpose(1, 2)).transpose(1, 2))
        x = x + self.pw2(c).transpose(1, 2)
        x = x + 0.5 * self.ff2(x)
        return self.nf(x)


def speech_model():
    E, A_ = cfg["encoder"], cfg["adapter"]
    d, stack, Fr = E["dim"], E["stack"], cfg["frames"]
    S = Fr // stack
    A = (S + 2 - 3) // 2 + 1

    class Speech(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(E["nMels"] * stack, d)
            self.blocks = nn.ModuleList(ConformerBlock(d, E["nHeads"], E["ffnDim"], E["convKernel"]) for _ in range(E["nLayers"]))
            a = A_["dim"]
            self.conv = nn.Conv1d(d, a, 3, 2, padding=1)
            self.n1, self.n2 = RMSNorm(a), RMSNorm(a)
            self.qkv = nn.ModuleList(nn.Linear(a, a, bias=False) for _ in range(3)); self.o = nn.Linear(a, a, bias=False)
            self.w1, self.w3, self.w2 = nn.Linear(a, A_["ffnDim"], bias=False), nn.Linear(a, A_["ffnDim"], bias=False), nn.Linear(A_["ffnDim"], a, bias=False)
            self.proj = nn.Linear(a, D)
            self.markers = nn.Parameter(torch.randn(2, D) * 0.02)
        def forward(self, feats, valid):
            b = feats.shape[0]
            x = self.inp(feats.view(b, S, stack * E["nMels"]))
            cos, sin = rope_tables(S, d // E["nHeads"], E["ropeTheta"])
            m = (valid[:, None, None, :] & valid[:, None, :, None])
            keep = valid[..., None].float()
            for blk in self.blocks:
                x = blk(x, cos, sin, m, keep)
            y = self.conv((x * keep).transpose(1, 2)).transpose(1, 2)  # [B, A, a]
            ah = A_["nHeads"]; a = A_["dim"]
            c2, s2 = rope_tables(A, a // ah, A_["ropeTheta"])
            h = self.n1(y)
            q, k, v = (mm(h).view(b, A, ah, a // ah).transpose(1, 2) for mm in self.qkv)
            vA = valid[:, ::2][:, :A]
            y = y + self.o(attend(rope(q, c2, s2), rope(k, c2, s2), v, vA[:, None, None, :]).transpose(1, 2).reshape(b, A, a))
            h = self.n2(y)
            y = y + self.w2(F.silu(self.w1(h)) * self.w3(h))
            return self.proj(y)

    sp = Speech()
    feats = torch.randn(B, Fr, E["nMels"])
    valid = torch.ones(B, S, dtype=torch.bool); valid[B // 2:, S * 3 // 4:] = False
    tok = torch.randint(0, V, (B, T))
    # <start> at 8, the A frames after it, <end> after them (as the chat prompt places them).
    index = torch.full((B, T), -1, dtype=torch.long)
    index[:, 8] = -2; index[:, 9 + A] = -3
    for b in range(B):
        index[b, 9:9 + A] = b * A + torch.arange(A)

    def loss_fn(core):
        audio = sp(feats, valid).reshape(B * A, D)
        x = core.emb(tok)
        x = torch.where((index >= 0)[..., None], audio[index.clamp(min=0)], x)
        x = torch.where((index == -2)[..., None], sp.markers[0], x)
        x = torch.where((index == -3)[..., None], sp.markers[1], x)
        return core(x)
    return list(sp.parameters()), loss_fn


# Everything (modules, inputs, masks) is made on DEVICE; the default-device scope (torch 2.x) is left
# before timing, since inside it every torch call goes through a Python dispatch mode.
with (torch.device(DEVICE) if DEVICE != "cpu" else contextlib.nullcontext()):
    core = Core()
    for p in core.parameters():
        p.requires_grad_(False)
    trained, loss_fn = {"vision": vision_model, "speech": speech_model, "video": video_model}[cfg["model"]]()
    opt = torch.optim.AdamW(trained, lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.01)
    tgt = torch.randint(0, V, (B, T))
    tgt[:, : T // 2] = -100


def step():
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(loss_fn(core).reshape(-1, V), tgt.reshape(-1), ignore_index=-100)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trained, 1.0)
    opt.step()
    return loss


def sync():
    # CUDA kernels run asynchronously: a step's time is only complete once the device is done.
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed(n_threads):
    torch.set_num_threads(n_threads)
    for _ in range(cfg["warmup"]):
        step()
    sync()
    times = []
    for _ in range(cfg["steps"]):
        t0 = time.perf_counter(); step(); sync(); times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2], times[0]


# A peer at its best: on CPU try 1 thread and every core, keep the faster.
counts = sorted({1, cfg.get("threads") or os.cpu_count()}) if DEVICE == "cpu" else [torch.get_num_threads()]
runs = {n: timed(n) for n in counts}
best = min(runs, key=lambda n: runs[n][0])
print(json.dumps({
    "impl": f"pytorch {torch.__version__}", "device": DEVICE, "threads": best,
    "msPerStep": runs[best][0], "minMs": runs[best][1], "byThreads": {str(n): runs[n][0] for n in runs},
    "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "trainedParams": sum(p.numel() for p in trained),
    **({"gpu": torch.cuda.get_device_name(), "peakCudaMiB": torch.cuda.max_memory_allocated() / 2**20} if DEVICE == "cuda" else {}),
}))
