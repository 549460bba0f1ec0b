// SPDX-License-Identifier: MIT
// lightning-mediad's web page: file transcription with clickable words and a waveform, live
// captions from the microphone over the WebSocket, the server's health and models, and the
// OpenAPI document.  Plain JavaScript, no build step, nothing loaded from anywhere else.
//
// The API key (kept in localStorage) goes in the Authorization header on REST requests and
// as ?token= on the WebSocket, the only place the server accepts it in the URL.
'use strict';

const $ = (id) => document.getElementById(id);

const LANGUAGES = ['auto', 'en', 'de', 'fr', 'es', 'it', 'pt', 'nl', 'pl', 'sv', 'da', 'no', 'fi',
  'cs', 'ru', 'uk', 'tr', 'ar', 'he', 'hi', 'ja', 'ko', 'zh'];
// Subtitle cues end at a pause this long, or after this many words (as the server's srt/vtt).
const CUE_PAUSE_S = 0.5;
const CUE_MAX_WORDS = 30;
// Live audio: s16le at the audio device's own rate when the streaming API takes it (else
// 48 kHz), sent in frames of 100 ms.
const LIVE_RATES = [8000, 16000, 22050, 24000, 44100, 48000];

const state = {
  key: localStorage.getItem('lmd-key') || '',
  doc: null,          // the server's JSON for the last file
  name: 'transcript', // the file's name without its extension, for downloads
  peaks: null,        // Float32Array: the waveform, one peak per canvas pixel column
  current: -1,        // index of the word being played
  live: null,         // the live session: {ws, ctx, stream, node, queue, stopping}
};

// ---- errors -------------------------------------------------------------------------------

function showError(text) {
  const box = $('error');
  box.textContent = text || '';
  box.hidden = !text;
}

// The server's sentence for an error answer: {"error","code","request_id"}.
function errorSentence(status, bodyText) {
  try {
    const o = JSON.parse(bodyText);
    if (o && typeof o.error === 'string') {
      const details = [String(status), o.code].filter(Boolean).join(' ');
      return `${o.error} (${details}${o.request_id ? ', request ' + o.request_id : ''})`;
    }
  } catch (e) { /* not JSON: the status alone */ }
  return `The server answered ${status}.`;
}

function authHeaders() {
  return state.key ? { Authorization: 'Token ' + state.key } : {};
}

async function getJSON(path) {
  const r = await fetch(path, { headers: authHeaders() });
  const text = await r.text();
  let doc = null;
  try { doc = JSON.parse(text); } catch (e) { doc = null; }
  return { ok: r.ok, status: r.status, doc, text };
}

// ---- settings -----------------------------------------------------------------------------

function selectedOptions() {
  const params = new URLSearchParams();
  if ($('model').value) params.set('model', $('model').value);
  if ($('language').value) params.set('language', $('language').value);
  return params;
}

function fillLanguages() {
  const select = $('language');
  select.add(new Option('server default', ''));
  for (const code of LANGUAGES) select.add(new Option(code, code));
  select.value = localStorage.getItem('lmd-language') || '';
  select.addEventListener('change', () => localStorage.setItem('lmd-language', select.value));
  $('model').addEventListener('change', () => localStorage.setItem('lmd-model', $('model').value));
}

function setupKey() {
  $('key').value = state.key;
  $('settings').addEventListener('submit', (event) => {
    event.preventDefault();
    state.key = $('key').value.trim();
    if (state.key) localStorage.setItem('lmd-key', state.key);
    else localStorage.removeItem('lmd-key');
    showError(null);
    $('key-save').textContent = 'Saved';
    setTimeout(() => { $('key-save').textContent = 'Save key'; }, 1500);
  });
}

// ---- server: health, models ---------------------------------------------------------------

async function loadServer() {
  try {
    const health = await getJSON('/health?detailed=true');
    const h = health.doc || {};
    const pill = $('health');
    pill.textContent = h.status || `HTTP ${health.status}`;
    pill.className = 'pill ' + (h.status || '');
    pill.title = h.reason || 'GET /health?detailed=true';
    const rows = [
      ['status', h.status + (h.reason ? ` (${h.reason})` : '')],
      ['version', h.version], ['role', h.role], ['device', h.device],
      ['uptime', h.uptime_seconds !== undefined ? `${Math.round(h.uptime_seconds)} s` : undefined],
      ['requests', h.active_requests !== undefined ? `${h.active_requests} running, ${h.queued_requests} queued` : undefined],
      ['license', h.license ? (h.license.development_mode ? 'development mode (no key needed)' :
        `valid: ${h.license.license_valid}, until ${h.license.valid_until}`) : undefined],
    ];
    const body = $('server-info').tBodies[0];
    body.replaceChildren();
    for (const [k, v] of rows) {
      if (v === undefined || v === null) continue;
      const tr = body.insertRow();
      tr.insertCell().textContent = k;
      tr.insertCell().textContent = v;
    }
  } catch (e) {
    $('health').textContent = 'unreachable';
    $('health').className = 'pill unhealthy';
  }
  try {
    const models = await getJSON('/v1/models');
    const list = (models.doc && models.doc.data) || [];
    const select = $('model');
    const kept = localStorage.getItem('lmd-model') || '';
    select.replaceChildren(new Option('server default', ''));
    const body = $('models').tBodies[0];
    body.replaceChildren();
    for (const m of list) {
      select.add(new Option(m.id + (m.default ? ' (default)' : ''), m.id));
      const tr = body.insertRow();
      for (const v of [m.id, m.engine || '', m.status || '', m.translation ? 'yes' : 'no']) tr.insertCell().textContent = v;
    }
    if ([...select.options].some((o) => o.value === kept)) select.value = kept;
  } catch (e) { /* the health pill already says the server is unreachable */ }
}

// ---- a file: upload, transcript, waveform -------------------------------------------------

function setProgress(label, fraction, text) {
  $('progress').hidden = false;
  $('progress-label').textContent = label;
  const bar = $('progress-bar');
  if (fraction === null) bar.removeAttribute('value');
  else bar.value = fraction;
  $('progress-text').textContent = text || '';
}

function transcribeFile(file) {
  showError(null);
  state.name = file.name.replace(/\.[^.]*$/, '') || 'transcript';
  const params = selectedOptions();
  params.set('timestamps', 'true');
  const xhr = new XMLHttpRequest();
  let timer = null;
  let finished = false; // an early refusal can come before the upload's own events
  const started = performance.now();
  xhr.open('POST', '/v1/listen?' + params.toString());
  for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
  xhr.setRequestHeader('Content-Type', file.type && file.type.startsWith('audio/') ? file.type : 'application/octet-stream');
  setProgress('uploading', 0, '');
  xhr.upload.onprogress = (e) => {
    if (!finished && e.lengthComputable) setProgress('uploading', e.loaded / e.total, `${(e.loaded / 1048576).toFixed(1)} / ${(e.total / 1048576).toFixed(1)} MB`);
  };
  xhr.upload.onload = () => {
    if (finished) return;
    setProgress('transcribing', null, '');
    timer = setInterval(() => setProgress('transcribing', null, `${((performance.now() - started) / 1000).toFixed(1)} s`), 200);
  };
  const done = () => { finished = true; if (timer) clearInterval(timer); $('progress').hidden = true; };
  xhr.onload = () => {
    done();
    if (xhr.status !== 200) {
      showError(errorSentence(xhr.status, xhr.responseText));
      return;
    }
    showResult(JSON.parse(xhr.responseText), file);
  };
  xhr.onerror = () => { done(); showError('The server cannot be reached.'); };
  xhr.send(file);
}

function showResult(doc, file) {
  state.doc = doc;
  state.current = -1;
  $('result').hidden = false;
  const audio = $('audio');
  if (audio.src) URL.revokeObjectURL(audio.src);
  audio.src = URL.createObjectURL(file);
  const transcript = $('transcript');
  transcript.replaceChildren();
  const words = doc.words || [];
  words.forEach((w, i) => {
    const span = document.createElement('span');
    span.className = 'word';
    span.textContent = w.word;
    span.dataset.index = String(i);
    span.dataset.start = String(w.start);
    span.title = `${w.start.toFixed(2)}–${w.end.toFixed(2)} s, confidence ${w.confidence}`;
    transcript.append(span, ' ');
  });
  if (words.length === 0) transcript.textContent = doc.text || '(no speech)';
  $('result-meta').textContent = `${(doc.duration || 0).toFixed(2)} s of audio · ${words.length} words · ` +
    `language ${doc.language} · confidence ${doc.confidence} · request ${doc.request_id}`;
  state.peaks = null;
  drawWaveform();
  file.arrayBuffer()
    .then((buffer) => new OfflineAudioContext(1, 1, 44100).decodeAudioData(buffer))
    .then((decoded) => { state.peaks = peaks(decoded); drawWaveform(); })
    .catch(() => { /* a format the browser cannot decode: word spans only */ });
}

function peaks(buffer) {
  const canvas = $('waveform');
  const columns = canvas.width;
  const data = buffer.getChannelData(0);
  const out = new Float32Array(columns);
  const per = Math.max(1, Math.floor(data.length / columns));
  for (let c = 0; c < columns; c++) {
    let max = 0;
    for (let i = c * per; i < Math.min(data.length, (c + 1) * per); i++) max = Math.max(max, Math.abs(data[i]));
    out[c] = max;
  }
  return out;
}

function drawWaveform() {
  const canvas = $('waveform');
  const g = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  const doc = state.doc;
  const duration = doc && doc.duration > 0 ? doc.duration : 1;
  g.clearRect(0, 0, W, H);
  // the words' spans
  (doc && doc.words || []).forEach((w, i) => {
    g.fillStyle = i === state.current ? 'rgba(255, 200, 0, 0.55)' : i % 2 ? 'rgba(31, 111, 235, 0.14)' : 'rgba(31, 111, 235, 0.26)';
    const x0 = w.start / duration * W;
    g.fillRect(x0, 0, Math.max(1, (w.end - w.start) / duration * W), H);
  });
  // the signal
  g.fillStyle = '#3b4651';
  if (state.peaks) {
    for (let x = 0; x < W; x++) {
      const h = Math.max(1, state.peaks[x] * (H - 4));
      g.fillRect(x, (H - h) / 2, 1, h);
    }
  } else {
    g.fillRect(0, H / 2, W, 1);
  }
  // the play position
  const t = $('audio').currentTime || 0;
  g.fillStyle = '#d92d20';
  g.fillRect(t / duration * W, 0, 2, H);
}

function seek(seconds) {
  const audio = $('audio');
  audio.currentTime = seconds;
  const played = audio.play();
  if (played) played.catch(() => { /* autoplay refused: the position is set all the same */ });
  onTime();
}

function onTime() {
  const t = $('audio').currentTime;
  const words = state.doc && state.doc.words || [];
  let current = -1;
  for (let i = 0; i < words.length; i++) if (words[i].start <= t + 1e-3 && t < words[i].end) current = i;
  if (current !== state.current) {
    const old = document.querySelector('.word.current');
    if (old) old.classList.remove('current');
    const now = document.querySelector(`.word[data-index="${current}"]`);
    if (now) now.classList.add('current');
    state.current = current;
  }
  drawWaveform();
}

function setupFile() {
  const drop = $('drop');
  $('file').addEventListener('change', (e) => {
    const file = e.target.files[0];
    e.target.value = ''; // choosing the same file again (after a refusal, say) sends it again
    if (file) transcribeFile(file);
  });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer.files[0]) transcribeFile(e.dataTransfer.files[0]);
  });
  $('transcript').addEventListener('click', (e) => {
    const word = e.target.closest('.word');
    if (word) seek(parseFloat(word.dataset.start));
  });
  $('waveform').addEventListener('click', (e) => {
    if (!state.doc) return;
    const rect = e.target.getBoundingClientRect();
    seek((e.clientX - rect.left) / rect.width * (state.doc.duration || 0));
  });
  const audio = $('audio');
  audio.addEventListener('timeupdate', onTime);
  audio.addEventListener('seeked', onTime);
  audio.addEventListener('play', function tick() {
    onTime();
    if (!audio.paused) requestAnimationFrame(tick);
  });
  for (const button of document.querySelectorAll('[data-download]')) {
    button.addEventListener('click', () => download(button.dataset.download));
  }
}

// ---- downloads ----------------------------------------------------------------------------

function cues(words) {
  const out = [];
  let cue = null;
  for (const w of words) {
    if (cue && (w.start - cue.end >= CUE_PAUSE_S || cue.words.length >= CUE_MAX_WORDS)) { out.push(cue); cue = null; }
    if (!cue) cue = { start: w.start, end: w.end, words: [] };
    cue.words.push(w.word);
    cue.end = w.end;
  }
  if (cue) out.push(cue);
  return out;
}

function timestamp(seconds, separator) {
  const ms = Math.round(Math.max(0, seconds) * 1000);
  const pad = (n, w) => String(n).padStart(w, '0');
  return `${pad(Math.floor(ms / 3600000), 2)}:${pad(Math.floor(ms / 60000) % 60, 2)}:${pad(Math.floor(ms / 1000) % 60, 2)}${separator}${pad(ms % 1000, 3)}`;
}

function subtitles(doc, vtt) {
  let text = vtt ? 'WEBVTT\n\n' : '';
  cues(doc.words || []).forEach((c, i) => {
    if (!vtt) text += `${i + 1}\n`;
    text += `${timestamp(c.start, vtt ? '.' : ',')} --> ${timestamp(c.end, vtt ? '.' : ',')}\n${c.words.join(' ')}\n\n`;
  });
  return text;
}

function download(format) {
  const doc = state.doc;
  if (!doc) return;
  const bodies = {
    txt: [doc.text + '\n', 'text/plain'],
    srt: [subtitles(doc, false), 'application/x-subrip'],
    vtt: [subtitles(doc, true), 'text/vtt'],
    json: [JSON.stringify(doc, null, 2) + '\n', 'application/json'],
  };
  const [body, type] = bodies[format];
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([body], { type }));
  a.download = `${state.name}.${format}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// ---- live captions ------------------------------------------------------------------------

function liveState(text) { $('live-state').textContent = text; }

function addFinal(o) {
  const li = document.createElement('li');
  const time = document.createElement('span');
  time.className = 'time';
  time.textContent = `${(o.start || 0).toFixed(2)}–${(o.end || 0).toFixed(2)} s`;
  const text = document.createElement('span');
  text.className = 'final';
  text.textContent = o.transcript;
  li.append(time, text);
  $('finals').append(li);
}

function onLiveMessage(event) {
  let o;
  try { o = JSON.parse(event.data); } catch (e) { return; }
  if (o.type === 'error') {
    showError(`${o.error} (${o.code})`);
    return;
  }
  if (o.type) return; // speech_started, speech_ended
  if (o.is_final) {
    $('interim').textContent = '';
    if (o.transcript) addFinal(o);
    if (o.is_last) closeLive();
  } else {
    $('interim').textContent = o.transcript;
  }
}

function releaseAudio(live) {
  if (live.stream) for (const track of live.stream.getTracks()) track.stop();
  if (live.ctx) live.ctx.close().catch(() => {});
  live.stream = null;
  live.ctx = null;
}

function closeLive() {
  const live = state.live;
  if (!live) return;
  releaseAudio(live);
  if (live.ws.readyState <= WebSocket.OPEN) live.ws.close(1000);
  state.live = null;
  $('mic').textContent = 'Start microphone';
  liveState('stopped');
}

async function startLive() {
  showError(null);
  const params = selectedOptions();
  const live = { ws: null, ctx: null, stream: null, queue: [], queued: 0, stopping: false };
  state.live = live;
  $('mic').textContent = 'Stop';
  liveState('starting…');
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    live.ctx = new AudioContext();
    if (!LIVE_RATES.includes(live.ctx.sampleRate)) {
      live.ctx.close().catch(() => {});
      live.ctx = new AudioContext({ sampleRate: 48000 });
    }
    await live.ctx.audioWorklet.addModule('pcm-worklet.js');
  } catch (e) {
    releaseAudio(live);
    state.live = null;
    $('mic').textContent = 'Start microphone';
    liveState('stopped');
    showError(`The microphone cannot be used: ${e.message}`);
    return;
  }
  const frameBytes = live.ctx.sampleRate * 2 / 10;
  params.set('sample_rate', String(live.ctx.sampleRate));
  params.set('encoding', 'linear16');
  params.set('interim_results', 'true');
  if (state.key) params.set('token', state.key);
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  live.ws = new WebSocket(`${proto}//${location.host}/v1/listen/stream?${params.toString()}`);
  live.ws.binaryType = 'arraybuffer';
  live.ws.onmessage = onLiveMessage;
  live.ws.onopen = () => liveState('listening');
  live.ws.onclose = (e) => {
    if (state.live === live) {
      if (e.code !== 1000 && e.code !== 1005 && $('error').hidden) showError(`The stream was closed (${e.code}${e.reason ? ': ' + e.reason : ''}).`);
      closeLive();
    }
  };
  const source = live.ctx.createMediaStreamSource(live.stream);
  const node = new AudioWorkletNode(live.ctx, 'pcm-worklet');
  const mute = live.ctx.createGain();
  mute.gain.value = 0;
  node.port.onmessage = (e) => {
    if (live.stopping) return;
    live.queue.push(new Uint8Array(e.data));
    live.queued += e.data.byteLength;
    if (live.queued < frameBytes || live.ws.readyState !== WebSocket.OPEN) return;
    // what came while the WebSocket opened goes out in frames of 100 ms too (a frame over
    // 64 KiB would be refused)
    const all = new Uint8Array(live.queued);
    let at = 0;
    for (const part of live.queue) { all.set(part, at); at += part.length; }
    let sent = 0;
    for (; all.length - sent >= frameBytes; sent += frameBytes) live.ws.send(all.slice(sent, sent + frameBytes));
    live.queue = sent < all.length ? [all.slice(sent)] : [];
    live.queued = all.length - sent;
  };
  source.connect(node);
  node.connect(mute);
  mute.connect(live.ctx.destination);
}

function stopLive() {
  const live = state.live;
  if (!live || live.stopping) return;
  live.stopping = true;
  releaseAudio(live);
  liveState('finishing…');
  if (live.ws && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify({ type: 'close_stream' }));
  else closeLive();
}

function setupLive() {
  $('mic').addEventListener('click', () => { if (state.live) stopLive(); else startLive(); });
}

// ---- the OpenAPI document, readable -------------------------------------------------------

async function loadApi() {
  const r = await getJSON('/openapi.json');
  if (!r.ok || !r.doc) return;
  const api = $('api');
  api.replaceChildren();
  for (const [path, item] of Object.entries(r.doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'delete', 'patch', 'head'].includes(method)) continue;
      const details = document.createElement('details');
      const summary = document.createElement('summary');
      const m = document.createElement('span');
      m.className = 'method';
      m.textContent = method.toUpperCase();
      const p = document.createElement('code');
      p.textContent = path;
      summary.append(m, ' ', p, ' — ', op.summary || '');
      details.append(summary);
      if (op.description) {
        const d = document.createElement('p');
        d.textContent = op.description;
        details.append(d);
      }
      const params = (item.parameters || []).concat(op.parameters || []).map((x) => x.$ref ? resolve(r.doc, x.$ref) : x);
      if (params.length) {
        const ul = document.createElement('ul');
        for (const x of params) {
          const li = document.createElement('li');
          const c = document.createElement('code');
          c.textContent = x.name;
          li.append(c, ` (${x.in}${x.required ? ', required' : ''}) ${x.description || ''}`);
          ul.append(li);
        }
        details.append(ul);
      }
      const codes = document.createElement('p');
      codes.className = 'codes';
      for (const [code, resp] of Object.entries(op.responses || {})) {
        const s = document.createElement('span');
        const body = resp.$ref ? resolve(r.doc, resp.$ref) : resp;
        s.textContent = `${code}: ${body.description || ''}`;
        codes.append(s);
      }
      details.append(codes);
      api.append(details);
    }
  }
}

function resolve(doc, ref) {
  return ref.replace(/^#\//, '').split('/').reduce((o, k) => (o ? o[k] : undefined), doc) || {};
}

// ---- start --------------------------------------------------------------------------------

fillLanguages();
setupKey();
setupFile();
setupLive();
loadServer();
loadApi();
drawWaveform();
