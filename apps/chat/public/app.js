// The chat page: posts to /api/chat and renders the Server-Sent Events as they arrive.
const $ = (id) => document.getElementById(id);
const log = $('log');
const text = $('text');
const conversation = sessionStorage.getItem('herd-conversation') ?? crypto.randomUUID().replaceAll('-', '');
sessionStorage.setItem('herd-conversation', conversation);
let image = null; // { name, data (base64), url }
let limits = null;
let busy = false;

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
    image = { name: file.name || 'pasted.png', data: dataUrl.slice(dataUrl.indexOf(',') + 1), url: URL.createObjectURL(file) };
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
  const body = { conversation, message, ...(image ? { image: { name: image.name, data: image.data } } : {}) };
  text.value = '';
  clearImage();
  const answer = bubble('assistant');
  answer.classList.add('streaming');
  try {
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
    if (answer.textContent === '') answer.textContent = '(empty answer)';
  } catch (e) {
    answer.className = 'msg error';
    answer.textContent = `connection lost: ${e.message}`;
  } finally {
    answer.classList.remove('streaming');
    busy = false;
    $('send').disabled = false;
    text.focus();
    loadStatus();
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
loadStatus();
