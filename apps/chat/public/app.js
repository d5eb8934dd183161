// The chat page. Server mode: posts to /api/chat (text + one image, audio file, recording or video
// clip) and renders the Server-Sent Events as they arrive. Browser mode (WASM or WebGPU): loads the
// server's ONNX export (/model/) into onnxruntime-web (/ort/) and answers in the page, with no
// server compute (web/engine.js): text, images, spoken questions and clips, each decoded in the page
// (web/media.js), so the media never leaves the browser.
import { MAX_IMAGES, MAX_TURNS, WebEngine } from './web/engine.js';
import { decodeAudioInPage, decodeImageInPage, sampleClipInPage } from './web/media.js';
// herd's own tokenizer, tiling, prompt layout, WAV reader, resampler and log-mel, bundled for the browser by the server (src/web/entry.ts).
import * as herd from './web/herd.js';

const $ = (id) => document.getElementById(id);
const log = $('log');
const text = $('text');
const newConversation = () => crypto.randomUUID().replaceAll('-', '');
let conversation = sessionStorage.getItem('herd-conversation') ?? newConversation();
sessionStorage.setItem('herd-conversation', conversation);
// The message's attachments, at most one of each kind (an image, audio and a clip are answered together
// in one prompt): { kind: 'image' | 'audio' | 'video', name, file, url }. Only the File (a handle the
// browser keeps on disk or in its blob store) and an object URL for the preview are held — never the
// bytes: the server gets each file streamed to /api/uploads, the in-browser engine decodes it itself.
const attachments = new Map();
let limits = null;
let busy = false;
let mode = 'server'; // 'server' | 'wasm' | 'webgpu'
let web = null; // { backend, checkpoint, engine: Promise<WebEngine> }
let checkpoint = sessionStorage.getItem('herd-checkpoint'); // the model answering (null: the server's default)
let webTurns = []; // the browser mode's conversation: {role, text, image?: tiled, audio?: log-mel, clip?: tiled frames}

function browserStatus(message, error = false) {
  const el = $('browser-status');
  el.hidden = message === '';
  el.textContent = message;
  el.classList.toggle('error', error);
}

/** Loads the export into onnxruntime-web once per backend and checkpoint. */
function webEngine(backend) {
  if (web?.backend === backend && web.checkpoint === checkpoint) {
    if (web.ready) browserStatus(web.ready);
    return web.engine;
  }
  const previous = web;
  const entry = { backend, checkpoint, ready: '' };
  entry.engine = (async () => {
    if (previous) await (await previous.engine.catch(() => null))?.release();
    browserStatus(`loading onnxruntime-web (${backend})…`);
    const ort = await import(backend === 'webgpu' ? '/ort/ort.webgpu.min.mjs' : '/ort/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = '/ort/';
    ort.env.wasm.numThreads = 1;
    const t0 = performance.now();
    const engine = await WebEngine.load(ort, checkpoint ? `/model/${checkpoint}/` : '/model/', {
      herd, backend, progress: (what) => browserStatus(`loading the model into this browser (${backend}): ${what}…`) });
    const parts = ['decoder', engine.vision && 'vision encoder', engine.speech && 'speech encoder', engine.media.clip && 'video frame graph + aggregator'].filter(Boolean);
    entry.ready = `in this browser (${backend}): ${(engine.bytes / 1e6).toFixed(1)} MB of ONNX (${parts.join(' + ')}) loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s — answers need no server compute`;
    if (mode === backend) browserStatus(entry.ready);
    return engine;
  })();
  entry.engine.catch((e) => {
    browserStatus(`in-browser mode (${backend}) failed: ${e.message}`, true);
    if (web === entry) web = null;
  });
  web = entry;
  return entry.engine;
}

/** Switching where answers come from, or the model, starts a new conversation (each keeps its own history). */
function setMode(next) {
  mode = next;
  sessionStorage.setItem('herd-mode', mode);
  conversation = newConversation();
  sessionStorage.setItem('herd-conversation', conversation);
  webTurns = [];
  log.replaceChildren();
  $('stats').textContent = '';
  if (mode === 'server') browserStatus('');
  else webEngine(mode).catch(() => {});
  loadStatus();
}

function setCheckpoint(next) {
  checkpoint = next;
  sessionStorage.setItem('herd-checkpoint', next);
  setMode(mode);
}

/** The model menu: shown when the server was started with --checkpoint folders. */
function showCheckpoints(s) {
  const select = $('checkpoint');
  if (select.options.length !== s.checkpoints.length) {
    select.replaceChildren(...s.checkpoints.map((c) => {
      const o = document.createElement('option');
      o.value = c.id;
      o.textContent = c.label;
      o.title = [`core: ${c.core}`, `vision: ${c.vision ?? 'not loaded'}`, `speech: ${c.speech ?? 'not loaded'}`, `video: ${c.video ?? 'not loaded'}`].join('\n');
      return o;
    }));
  }
  select.value = s.checkpoint;
  $('checkpoint-label').hidden = s.checkpoints.length < 2;
}

async function loadStatus() {
  try {
    let res = await fetch(checkpoint ? `/api/status?checkpoint=${encodeURIComponent(checkpoint)}` : '/api/status');
    if (res.status === 400 && checkpoint) {
      // A model remembered from an earlier server run that this one does not have: back to the default.
      checkpoint = null;
      sessionStorage.removeItem('herd-checkpoint');
      res = await fetch('/api/status');
    }
    const s = await res.json();
    showCheckpoints(s);
    limits = s.limits;
    const core = s.core.builtIn ? 'mini core (built-in)' : `core ${s.core.dir}`;
    const vision = s.vision ? `vision: ${s.vision.dir}` : 'vision: not loaded';
    $('status').textContent = `${core} · ${s.core.layers} layers, d=${s.core.dim} · ${vision} · device ${s.device} · ${s.queue.running ? `busy, ${s.queue.waiting} waiting` : 'idle'} (queue limit ${s.queue.max})`;
    showLoaded(s);
  } catch {
    $('status').textContent = 'server unreachable';
  }
}

/** Which encoders and adapters the server has loaded, one entry per modality. */
function showLoaded(s) {
  const parts = [
    ['core', `frozen Llama 3 core (${s.core.builtIn ? 'built-in mini' : s.core.dir}, ${s.core.layers} layers)`],
    ['vision', s.vision ? `image encoder + cross-attention adapter, answers images (layers ${s.vision.crossAttentionLayers.join(', ')}; ${s.vision.dir})` : null],
    ['speech', s.speech ? `Conformer encoder (${s.speech.encoderLayers} layers) + speech adapter, audio up to ${s.speech.maxSeconds} s (${s.speech.dir})` : null],
    ['video', s.video ? `frame aggregator (${s.video.resamplerLayers} layers) + video cross-attention, ${s.video.frames} frames a clip (${s.video.dir}), answers clips with its own image encoder + cross-attention (layers ${s.video.imageCrossAttentionLayers.join(', ')}; ${s.video.imageDir})${s.video.imageMatches ? '' : ' — not the image checkpoint it was trained on'}` : null],
  ];
  $('transcribe-label').hidden = !s.speech;
  const el = $('loaded');
  el.replaceChildren();
  el.append('loaded: ');
  parts.forEach(([name, what], i) => {
    const span = document.createElement('span');
    span.dataset.modality = name;
    if (what) {
      const b = document.createElement('b');
      b.textContent = `${name}: `;
      span.append(b, what);
    } else {
      span.className = 'off';
      span.textContent = `${name}: not loaded`;
    }
    el.append(span);
    if (i < parts.length - 1) el.append(' · ');
  });
}

function bubble(role, content) {
  $('empty')?.remove();
  const div = document.createElement('div');
  div.className = `msg ${role}`;
  if (content) div.textContent = content;
  log.append(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

/** Which API field a file goes in: its declared type, else its extension (the server judges the bytes either way). */
function kindOf(file) {
  const type = file.type.split('/')[0];
  if (type === 'image' || type === 'audio' || type === 'video') return type;
  if (/\.(wav|flac|mp3|ogg|opus|m4a|weba)$/i.test(file.name)) return 'audio';
  if (/\.(mp4|mkv|webm|mov)$/i.test(file.name)) return 'video';
  return 'image';
}

/**
 * An <img>, <audio> or <video> showing an attachment; one the browser cannot show (bytes that are
 * not what the name says) becomes its name in words instead of a broken-image icon.
 */
function mediaElement(a, controls) {
  const el = document.createElement(a.kind === 'image' ? 'img' : a.kind);
  el.addEventListener('error', () => {
    const note = document.createElement('span');
    note.className = 'unviewable';
    note.textContent = `${a.name} (this browser cannot show it as ${a.kind === 'image' ? 'an image' : a.kind})`;
    el.replaceWith(note);
  }, { once: true });
  el.src = a.url;
  if (a.kind === 'image') el.alt = a.name;
  else el.controls = controls;
  if (a.kind === 'video') el.muted = true;
  return el;
}

function setAttachment(file, kind = kindOf(file)) {
  if (!file) return;
  if (limits && file.size > limits.maxUploadBytes) {
    bubble('error', `${file.name}: ${file.size} bytes, the limit is ${limits.maxUploadBytes}`);
    return;
  }
  const name = file.name || (kind === 'image' ? 'pasted.png' : kind);
  // A second file of the same kind replaces the first (its preview URL is released).
  const old = attachments.get(kind);
  if (old) URL.revokeObjectURL(old.url);
  attachments.set(kind, { kind, name, file, url: URL.createObjectURL(file) });
  showAttachments();
}

/** The composer's previews: one per attached kind. */
function showAttachments() {
  const list = [...attachments.values()];
  $('preview').replaceChildren(...list.map((a) => mediaElement(a, true)));
  $('attach-name').textContent = list.map((a) => `${a.kind}: ${a.name}`).join(', ');
  $('attachment').hidden = list.length === 0;
  $('attachment').dataset.kind = list.map((a) => a.kind).join(' ');
}

/** Empties the composer; `keepUrls` when the sent message's bubble still shows the previews. */
function clearAttachments(keepUrls = false) {
  if (!keepUrls) for (const a of attachments.values()) URL.revokeObjectURL(a.url);
  attachments.clear();
  showAttachments();
  $('file').value = '';
}

/** Microphone → MediaRecorder (WebM/Opus in chromium) → an audio attachment; a second click stops. */
let recorder = null;
async function toggleRecording() {
  const button = $('record');
  if (recorder) {
    recorder.stop();
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    bubble('error', `microphone: ${e.message}`);
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => chunks.push(e.data);
  recorder.onstop = () => {
    stream.getTracks().forEach((t) => t.stop());
    const type = recorder.mimeType || 'audio/webm';
    recorder = null;
    button.classList.remove('recording');
    button.textContent = 'Record';
    const ext = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm';
    setAttachment(new File(chunks, `recording.${ext}`, { type }), 'audio');
  };
  recorder.start();
  button.classList.add('recording');
  button.textContent = 'Stop';
}

async function send() {
  const message = text.value.trim();
  if ((!message && !attachments.has('audio')) || busy) return;
  busy = true;
  $('send').disabled = true;
  const mine = bubble('user');
  const attached = [...attachments.values()];
  for (const a of attached) mine.append(mediaElement(a, a.kind !== 'image'));
  mine.append(document.createTextNode(message));
  text.value = '';
  clearAttachments(true);
  const answer = bubble('assistant');
  answer.classList.add('streaming');
  // Stop: the request is aborted (the server cancels the generation and keeps no history of it), or the page's generation stops.
  const stopping = new AbortController();
  $('stop').hidden = false;
  $('stop').onclick = () => stopping.abort('stopped');
  try {
    if (mode === 'server') await askServer(message, attached, answer, stopping.signal);
    else await askBrowser(message, attached, answer, stopping.signal);
    if (stopping.signal.aborted) showStopped(answer);
    else if (answer.textContent === '') answer.textContent = '(empty answer)';
  } catch (e) {
    if (stopping.signal.aborted) showStopped(answer);
    else {
      answer.className = 'msg error';
      answer.textContent = mode === 'server' ? `connection lost: ${e.message}` : `in-browser error: ${e.message}`;
    }
  } finally {
    answer.classList.remove('streaming');
    $('stop').hidden = true;
    $('stop').onclick = null;
    busy = false;
    $('send').disabled = false;
    text.focus();
    loadStatus();
  }
}

/** An answer stopped by the user: what came so far, marked (and not kept in the conversation). */
function showStopped(answer) {
  const mark = document.createElement('span');
  mark.className = 'stopped';
  mark.textContent = answer.textContent === '' ? '(stopped)' : ' (stopped)';
  answer.append(mark);
  $('stats').textContent = 'stopped';
}

/**
 * Whether to run the cascade: "transcribe first" ticked, and a spoken question about typed text (the
 * server refuses it otherwise).
 */
function transcribeFirst(message, attached) {
  return $('transcribe-first').checked && message !== '' && attached.some((a) => a.kind === 'audio');
}

/** What the cascade heard, shown above the answer it led to. */
function showHeard(answer, heard) {
  const el = document.createElement('div');
  el.className = 'msg heard';
  el.textContent = `heard: ${heard}`;
  answer.before(el);
}

/** An attachment decoded and prepared in the page, as the turn's image, audio or clip. */
async function prepareInPage(engine, attached, turn) {
  if (attached.kind === 'image') turn.image = engine.prepareImage(await decodeImageInPage(herd, attached.file));
  else if (attached.kind === 'audio') {
    if (!engine.speech) throw new Error('this model has no speech encoder: it does not take audio');
    const samples = await decodeAudioInPage(herd, attached.file, engine.speech.preprocess.logMel.sampleRate, engine.speech.maxSeconds);
    turn.audio = engine.prepareAudio(samples, attached.name);
  } else {
    if (!engine.media.clip) throw new Error('this model has no video frame graph: it does not take clips');
    const sampled = await sampleClipInPage(herd, attached.file, engine.video.frames);
    turn.clip = engine.prepareClip(sampled.frames);
  }
}

async function askBrowser(message, attached, answer, signal) {
  const engine = await webEngine(mode);
  const turn = { role: 'user', text: message };
  for (const a of attached) {
    await prepareInPage(engine, a, turn);
    if (signal.aborted) return; // stopped while an attachment was decoded: nothing asked, nothing kept
  }
  const maxTokens = limits?.maxTokens ?? 256;
  if (transcribeFirst(message, attached)) {
    // As the server does it: hear the question, then answer the typed text + the transcript as text.
    const heard = await engine.transcribe(turn.audio, { maxTokens, signal });
    showHeard(answer, heard);
    delete turn.audio;
    turn.text = `${message} ${heard}`;
  }
  const turns = engine.fit([...webTurns, turn], maxTokens);
  const t0 = performance.now();
  let first = null;
  let tokens = 0;
  let reply = '';
  for await (const p of engine.generate(turns, { maxTokens, signal })) {
    first ??= performance.now() - t0;
    if (p.id >= 0) tokens++;
    reply += p.text;
    answer.textContent += p.text;
    log.scrollTop = log.scrollHeight;
  }
  if (signal.aborted) return; // as the server does: a stopped exchange is not kept
  const seconds = (performance.now() - t0) / 1000;
  const rate = tokens > 1 ? ((tokens - 1) / (seconds - first / 1000)).toFixed(1) : '–';
  $('stats').textContent = `${tokens} tokens · ${tokens >= maxTokens ? 'length' : 'stop'} · first token ${Math.round(first ?? 0)} ms · ${rate} tokens/s · prompt ${engine.promptIds(turns).length} tokens · in this browser (${engine.backend})`;
  // Bounded like the server's history: the last turns, media (image, audio, clip) only on the last user turns.
  webTurns = [...turns, { role: 'assistant', text: reply }].slice(-MAX_TURNS);
  let media = 0;
  webTurns = webTurns.reverse().map((t) => ((t.image || t.audio || t.clip) && ++media > MAX_IMAGES ? { role: t.role, text: t.text } : t)).reverse();
}

/** A file streamed to /api/uploads as it is (the File as the body: no base64, never read whole by the page); the message names the upload. Stop aborts it. */
async function upload(attached, signal) {
  const res = await fetch(`/api/uploads?name=${encodeURIComponent(attached.name)}&kind=${attached.kind}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: attached.file, signal });
  const json = await res.json();
  if (!res.ok) throw Object.assign(new Error(`${json.error.code}: ${json.error.message}`), { shown: true });
  return { upload: json.upload };
}

async function askServer(message, attached, answer, signal) {
  const media = {};
  try {
    // Stop during an upload aborts it too (the server drops the partial file).
    for (const a of attached) media[a.kind] = await upload(a, signal);
  } catch (e) {
    if (!e.shown) throw e;
    answer.className = 'msg error';
    answer.textContent = e.message;
    return;
  }
  const body = { ...(checkpoint ? { checkpoint } : {}), conversation, message, ...media, ...(transcribeFirst(message, attached) ? { transcribeFirst: true } : {}) };
  {
    const res = await fetch('/api/chat', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
    if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      const { error } = await res.json();
      answer.className = 'msg error';
      answer.textContent = `${error.code}: ${error.message}${res.headers.get('retry-after') ? ` (retry after ${res.headers.get('retry-after')} s)` : ''}`;
      return;
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      const blocks = buf.split('\n\n');
      buf = blocks.pop();
      for (const block of blocks) {
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
        const data = JSON.parse(block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n'));
        if (event === 'token') {
          answer.textContent += data.text;
          log.scrollTop = log.scrollHeight;
        } else if (event === 'heard') {
          showHeard(answer, data.text);
        } else if (event === 'done') {
          $('stats').textContent = `${data.tokens} tokens · ${data.reason} · first token ${Math.round(data.timeToFirstTokenMs)} ms · ${data.tokensPerSecond ?? '–'} tokens/s · prompt ${data.promptTokens} tokens`;
        } else if (event === 'error') {
          const e = bubble('error', `${data.error.code}: ${data.error.message}`);
          e.scrollIntoView();
        }
      }
    }
  }
}

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});
text.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    send();
  }
});
$('file').addEventListener('change', () => {
  for (const f of $('file').files) setAttachment(f);
});
$('detach').addEventListener('click', () => clearAttachments());
if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === 'undefined') {
  $('record').disabled = true;
  $('record').title = 'recording needs a browser with MediaRecorder and a secure page (localhost or https)';
} else $('record').addEventListener('click', () => toggleRecording());
const composer = $('composer');
composer.addEventListener('dragover', (e) => {
  e.preventDefault();
  composer.classList.add('drag');
});
composer.addEventListener('dragleave', () => composer.classList.remove('drag'));
composer.addEventListener('drop', (e) => {
  e.preventDefault();
  composer.classList.remove('drag');
  const files = [...e.dataTransfer.files];
  const media = files.filter((f) => /^(image|audio|video)\//.test(f.type));
  for (const f of media.length > 0 ? media : files.slice(0, 1)) setAttachment(f);
});
document.addEventListener('paste', (e) => {
  for (const file of [...(e.clipboardData?.files ?? [])].filter((f) => /^(image|audio|video)\//.test(f.type))) setAttachment(file);
});
if (!navigator.gpu) {
  const o = $('mode').querySelector('option[value=webgpu]');
  o.disabled = true;
  o.textContent += ' — not available here';
}
$('mode').addEventListener('change', () => setMode($('mode').value));
$('checkpoint').addEventListener('change', () => setCheckpoint($('checkpoint').value));
const wanted = new URLSearchParams(location.search).get('mode') ?? sessionStorage.getItem('herd-mode');
if (wanted && wanted !== 'server' && [...$('mode').options].some((o) => o.value === wanted && !o.disabled)) {
  $('mode').value = wanted;
  setMode(wanted);
}
loadStatus();
