// The chat page. Server mode: posts to /api/chat and renders the Server-Sent Events as they arrive.
// Browser mode (WASM or WebGPU): loads the server's ONNX export (/model/) into onnxruntime-web
// (/ort/) and answers in the page, with no server compute (web/engine.js).
import { MAX_IMAGES, MAX_TURNS, WebEngine } from './web/engine.js';
import { rgbaToRgb } from './web/tiling.js';

const $ = (id) => document.getElementById(id);
const log = $('log');
const text = $('text');
const newConversation = () => crypto.randomUUID().replaceAll('-', '');
let conversation = sessionStorage.getItem('herd-conversation') ?? newConversation();
sessionStorage.setItem('herd-conversation', conversation);
let image = null; // { name, data (base64), url, file }
let limits = null;
let busy = false;
let mode = 'server'; // 'server' | 'wasm' | 'webgpu'
let web = null; // { backend, engine: Promise<WebEngine> }
let webTurns = []; // the browser mode's conversation: {role, text, image?: tiled}

function browserStatus(message, error = false) {
  const el = $('browser-status');
  el.hidden = message === '';
  el.textContent = message;
  el.classList.toggle('error', error);
}

/** Loads the export into onnxruntime-web once per backend. */
function webEngine(backend) {
  if (web?.backend === backend) {
    if (web.ready) browserStatus(web.ready);
    return web.engine;
  }
  const previous = web;
  const entry = { backend, ready: '' };
  entry.engine = (async () => {
    if (previous) await (await previous.engine.catch(() => null))?.release();
    browserStatus(`loading onnxruntime-web (${backend})…`);
    const ort = await import(backend === 'webgpu' ? '/ort/ort.webgpu.min.mjs' : '/ort/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = '/ort/';
    ort.env.wasm.numThreads = 1;
    const t0 = performance.now();
    const engine = await WebEngine.load(ort, '/model/', { backend, progress: (what) => browserStatus(`loading the model into this browser (${backend}): ${what}…`) });
    const vision = engine.vision ? ' + vision encoder' : '';
    entry.ready = `in this browser (${backend}): ${(engine.bytes / 1e6).toFixed(1)} MB of ONNX (decoder${vision}) loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s — answers need no server compute`;
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

/** Switching where answers come from starts a new conversation (each side keeps its own history). */
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
}

async function loadStatus() {
  try {
    const s = await (await fetch('/api/status')).json();
    limits = s.limits;
    const core = s.core.builtIn ? 'mini core (built-in)' : `core ${s.core.dir}`;
    const vision = s.vision ? `vision: ${s.vision.dir}` : 'vision: not loaded';
    $('status').textContent = `${core} · ${s.core.layers} layers, d=${s.core.dim} · ${vision} · device ${s.device} · ${s.queue.running ? `busy, ${s.queue.waiting} waiting` : 'idle'} (queue limit ${s.queue.max})`;
  } catch {
    $('status').textContent = 'server unreachable';
  }
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

function setImage(file) {
  if (!file) return;
  if (limits && file.size > limits.maxImageBytes) {
    bubble('error', `${file.name}: ${file.size} bytes, the limit is ${limits.maxImageBytes}`);
    return;
  }
  const reader = new FileReader();
  reader.onload = () => {
    const dataUrl = String(reader.result);
    image = { name: file.name || 'pasted.png', data: dataUrl.slice(dataUrl.indexOf(',') + 1), url: URL.createObjectURL(file), file };
    $('preview').src = image.url;
    $('attach-name').textContent = image.name;
    $('attachment').hidden = false;
  };
  reader.readAsDataURL(file);
}

function clearImage() {
  image = null;
  $('attachment').hidden = true;
  $('file').value = '';
}

async function send() {
  const message = text.value.trim();
  if (!message || busy) return;
  busy = true;
  $('send').disabled = true;
  const mine = bubble('user');
  if (image) {
    const img = document.createElement('img');
    img.src = image.url;
    img.alt = image.name;
    mine.append(img);
  }
  mine.append(document.createTextNode(message));
  const attached = image;
  text.value = '';
  clearImage();
  const answer = bubble('assistant');
  answer.classList.add('streaming');
  try {
    if (mode === 'server') await askServer(message, attached, answer);
    else await askBrowser(message, attached, answer);
    if (answer.textContent === '') answer.textContent = '(empty answer)';
  } catch (e) {
    answer.className = 'msg error';
    answer.textContent = mode === 'server' ? `connection lost: ${e.message}` : `in-browser error: ${e.message}`;
  } finally {
    answer.classList.remove('streaming');
    busy = false;
    $('send').disabled = false;
    text.focus();
    loadStatus();
  }
}

/** Decodes an image file in the page (its bytes decide: a non-image fails here) → RGB. */
async function decodeInPage(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error(`'${file.name}' is not an image this browser can decode`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { colorSpace: 'srgb' });
  ctx.drawImage(bitmap, 0, 0);
  const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  return rgbaToRgb(data, bitmap.width, bitmap.height);
}

async function askBrowser(message, attached, answer) {
  const engine = await webEngine(mode);
  const turn = { role: 'user', text: message };
  if (attached) turn.image = engine.prepareImage(await decodeInPage(attached.file));
  const maxTokens = limits?.maxTokens ?? 256;
  const turns = engine.fit([...webTurns, turn], maxTokens);
  const t0 = performance.now();
  let first = null;
  let tokens = 0;
  let reply = '';
  for await (const p of engine.generate(turns, { maxTokens })) {
    first ??= performance.now() - t0;
    if (p.id >= 0) tokens++;
    reply += p.text;
    answer.textContent += p.text;
    log.scrollTop = log.scrollHeight;
  }
  const seconds = (performance.now() - t0) / 1000;
  const rate = tokens > 1 ? ((tokens - 1) / (seconds - first / 1000)).toFixed(1) : '–';
  $('stats').textContent = `${tokens} tokens · ${tokens >= maxTokens ? 'length' : 'stop'} · first token ${Math.round(first ?? 0)} ms · ${rate} tokens/s · prompt ${engine.promptIds(turns).length} tokens · in this browser (${engine.backend})`;
  // Bounded like the server's history: the last turns, images only on the last user turns.
  webTurns = [...turns, { role: 'assistant', text: reply }].slice(-MAX_TURNS);
  let images = 0;
  webTurns = webTurns.reverse().map((t) => (t.image && ++images > MAX_IMAGES ? { role: t.role, text: t.text } : t)).reverse();
}

async function askServer(message, attached, answer) {
  const body = { conversation, message, ...(attached ? { image: { name: attached.name, data: attached.data } } : {}) };
  {
    const res = await fetch('/api/chat', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
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
        } else if (event === 'done') {
          $('stats').textContent = `${data.tokens} tokens · ${data.reason} · first token ${data.timeToFirstTokenMs} ms · ${data.tokensPerSecond ?? '–'} tokens/s · prompt ${data.promptTokens} tokens`;
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
$('file').addEventListener('change', () => setImage($('file').files[0]));
$('detach').addEventListener('click', clearImage);
const composer = $('composer');
composer.addEventListener('dragover', (e) => {
  e.preventDefault();
  composer.classList.add('drag');
});
composer.addEventListener('dragleave', () => composer.classList.remove('drag'));
composer.addEventListener('drop', (e) => {
  e.preventDefault();
  composer.classList.remove('drag');
  setImage([...e.dataTransfer.files].find((f) => f.type.startsWith('image/')) ?? e.dataTransfer.files[0]);
});
document.addEventListener('paste', (e) => {
  const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
  if (file) setImage(file);
});
if (!navigator.gpu) {
  const o = $('mode').querySelector('option[value=webgpu]');
  o.disabled = true;
  o.textContent += ' — not available here';
}
$('mode').addEventListener('change', () => setMode($('mode').value));
const wanted = new URLSearchParams(location.search).get('mode') ?? sessionStorage.getItem('herd-mode');
if (wanted && wanted !== 'server' && [...$('mode').options].some((o) => o.value === wanted && !o.disabled)) {
  $('mode').value = wanted;
  setMode(wanted);
}
loadStatus();
