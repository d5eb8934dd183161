#!/usr/bin/env python3
"""Greedy generation with a herd export from Python, using only the export's files.

    python3 run_export.py --ids 128000,128006,882,128007,271,...   [--export DIR] [--max-tokens 32]
                          [--engine onnxruntime|reference] [--logits]

`herd export` writes this file beside decoder.onnx, manifest.json and tokenizer.json. It feeds the
decoder exactly as `manifest.json` says (`decoder.step`: KV cache, positions, causal mask, lastIndex;
every modality's `recipe.idle` values for the inputs of modalities not used: text-only prompts) and
decodes the answer with tokenizer.json. Prompt ids are model ids (after the pruned vocabulary);
give full Llama 3 ids (from tiktoken or transformers' Llama 3 tokenizer) with --full-ids instead.

Engines: `onnxruntime` (pip install onnxruntime numpy) or `reference`, the ONNX reference evaluator of
the `onnx` package (Debian: apt-get install python3-onnx; slow, for checking). Prints one JSON object:
{"engine", "ids", "text", "lastLogits"?: the logits of the last prompt token}.
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np

DTYPES = {"f32": np.float32, "i32": np.int32, "bool": np.bool_}


def byte_decoder():
    """GPT-2's byte <-> printable character table, inverted (tokenizer.json's bpe strings use it)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


class Runner:
    def __init__(self, path, engine):
        self.engine = engine
        if engine == "onnxruntime":
            import onnxruntime as ort
            self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            self.outputs = [o.name for o in self.session.get_outputs()]
        else:
            from onnx.reference import ReferenceEvaluator
            self.session = ReferenceEvaluator(path)
            self.outputs = list(self.session.output_names)

    def run(self, feeds):
        return dict(zip(self.outputs, self.session.run(None, feeds)))


def load_graph(export_dir, entry, engine):
    path = os.path.join(export_dir, entry["file"])
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != entry["sha256"]:
        sys.exit(f"{path}: sha256 {digest} differs from the manifest's {entry['sha256']}; re-export")
    return Runner(path, engine)


def idle_feeds(manifest, T):
    """Every modality's decoder inputs at its recipe's idle value (B = 1, T rows, other symbolic dims 1)."""
    inputs = {i["name"]: i for i in manifest["decoder"]["inputs"]}
    feeds = {}
    for name, modality in manifest["modalities"].items():
        for input_name, value in modality["recipe"].get("idle", {}).items():
            spec = inputs[input_name]
            dims = [1 if d == "B" else T if d == "T" else (d if isinstance(d, int) else 1) for d in spec["shape"]]
            feeds[input_name] = np.full(dims, value, dtype=DTYPES[spec["dtype"]])
    return feeds


def generate(export_dir, prompt, max_tokens, engine):
    with open(os.path.join(export_dir, "manifest.json")) as f:
        manifest = json.load(f)
    if manifest.get("format") != "herd.onnx-export" or manifest.get("version") != 1:
        sys.exit(f"{export_dir}/manifest.json: not a herd.onnx-export v1 manifest")
    step = manifest["decoder"]["step"]
    decoder = load_graph(export_dir, manifest["decoder"], engine)
    stops = set(manifest["tokenizer"]["stopIds"])
    L, K, Dh = step["layers"], step["kvHeads"], step["headDim"]
    cache = {}
    for l in range(L):
        cache[f"past.k.{l}"] = np.zeros((1, K, 0, Dh), np.float32)
        cache[f"past.v.{l}"] = np.zeros((1, K, 0, Dh), np.float32)
    past, fed, out, first_logits = 0, list(prompt), [], None
    if len(prompt) + max_tokens > step["contextTokens"]:
        sys.exit(f"prompt ({len(prompt)} tokens) + {max_tokens} exceeds the context of {step['contextTokens']}")
    for _ in range(max_tokens):
        T = len(fed)
        S = past + T
        mask = np.zeros((1, 1, T, S), np.bool_)
        for i in range(T):
            mask[0, 0, i, : past + i + 1] = True
        feeds = {
            **cache,
            **idle_feeds(manifest, T),
            "tokens": np.array([fed], np.int32),
            "positions": np.arange(past, past + T, dtype=np.int32)[None, :],
            "mask": mask,
            "lastIndex": np.array([T - 1], np.int32),
        }
        result = decoder.run(feeds)
        logits = np.asarray(result["logits"]).reshape(-1)
        if first_logits is None:
            first_logits = logits.astype(float).tolist()
        nxt = int(np.argmax(logits))  # first index on ties, as the manifest says
        cache = {}
        for l in range(L):
            cache[f"past.k.{l}"] = result[f"present.k.{l}"]
            cache[f"past.v.{l}"] = result[f"present.v.{l}"]
        past = S
        if nxt in stops:
            break
        out.append(nxt)
        fed = [nxt]
    return manifest, out, first_logits


def decode(export_dir, manifest, ids):
    with open(os.path.join(export_dir, manifest["tokenizer"]["file"])) as f:
        tok = json.load(f)
    full = [tok["pruned"]["ids"][i] for i in ids] if tok.get("pruned") else ids
    table = byte_decoder()
    data = bytearray()
    for i in full:
        if i < len(tok["bpe"]):
            data.extend(table[c] for c in tok["bpe"][i])
        else:
            data.extend(tok["specials"][i - len(tok["bpe"])].encode())
    return data.decode("utf-8", errors="replace")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--export", default=os.path.dirname(os.path.abspath(__file__)), help="the export folder (default: this file's)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--ids", help="prompt as comma-separated model ids")
    g.add_argument("--full-ids", help="prompt as comma-separated full Llama 3 ids (mapped through the pruned vocabulary)")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--engine", choices=["onnxruntime", "reference"], default="onnxruntime")
    p.add_argument("--logits", action="store_true", help="also print the logits of the last prompt token")
    a = p.parse_args()
    ids = [int(x) for x in (a.ids or a.full_ids).split(",") if x.strip()]
    if a.full_ids:
        with open(os.path.join(a.export, "tokenizer.json")) as f:
            pruned = json.load(f).get("pruned")
        if pruned:
            index = {full: i for i, full in enumerate(pruned["ids"])}
            ids = [index.get(i, index.get(pruned["unknownId"], 0)) for i in ids]
    manifest, out, logits = generate(a.export, ids, a.max_tokens, a.engine)
    result = {"engine": a.engine, "ids": out, "text": decode(a.export, manifest, out)}
    if a.logits:
        result["lastLogits"] = logits
    print(json.dumps(result))


if __name__ == "__main__":
    main()
