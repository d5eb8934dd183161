"""PyTorch peer of bench/src/engine-step.ts: the same Llama-style pre-norm transformer (RMSNorm,
RoPE rotate-half, causal attention, SwiGLU, untied head) and the same AdamW step, timed the same
way. Prints one JSON line. Used only as the comparison in the benchmark table."""
import json, math, os, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
device = cfg.get("device", "cpu")
torch.manual_seed(0)
D, L, H, FF, V, B, T = cfg["dim"], cfg["nLayers"], cfg["nHeads"], cfg["ffnDim"], cfg["vocab"], cfg["batch"], cfg["seqLen"]
Dh = D // H


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d)); self.eps = eps
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w


def rope(x, cos, sin):
    x1, x2 = x[..., : Dh // 2], x[..., Dh // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(D), RMSNorm(D)
        self.q, self.k, self.v, self.o = (nn.Linear(D, D, bias=False) for _ in range(4))
        self.w1, self.w3 = nn.Linear(D, FF, bias=False), nn.Linear(D, FF, bias=False)
        self.w2 = nn.Linear(FF, D, bias=False)
    def forward(self, x, cos, sin, mask):
        h = self.n1(x)
        q = rope(self.q(h).view(B, T, H, Dh).transpose(1, 2), cos, sin)
        k = rope(self.k(h).view(B, T, H, Dh).transpose(1, 2), cos, sin)
        v = self.v(h).view(B, T, H, Dh).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(Dh)
        s = s.masked_fill(~mask, -1e9)
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.o(a)
        h = self.n2(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.norm = RMSNorm(D)
        self.head = nn.Linear(D, V, bias=False)
    def forward(self, tok, cos, sin, mask):
        x = self.emb(tok)
        for b in self.blocks:
            x = b(x, cos, sin, mask)
        return self.head(self.norm(x))


model = Model().to(device)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.01)
inv = 1.0 / (500000.0 ** (torch.arange(0, Dh, 2).float() / Dh))
ang = torch.arange(T).float()[:, None] * inv[None, :]
ang = torch.cat([ang, ang], -1)
cos, sin = ang.cos().to(device), ang.sin().to(device)
mask = torch.ones(T, T, dtype=torch.bool).tril().to(device)
tok = torch.randint(0, V, (B, T), device=device)
tgt = torch.randint(0, V, (B, T), device=device)


def step():
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(tok, cos, sin, mask).view(-1, V), tgt.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss


def sync():
    if device == "cuda":
        torch.cuda.synchronize()


def timed(n_threads):
    """Median and best step time with n_threads intra-op threads."""
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
counts = sorted({1, cfg.get("threads") or os.cpu_count()}) if device == "cpu" else [torch.get_num_threads()]
runs = {n: timed(n) for n in counts}
best = min(runs, key=lambda n: runs[n][0])
print(json.dumps({
    "impl": f"pytorch {torch.__version__}", "device": device, "threads": best,
    "msPerStep": runs[best][0], "minMs": runs[best][1],
    "byThreads": {str(n): runs[n][0] for n in runs},
    "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "params": sum(p.numel() for p in model.parameters()),
}))
