// The mini herd in the page: an export (manifest.json + ONNX files + tokenizer.json, as `herd export`
// writes them and the chat server serves them under /model/) run with onnxruntime-web, greedy decoding
// with a KV cache exactly as the manifest's decoder.step says. One prompt holds every medium of the
// conversation (herd.plan → prompt-plan.ts, the server's own layout): images through the vision
// encoder graph (keys/values for the vision checkpoint's image layers), each clip through the video
// frame graph and the aggregator (video tokens for the video cross-attention, its middle frame's
// keys/values for the video model's own image layers, `video.image.`), each utterance
// through the speech encoder graph (spliced in the decoder by audioIndex); the rows of the
// masks come from herd.decoderRows — the server runs the same export with the same code
// (composed.ts), so the answers are the server's. `ort` is passed in (the page imports
// /ort/ort.min.mjs; tests pass onnxruntime-web for Node), and so is `herd`: herd's own tokenizer and
// tiling (src/web/entry.ts — the page imports the server's browser bundle of it, /web/herd.js; tests
// import the entry itself), so this file has no other dependency and no copy of herd's code.

/** Conversation history kept in the page, bounded like the server's: 40 turns, media (image, audio, clip) on the last 2 user turns. */
export const MAX_TURNS = 40;
export const MAX_IMAGES = 2;

export class WebEngine {
  constructor(ort, herd, manifest, tokenizer, decoder, encoder, backend, bytes, speechEncoder = null, videoFrames = null, videoAggregator = null) {
    this.ort = ort;
    this.herd = herd;
    this.manifest = manifest;
    this.tok = tokenizer;
    this.decoder = decoder;
    this.encoder = encoder;
    this.backend = backend;
    this.bytes = bytes;
    this.step = manifest.decoder.step;
    this.vision = manifest.modalities.vision?.recipe ?? null;
    this.speech = manifest.modalities.speech?.recipe ?? null;
    this.video = manifest.modalities.video?.recipe ?? null;
    if (this.video && !this.video.image) throw new Error('manifest.json: the video part does not carry its own image layers (an export made before round 28): re-export it');
    this.speechEncoder = speechEncoder;
    this.videoFrames = videoFrames;
    this.videoAggregator = videoAggregator;
  }

  /** What this export answers about, beside text. */
  get media() {
    return { image: this.vision !== null, audio: this.speech !== null, clip: this.video !== null };
  }

  /**
   * Loads an export from `base` (a URL prefix ending in '/'). `backend` 'wasm' or 'webgpu';
   * `progress(text)` hears what is loading.
   */
  static async load(ort, base, { herd, backend = 'wasm', fetch: get = fetch, progress = () => {} } = {}) {
    if (!herd?.WebTokenizer) throw new Error('WebEngine.load: pass herd (the module /web/herd.js)');
    const fetchOk = async (name) => {
      const r = await get(base + name);
      if (!r.ok) throw new Error(`${base}${name}: HTTP ${r.status}`);
      return r;
    };
    progress('manifest');
    const manifest = await (await fetchOk('manifest.json')).json();
    if (manifest.format !== 'herd.onnx-export' || manifest.version !== 1) throw new Error(`manifest.json: format ${manifest.format} v${manifest.version}, expected herd.onnx-export v1`);
    progress('tokenizer');
    const tokenizer = new herd.WebTokenizer(await (await fetchOk(manifest.tokenizer.file)).json());
    // Severity 3 (errors): not the warning that shape ops stay on the CPU under WebGPU (ORT's design).
    const options = { executionProviders: [backend], graphOptimizationLevel: 'all', logSeverityLevel: 3 };
    let bytes = 0;
    const session = async (entry) => {
      progress(`${entry.file} (${(entry.bytes / 1e6).toFixed(1)} MB)`);
      const data = new Uint8Array(await (await fetchOk(entry.file)).arrayBuffer());
      if (data.length !== entry.bytes) throw new Error(`${entry.file}: ${data.length} bytes, the manifest says ${entry.bytes}`);
      bytes += data.length;
      return ort.InferenceSession.create(data, options);
    };
    const decoder = await session(manifest.decoder);
    const graph = async (modality, role) => {
      const entry = manifest.modalities[modality]?.graphs[role];
      return entry ? session(entry) : null;
    };
    const encoder = await graph('vision', 'encoder');
    const speechEncoder = await graph('speech', 'encoder');
    const videoFrames = await graph('video', 'frames');
    const videoAggregator = await graph('video', 'aggregator');
    return new WebEngine(ort, herd, manifest, tokenizer, decoder, encoder, backend, bytes, speechEncoder, videoFrames, videoAggregator);
  }

  get contextTokens() {
    return this.step.contextTokens;
  }

  /** Tiles an RGB image ({data, width, height}) as the export's recipe says. */
  prepareImage(rgb) {
    if (!this.vision) throw new Error('this export has no vision encoder: it answers text only');
    return this.herd.tileImage(rgb, this.vision.preprocess, this.vision.maxTiles);
  }

  /**
   * Mono float samples at 16 kHz (herd's decoding: `decodeAudioBytes` in the page) → log-mel features
   * as the speech recipe says; longer than the export takes is refused, as the server refuses it.
   */
  prepareAudio(samples, name = 'audio') {
    if (!this.speech) throw new Error('this export has no speech encoder: it does not take audio');
    const rate = this.speech.preprocess.logMel.sampleRate;
    if (samples.length / rate > this.speech.maxSeconds) throw new Error(`${name}: ${(samples.length / rate).toFixed(2)} s of audio is over the ${this.speech.maxSeconds} s limit (cut it, or raise maxSeconds)`);
    return this.herd.logMel(samples, this.speech.maxFrames, name);
  }

  /** A clip's sampled RGB frames ({data, width, height}, the video recipe's count) → each tiled as its own image model tiles an image (the video recipe's `image`). */
  prepareClip(frames) {
    if (!this.video) throw new Error('this export has no video frame graph: it does not take clips');
    if (frames.length !== this.video.frames) throw new Error(`a clip needs ${this.video.frames} frames, got ${frames.length}`);
    const im = this.video.image;
    return { frames: frames.map((f) => this.herd.tileImage(f, im.preprocess, im.maxTiles)) };
  }

  /** The prompt plan for turns {role, text, image?, audio?, clip?}: the server's layout (herd.plan; every medium in one prompt). */
  plan(turns) {
    const stack = this.speech?.preprocess.stack;
    return this.tok.plan(turns.map((t) => ({
      role: t.role,
      text: t.text,
      image: t.image !== undefined,
      clip: t.clip !== undefined,
      audioTokens: t.audio && this.speech ? this.herd.audioTokensOf(t.audio.frames, stack) : undefined,
    })), { imageId: this.vision?.imageTokenId ?? this.video?.image.imageTokenId, adapterFrames: this.speech?.adapterFrames });
  }

  /** The conversation as model ids (see `plan`). */
  promptIds(turns) {
    return this.plan(turns).ids;
  }

  /** Drops the oldest exchanges until prompt + answer fit the context (as the server does). */
  fit(turns, maxTokens) {
    let t = turns;
    while (this.promptIds(t).length + maxTokens > this.contextTokens) {
      if (t.length === 1) throw new Error(`the message takes ${this.promptIds(t).length} tokens and the answer up to ${maxTokens}; the context is ${this.contextTokens}`);
      t = t.slice(2 <= t.length - 1 ? 2 : 1);
    }
    return t;
  }

  tensor(type, data, dims) {
    return new this.ort.Tensor(type, data, dims);
  }

  /** `vision.encoder` on one tiled image: every adapter layer's keys/values [1, K, tokensPerImage, Dh]. */
  async imageKv(im) {
    const v = this.vision;
    const T = v.preprocess.tileSize;
    return this.encoder.run({
      pixels: this.tensor('float32', im.pixels, [1, v.maxTiles, 3, T, T]),
      aspectRatioIds: this.tensor('int32', Int32Array.from([im.aspectRatioId]), [1]),
      tileMask: this.tensor('bool', im.tileMask, [1, v.maxTiles]),
      // A checkpoint with place embeddings: each token's row / column bin (herd's recipePlaceInputs, in the bundle).
      ...(im.places ? { placeRow: this.tensor('int32', im.places.placeRow, im.places.dims), placeCol: this.tensor('int32', im.places.placeCol, im.places.dims) } : {}),
      // A checkpoint with a silhouette stream: the image's silhouette (herd's recipeSilhouettePixels, in the bundle).
      ...(im.silhouettePixels ? { silhouettePixels: this.tensor('float32', im.silhouettePixels, [1, v.maxTiles, 3, T, T]) } : {}),
    });
  }

  /**
   * One set of image layers' keys/values of its slots (in prompt order; each named as the set's
   * decoder inputs), concatenated along S; S = 1 zeros for none. `v`: the set's recipe (the vision
   * recipe, or the video recipe's `image`).
   */
  concatKeysValues(v, perSlot) {
    const K = v.kvHeads;
    const Dh = v.headDim;
    const s1 = v.tokensPerImage;
    const S = perSlot.length === 0 ? 1 : s1 * perSlot.length;
    const out = {};
    for (let j = 0; j < v.adapterLayers; j++) {
      for (const name of [v.decoderInputs.keys, v.decoderInputs.values].map((p) => p.replace('{adapterLayer}', String(j)))) {
        // [1, K, s1, Dh] per slot → [1, K, S, Dh]
        const data = new Float32Array(K * S * Dh);
        perSlot.forEach((o, i) => {
          const src = o[name].data;
          for (let k = 0; k < K; k++) data.set(src.subarray(k * s1 * Dh, (k + 1) * s1 * Dh), (k * S + i * s1) * Dh);
        });
        out[name] = this.tensor('float32', data, [1, K, S, Dh]);
      }
    }
    return out;
  }

  /** ort float32 tensors [1, n_i, D] side by side along dim 1 → [1, Σn_i, D] (several clips' video tokens, several utterances' frames). */
  concatRows(parts) {
    if (parts.length === 1) return parts[0];
    const D = parts[0].dims[2];
    const n = parts.reduce((a, t) => a + t.dims[1], 0);
    const data = new Float32Array(n * D);
    let at = 0;
    for (const t of parts) {
      data.set(t.data, at);
      at += t.data.length;
    }
    return this.tensor('float32', data, [1, n, D]);
  }

  /** The decoder inputs of the modalities `unused` (speech, video) filled with their recipes' idle values, for T rows fed now. */
  idleFeeds(T, unused) {
    const types = { f32: ['float32', Float32Array], i32: ['int32', Int32Array], bool: ['bool', Uint8Array] };
    const feeds = {};
    const idle = unused.flatMap((name) => Object.entries(this.manifest.modalities[name]?.recipe.idle ?? {}));
    for (const [name, value] of idle) {
      const spec = this.manifest.decoder.inputs.find((i) => i.name === name);
      if (!spec) throw new Error(`manifest: the decoder has no input '${name}' named by a modality's idle feeds`);
      // Other symbolic dims (how many image, video or audio rows) idle at 1.
      const dims = spec.shape.map((d) => (d === 'B' ? 1 : d === 'T' ? T : typeof d === 'string' ? 1 : d));
      const [type, Ctor] = types[spec.dtype];
      feeds[name] = this.tensor(type, new Ctor(dims.reduce((a, b) => a * b, 1)).fill(Number(value)), dims);
    }
    return feeds;
  }

  /**
   * The speech encoder graph on one utterance's features: `speech.frames` [1, A, D], run once per
   * answer; the recipe: features zero-padded to maxFrames, featureValid true for ⌈frames/stack⌉.
   */
  async speechFrames(audio) {
    const r = this.speech;
    const nMels = r.preprocess.logMel.nMels;
    const features = new Float32Array(r.maxFrames * nMels);
    features.set(audio.features.subarray(0, audio.frames * nMels));
    const valid = new Uint8Array(r.maxFrames / r.preprocess.stack).fill(1, 0, Math.ceil(audio.frames / r.preprocess.stack));
    const out = await this.speechEncoder.run({
      features: this.tensor('float32', features, [1, r.maxFrames, nMels]),
      featureValid: this.tensor('bool', valid, [1, valid.length]),
    });
    return { frames: out['speech.frames'], ctc: r.ctc ? out[r.ctc.output] : null };
  }

  /**
   * A clip through the frame graph (every frame: features; the middle frame: the image layers'
   * keys/values), features rounded to f16 and back (the recipe), then the aggregator: video.tokens.
   */
  async clipContext(clip) {
    const v = this.video;
    const T = v.image.preprocess.tileSize;
    const N = v.image.maxTiles;
    const F = v.frames;
    const one = T * T * 3 * N;
    const pixels = new Float32Array(F * one);
    const mask = new Uint8Array(F * N);
    clip.frames.forEach((f, i) => {
      pixels.set(f.pixels, i * one);
      mask.set(f.tileMask, i * N);
    });
    const out = await this.videoFrames.run({
      pixels: this.tensor('float32', pixels, [F, N, 3, T, T]),
      aspectRatioIds: this.tensor('int32', Int32Array.from(clip.frames, (f) => f.aspectRatioId), [F]),
      tileMask: this.tensor('bool', mask, [F, N]),
    });
    const S = v.tokensPerFrame;
    const D = out.features.dims[2];
    const nTiles = clip.frames[0].nTiles;
    const tokens = (await this.videoAggregator.run({
      'video.frames': this.tensor('float32', this.herd.roundF16(out.features.data), [1, F, S, D]),
      'video.frameMask': this.tensor('bool', new Uint8Array(S).fill(1, 0, nTiles * v.tokensPerTile), [1, S]),
      // frameLayout 'canvas' (the video recipe): the aggregator also takes the clip's canvas.
      ...(v.frameLayout === 'canvas' ? { 'video.aspectRatioId': this.tensor('int32', Int32Array.from([clip.frames[0].aspectRatioId]), [1]) } : {}),
    }))['video.tokens'];
    const kv = Object.fromEntries(Object.entries(out).filter(([n]) => n !== 'features'));
    return { tokens, kv, nTiles, S };
  }

  /**
   * Streams the answer to a conversation as {id, text}; greedy. Stops before a stop id, after
   * `maxTokens`, or when `signal` aborts (a joint transcription rejects with its reason). Turns: {role, text, image?, audio?, clip?} with media
   * prepared by prepareImage / prepareAudio / prepareClip. A transcription (the last turn an utterance
   * alone) on an export with the CTC head's output is decoded jointly with it, as the server does
   * (`jointCtc` {weight, beam}: default herd's validated setting; weight 0 = greedy alone), then streamed.
   */
  async *generate(turns, { maxTokens, signal, jointCtc = { weight: this.herd.JOINT_CTC_WEIGHT, beam: this.herd.JOINT_CTC_BEAM } } = {}) {
    const plan = this.plan(turns);
    const prompt = plan.ids;
    const st = this.step;
    if (prompt.length + maxTokens > st.contextTokens) throw new Error(`prompt (${prompt.length} tokens) + ${maxTokens} exceeds the context of ${st.contextTokens}`);
    const V = st.vocab;
    // Every medium of the prompt at once (the plan): each image slot, each clip, each utterance.
    const clips = [];
    for (const i of plan.clipTurns) clips.push(await this.clipContext(turns[i].clip));
    const utterances = [];
    for (const i of plan.audioTurns) utterances.push(await this.speechFrames(turns[i].audio));
    const videoTokens = clips.length > 0 ? this.concatRows(clips.map((c) => c.tokens)) : null;
    const speech = utterances.length > 0 ? this.concatRows(utterances.map((u) => u.frames)) : null;
    // Images go to the vision layers, clips' middle frames to the video model's own image layers.
    if (plan.slots.some((s) => s.kind === 'image') && !this.vision) throw new Error('an image in the conversation, but this export has no vision encoder');
    const images = [];
    const nTiles = [];
    for (const s of plan.slots) {
      if (s.kind === 'clip') {
        nTiles.push(clips[s.clip].nTiles);
      } else {
        const im = turns[s.turn].image;
        images.push(await this.imageKv(im));
        nTiles.push(im.nTiles);
      }
    }
    const kv = this.vision ? this.concatKeysValues(this.vision, images) : null;
    const clipKv = videoTokens ? this.concatKeysValues(this.video.image, clips.map((c) => c.kv)) : null;
    const unused = ['speech', 'video'].filter((m) => (m === 'speech' ? !speech : !videoTokens));
    const vi = this.video?.image;
    const layout = {
      vocab: V,
      imageTokenId: this.vision?.imageTokenId ?? vi?.imageTokenId ?? -1,
      ...(this.vision ? { image: { maxTiles: this.vision.maxTiles, tokensPerTile: this.vision.tokensPerTile } } : {}),
      ...(vi ? { clip: { maxTiles: vi.maxTiles, tokensPerTile: vi.tokensPerTile, videoTokens: this.video.videoTokens } } : {}),
    };
    const stops = new Set(this.manifest.tokenizer.stopIds);
    const stream = this.tok.streamDecoder();
    // One decoder call: `fed` after the `past` cached positions → the last row's logits and the grown cache.
    const step = async ({ cache, past }, fed) => {
      const T = fed.length;
      const S = past + T;
      const mask = new Uint8Array(T * S);
      for (let i = 0; i < T; i++) for (let j = 0; j <= past + i; j++) mask[i * S + j] = 1;
      const feeds = {
        ...cache,
        tokens: this.tensor('int32', Int32Array.from(fed, (t) => (t >= V ? 0 : t)), [1, T]),
        positions: this.tensor('int32', Int32Array.from({ length: T }, (_, i) => past + i), [1, T]),
        mask: this.tensor('bool', mask, [1, 1, T, S]),
        lastIndex: this.tensor('int32', Int32Array.from([T - 1]), [1]),
        ...this.idleFeeds(T, unused),
      };
      // The masks and audioIndex of these rows: herd's own rule (decoderRows, shared with the server).
      const rows = this.herd.decoderRows(plan, nTiles, layout, past, T);
      const set = (r, x) => {
        feeds[r.decoderInputs.mask] = this.tensor('bool', x.xattnMask, [1, 1, T, x.imageTokens]);
        feeds[r.decoderInputs.learnableIds] = this.tensor('int32', x.learnableIds, [1, T]);
      };
      if (kv) {
        Object.assign(feeds, kv);
        set(this.vision, rows.image);
      }
      if (videoTokens) {
        Object.assign(feeds, clipKv);
        set(vi, rows.clip);
        feeds['video.tokens'] = videoTokens;
        feeds['video.mask'] = this.tensor('bool', rows.clip.videoMask, [1, 1, T, videoTokens.dims[1]]);
      }
      if (speech) {
        feeds['speech.frames'] = speech;
        feeds.audioIndex = this.tensor('int32', rows.audioIndex, [1, T]);
      }
      const out = await this.decoder.run(feeds);
      const logits = Float32Array.from(out.logits.data);
      out.logits.dispose?.();
      const next = {};
      for (let l = 0; l < st.layers; l++) {
        next[`past.k.${l}`] = out[`present.k.${l}`];
        next[`past.v.${l}`] = out[`present.v.${l}`];
      }
      return { logits, state: { cache: next, past: S } };
    };
    let cache = {};
    for (let l = 0; l < st.layers; l++) {
      cache[`past.k.${l}`] = this.tensor('float32', new Float32Array(0), [1, st.kvHeads, 0, st.headDim]);
      cache[`past.v.${l}`] = this.tensor('float32', new Float32Array(0), [1, st.kvHeads, 0, st.headDim]);
    }
    const t = plan.transcribe;
    const ctc = t ? utterances[t.utterance].ctc : null;
    if (t && ctc && jointCtc.weight > 0) {
      // Beam hypotheses share caches: nothing is disposed here (the WASM backend's outputs are plain arrays).
      const first = await step({ cache, past: 0 }, prompt);
      const ids = await this.herd.jointTranscribe(first, (state, token) => step(state, [token]), ctc, t.audioTokens, { ...jointCtc, maxNewTokens: maxTokens, stopTokens: [...stops], ...(signal ? { signal } : {}) });
      for (const id of ids) {
        if (signal?.aborted || stops.has(id)) break;
        yield { id, text: stream.push(id) };
      }
    } else {
      let state = { cache, past: 0 };
      let fed = prompt;
      for (let n = 0; n < maxTokens; n++) {
        if (signal?.aborted) return;
        const out = await step(state, fed);
        let next = 0;
        for (let i = 1; i < out.logits.length; i++) if (out.logits[i] > out.logits[next]) next = i;
        for (const c of Object.values(state.cache)) c.dispose?.();
        state = out.state;
        if (stops.has(next)) break;
        yield { id: next, text: stream.push(next) };
        fed = [next];
      }
    }
    const rest = stream.flush();
    if (rest !== '') yield { id: -1, text: rest };
  }

  /** What an utterance says: it alone, transcribed as `generate` transcribes a turn with no typed text (the server's `transcribe`). */
  async transcribe(audio, { maxTokens, signal } = {}) {
    let text = '';
    for await (const p of this.generate([{ role: 'user', text: '', audio }], { maxTokens, signal })) text += p.text;
    signal?.throwIfAborted(); // not a cut-short transcript passed off as what was heard
    return text.trim();
  }

  async release() {
    await this.decoder.release();
    await this.encoder?.release();
    await this.speechEncoder?.release();
    await this.videoFrames?.release();
    await this.videoAggregator?.release();
  }
}
