"""Reads a folder written by vision-tokens.mjs (round 23): meta, scenes, features, cells, ink and the adapter weights.

Shared by vision-tokens.py and vision-xattn.py. Legend: S scenes, N tile slots, P tokens per tile, Dv encoder width.
"""
import json

import numpy as np


def read_vision_dump(d, weights_dtype=np.float32):
    meta = json.load(open(f'{d}/meta.json'))
    scenes = json.load(open(f'{d}/scenes.json'))
    S = len(scenes)
    N, P, Dv = meta['featureShape']
    X = np.fromfile(f'{d}/features.f32', dtype=np.float32).reshape(S, N * P, Dv)
    cells = np.fromfile(f'{d}/cells.i8', dtype=np.int8).reshape(S, N * P)
    ink = np.fromfile(f'{d}/ink.f32', dtype=np.float32).reshape(S, N * P)
    wraw = np.fromfile(f'{d}/weights.f32', dtype=np.float32)
    W = {k: wraw[v['offset']:v['offset'] + int(np.prod(v['shape']))].reshape(v['shape']).astype(weights_dtype) for k, v in meta['weights'].items()}
    return meta, scenes, X, cells, ink, W
