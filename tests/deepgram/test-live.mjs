// SPDX-License-Identifier: MIT
// Live GET /v1/listen (WebSocket) through the official @deepgram/sdk against the real daemon
// on 127.0.0.1: audio at real-time pace gets interim and final Results, SpeechStarted and
// UtteranceEnd when asked, Finalize is answered with from_finalize, CloseStream ends with
// Metadata and close 1000; every message carries the fields the SDKs read, with UUID ids;
// KeepAlive keeps a stream open past 10 s, silence without it is closed 1011; browsers'
// subprotocol pair "token, <key>" is answered with "token"; a browser-style WebM/Opus stream
// (no encoding, MediaRecorder-sized pieces) transcribes within 5 WER points of linear16.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { assert, done, isUuid, librivox, loadSdk, log, plan, startDaemon, test, words, wer } from './harness.mjs';

const { DeepgramClient } = await loadSdk();
const KEY = 'test-key-not-checked';
const FILE = 'sense_and_sensibility_01_austen_64kb-0870.wav';

plan(9);
const daemon = await startDaemon(`[server]
log_level=info
[plugins]
load=http;gst-decoder;sphinx
[streaming]
max_streams=2
`);
const wsBase = daemon.url.replace('http', 'ws');
const client = new DeepgramClient({ apiKey: KEY, environment: { base: daemon.url, production: wsBase } });
const sleep = ms => new Promise(r => setTimeout(r, ms));

function checkResults (m) {
  for (const k of ['type', 'channel_index', 'start', 'duration', 'is_final', 'speech_final', 'from_finalize', 'channel', 'metadata'])
    assert(k in m, `Results.${k} missing: ${JSON.stringify(m).slice(0, 300)}`);
  const alt = m.channel.alternatives[0];
  assert(typeof alt.transcript === 'string' && typeof alt.confidence === 'number' && Array.isArray(alt.words), 'Results alternative');
  for (const w of alt.words)
    for (const k of ['word', 'start', 'end', 'confidence', 'punctuated_word'])
      assert(k in w, `Results word.${k} missing`);
  assert(isUuid(m.metadata.request_id), `Results metadata.request_id is not a UUID: ${m.metadata.request_id}`);
  assert(isUuid(m.metadata.model_uuid), 'Results metadata.model_uuid');
  for (const k of ['name', 'version', 'arch'])
    assert(typeof m.metadata.model_info[k] === 'string', `Results metadata.model_info.${k}`);
}

function checkMetadata (m) {
  for (const k of ['transaction_key', 'request_id', 'sha256', 'created', 'duration', 'channels', 'models', 'model_info'])
    assert(k in m, `Metadata.${k} missing`);
  assert(isUuid(m.request_id), 'Metadata.request_id is not a UUID');
  assert(isUuid(m.models[0]) && m.model_info[m.models[0]], 'Metadata.models / model_info');
}

// Opens a stream with the SDK; resolves to {socket, messages, closed (a promise of the close event)}.
async function open (args) {
  const socket = await client.listen.v1.connect({
    model: 'nova-3', Authorization: `Token ${KEY}`, reconnectAttempts: 0, shouldReconnect: () => false, ...args,
  });
  const messages = [];
  let onClose;
  const closed = new Promise(r => { onClose = r; });
  socket.on('message', m => messages.push(m));
  socket.on('close', e => onClose(e));
  socket.on('error', e => log('socket error:', e && e.message));
  socket.connect();
  await socket.waitForOpen();
  return { socket, messages, closed };
}

try {
  const pcm = fs.readFileSync(path.join(librivox, FILE)).subarray(44); // 16 kHz mono linear16
  const ref = await (await fetch(`${daemon.url}/v1/listen`, {
    method: 'POST', headers: { 'Content-Type': 'audio/wav' }, body: fs.readFileSync(path.join(librivox, FILE)),
  })).json();

  await test('real-time stream: interim and final Results, SpeechStarted, UtteranceEnd, Finalize, CloseStream → Metadata → 1000', async () => {
    const s = await open({ encoding: 'linear16', sample_rate: 16000, interim_results: true, vad_events: true, utterance_end_ms: 1000 });
    const chunk = 3200; // 100 ms
    const t0 = Date.now();
    for (let i = 0; i < pcm.length; i += chunk) {
      s.socket.sendMedia(pcm.subarray(i, i + chunk));
      const due = t0 + ((i + chunk) / 32000) * 1000;
      await sleep(Math.max(0, due - Date.now()));
    }
    s.socket.sendFinalize({ type: 'Finalize' });
    const deadline = Date.now() + 30000;
    while (!s.messages.some(m => m.type === 'Results' && m.from_finalize) && Date.now() < deadline)
      await sleep(100);
    s.socket.sendCloseStream({ type: 'CloseStream' });
    const close = await s.closed;
    const types = s.messages.map(m => m.type);
    log('live messages:', types.join(','));
    const results = s.messages.filter(m => m.type === 'Results');
    results.forEach(checkResults);
    assert(results.some(m => !m.is_final && m.channel.alternatives[0].transcript !== ''), 'an interim Results');
    const finals = results.filter(m => m.is_final);
    assert(finals.some(m => m.channel.alternatives[0].transcript !== ''), 'a final Results with words');
    assert(finals.some(m => m.from_finalize === true), 'the Finalize is answered with from_finalize: true');
    const text = finals.map(m => m.channel.alternatives[0].transcript).join(' ');
    const rate = wer(words(ref.text), words(text));
    log(`live final: "${text}" / batch "${ref.text}" → WER ${(100 * rate).toFixed(1)}%`);
    assert(rate <= 0.5, `live WER against the batch transcript ${(100 * rate).toFixed(1)}% > 50%`);
    assert(types.includes('SpeechStarted'), 'SpeechStarted (vad_events=true)');
    assert(types.includes('UtteranceEnd'), 'UtteranceEnd (utterance_end_ms)');
    assert(types[types.length - 1] === 'Metadata', `Metadata comes last: ${types.slice(-3)}`);
    checkMetadata(s.messages[s.messages.length - 1]);
    assert(close.code === 1000, `close code ${close.code}`);
  });

  await test('a KeepAlive-only stream stays open past 10 s', async () => {
    const s = await open({ encoding: 'linear16', sample_rate: 16000 });
    let closedEarly = null;
    s.closed.then(e => { closedEarly = e; });
    const t0 = Date.now();
    while (Date.now() - t0 < 13000) {
      s.socket.sendKeepAlive({ type: 'KeepAlive' });
      await sleep(2500);
    }
    assert(closedEarly === null, `closed after ${(Date.now() - t0) / 1000} s: ${closedEarly && closedEarly.code}`);
    assert(s.messages.filter(m => m.type !== 'Metadata').length === 0, 'KeepAlive gets no answer');
    s.socket.sendCloseStream({ type: 'CloseStream' });
    const close = await s.closed;
    assert(close.code === 1000, `close code ${close.code}`);
  });

  await test('silence without KeepAlive is closed 1011 after 10 s', async () => {
    const s = await open({ encoding: 'linear16', sample_rate: 16000 });
    const t0 = Date.now();
    const close = await Promise.race([s.closed, sleep(20000).then(() => null)]);
    const seconds = (Date.now() - t0) / 1000;
    assert(close !== null, 'still open after 20 s');
    assert(close.code === 1011, `close code ${close.code}`);
    assert(seconds >= 9.5 && seconds <= 13, `closed after ${seconds} s`);
  });

  await test('a browser\'s subprotocol pair "token, <key>" is answered with "token"', async () => {
    const ws = new WebSocket(`${wsBase}/v1/listen?model=nova-3&encoding=linear16&sample_rate=16000`, ['token', KEY]);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    assert(ws.protocol === 'token', `selected protocol: ${ws.protocol}`);
    const closed = new Promise(r => ws.once('close', (code) => r(code)));
    const metadata = new Promise(r => ws.on('message', d => { const m = JSON.parse(d); if (m.type === 'Metadata') r(m); }));
    ws.send(pcm.subarray(0, 32000));
    ws.send(JSON.stringify({ type: 'CloseStream' }));
    const m = await metadata;
    checkMetadata(m);
    // the hash of the audio bytes the stream received
    assert(m.sha256 === crypto.createHash('sha256').update(pcm.subarray(0, 32000)).digest('hex'), `Metadata.sha256 ${m.sha256}`);
    assert((await closed) === 1000, 'close 1000');
  });

  await test('an unsupported encoding is refused with an Error message and close 1008; others are still served', async () => {
    const ws = new WebSocket(`${wsBase}/v1/listen?model=nova-3&encoding=amr-wb`, { headers: { Authorization: `Token ${KEY}` } });
    const first = new Promise(r => ws.once('message', d => r(JSON.parse(d))));
    const code = await new Promise(r => ws.once('close', c => r(c)));
    const m = await first;
    assert(m.type === 'Error' && typeof m.err_code === 'string' && /encoding/.test(m.err_msg), JSON.stringify(m));
    assert(isUuid(m.request_id), `the refusal's request_id is not a UUID: ${m.request_id}`);
    assert(daemon.readLog().includes(`[${m.request_id}]`), 'the log line names the request id');
    assert(code === 1008, `close code ${code}`);
    const res = await fetch(`${daemon.url}/health`);
    assert(res.status === 200, 'the server still serves');
  });
  await test('a stream over [streaming] max_streams is refused with an Error naming a UUID request_id, close 1008', async () => {
    const a = await open({ encoding: 'linear16', sample_rate: 16000 });
    const b = await open({ encoding: 'linear16', sample_rate: 16000 });
    try {
      const ws = new WebSocket(`${wsBase}/v1/listen?model=nova-3&encoding=linear16&sample_rate=16000`, { headers: { Authorization: `Token ${KEY}` } });
      const first = new Promise(r => ws.once('message', d => r(JSON.parse(d))));
      const code = await new Promise(r => ws.once('close', c => r(c)));
      const m = await first;
      assert(m.type === 'Error' && m.err_code === 'SERVICE_UNAVAILABLE' && isUuid(m.request_id), JSON.stringify(m));
      assert(daemon.readLog().includes(`[${m.request_id}]`), 'the log line names the request id');
      assert(code === 1008, `close code ${code}`);
    } finally {
      a.socket.sendCloseStream({ type: 'CloseStream' });
      b.socket.sendCloseStream({ type: 'CloseStream' });
      await Promise.all([a.closed, b.closed]);
    }
  });

  // Streams @chunks (Buffers) over a raw WebSocket with @query, 20 ms apart; resolves to the
  // finals' text after CloseStream, and the close code.
  async function streamChunks (query, chunks) {
    const ws = new WebSocket(`${wsBase}/v1/listen?${query}`, { headers: { Authorization: `Token ${KEY}` } });
    const finals = [];
    let metadata = null;
    const closed = new Promise(r => ws.once('close', c => r(c)));
    ws.on('message', d => {
      const m = JSON.parse(d);
      if (m.type === 'Results') {
        checkResults(m);
        if (m.is_final) finals.push(m.channel.alternatives[0].transcript);
      } else if (m.type === 'Metadata') metadata = m;
    });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    for (const c of chunks) {
      ws.send(c);
      await sleep(20);
    }
    ws.send(JSON.stringify({ type: 'CloseStream' }));
    const code = await closed;
    return { text: finals.join(' '), code, metadata };
  }

  const reference = Object.fromEntries(fs.readFileSync(path.join(librivox, 'transcription'), 'utf8').split('\n')
    .map(l => l.match(/^<s> (.*) <\/s> \((.*)\)$/)).filter(m => m).map(m => [m[2], m[1]]));
  const names = Object.keys(reference);

  await test('a browser-style WebM/Opus stream (no encoding) transcribes within 5 WER points of linear16', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmd-webm-'));
    let ref = [], raw = [], webm = [];
    try {
      for (const name of names) {
        const wavPath = path.join(librivox, `${name}.wav`);
        const webmPath = path.join(dir, `${name}.webm`);
        // what a browser's MediaRecorder sends: Opus at 48 kHz in WebM
        execFileSync('gst-launch-1.0', ['-q', 'filesrc', `location=${wavPath}`, '!', 'wavparse', '!', 'audioconvert', '!',
          'audioresample', '!', 'audio/x-raw,rate=48000', '!', 'opusenc', '!', 'webmmux', '!', 'filesink', `location=${webmPath}`]);
        const bytes = fs.readFileSync(webmPath);
        const pieces = [];
        for (let i = 0; i < bytes.length; i += 2500) pieces.push(bytes.subarray(i, i + 2500)); // ~250 ms timeslices
        const pcm = fs.readFileSync(wavPath).subarray(44);
        const frames = [];
        for (let i = 0; i < pcm.length; i += 3200) frames.push(pcm.subarray(i, i + 3200));
        const a = await streamChunks('model=nova-3&encoding=linear16&sample_rate=16000', frames);
        const b = await streamChunks('model=nova-3', pieces);
        assert(a.code === 1000 && b.code === 1000, `close codes ${a.code} ${b.code}`);
        assert(b.metadata !== null, 'Metadata after the WebM stream');
        // the stream is metered by the audio its decoder delivered, not by compressed bytes
        const seconds = pcm.length / 32000;
        // (the server logs the close once its side of the closing handshake is done)
        let line;
        for (const deadline = Date.now() + 10000; !line && Date.now() < deadline; await sleep(100))
          line = daemon.readLog().split('\n').find(l => l.includes(`stream ${b.metadata.request_id} closed`));
        const metered = line && parseFloat(/([0-9.]+) s of audio metered/.exec(line)[1]);
        log(`${name}: ${seconds.toFixed(3)} s of audio, WebM stream metered ${metered} s (${bytes.length} bytes)`);
        assert(line && Math.abs(metered - seconds) <= 0.03 * seconds, `metered ${metered} s for ${seconds.toFixed(3)} s of audio`);
        log(`${name}: linear16 "${a.text}" / webm "${b.text}"`);
        ref = ref.concat(words(reference[name]));
        raw = raw.concat(words(a.text));
        webm = webm.concat(words(b.text));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const werRaw = 100 * wer(ref, raw), werWebm = 100 * wer(ref, webm);
    process.stdout.write(`# WER over ${names.length} LibriVox files: linear16 ${werRaw.toFixed(1)}%, WebM/Opus ${werWebm.toFixed(1)}%\n`);
    assert(werWebm > 0 || webm.length > 0, 'the WebM stream gave words');
    assert(werWebm <= werRaw + 5, `WebM/Opus WER ${werWebm.toFixed(1)}% is more than 5 points above linear16 ${werRaw.toFixed(1)}%`);
  });

  await test('a WAV file streamed without encoding is decoded from its header', async () => {
    const name = names[1];
    const bytes = fs.readFileSync(path.join(librivox, `${name}.wav`));
    const pieces = [];
    for (let i = 0; i < bytes.length; i += 4000) pieces.push(bytes.subarray(i, i + 4000));
    const r = await streamChunks('model=nova-3', pieces);
    assert(r.code === 1000, `close ${r.code}`);
    const rate = wer(words(reference[name]), words(r.text));
    assert(rate <= 0.5, `WAV stream WER ${(100 * rate).toFixed(1)}%: "${r.text}"`);
  });
} finally {
  const code = await daemon.stop();
  await test('the daemon drains and exits 0 on SIGTERM (clean under the sanitizers)', async () => {
    assert(code === 0, `exit code ${code}`);
  });
  done();
}
