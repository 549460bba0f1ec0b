// SPDX-License-Identifier: MIT
// Prerecorded POST /v1/listen through the official @deepgram/sdk against the real daemon on
// 127.0.0.1: transcribeFile and transcribeUrl (from a file server on 127.0.0.1) give the same
// words as the project's own /v1/listen; every field the strictest SDKs read is there, with
// UUID request ids; errors in Deepgram's shape; the project's own clients keep their answer.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { assert, done, isUuid, librivox, loadSdk, log, plan, test, wer, words } from './harness.mjs';
import { KEY, files, sha256, startListenServer } from './listen-server.mjs';

const { DeepgramClient } = await loadSdk();

plan(11);
const { daemon, client, fileUrl, ownText, closeFileServer } = await startListenServer(DeepgramClient, {
  limits: 'max_uploads=1\nretry_after_s=3\n',
});

// Every field a strict SDK reads, with UUID ids.
function checkPrerecorded (doc, { utterances = false } = {}) {
  const m = doc.metadata;
  assert(m && typeof m === 'object', 'metadata');
  for (const k of ['transaction_key', 'request_id', 'sha256', 'created', 'duration', 'channels', 'models', 'model_info'])
    assert(k in m, `metadata.${k} missing`);
  assert(isUuid(m.request_id), `metadata.request_id is not a UUID: ${m.request_id}`);
  assert(/^[0-9a-f]{64}$/.test(m.sha256), `metadata.sha256: ${m.sha256}`);
  assert(!Number.isNaN(Date.parse(m.created)), `metadata.created: ${m.created}`);
  assert(typeof m.duration === 'number' && m.duration > 1, `metadata.duration: ${m.duration}`);
  assert(m.channels === 1, 'metadata.channels');
  assert(Array.isArray(m.models) && m.models.length === 1 && isUuid(m.models[0]), 'metadata.models');
  const info = m.model_info[m.models[0]];
  assert(info && typeof info.name === 'string' && typeof info.version === 'string' && typeof info.arch === 'string', 'metadata.model_info');
  const ch = doc.results.channels;
  assert(Array.isArray(ch) && ch.length === 1, 'results.channels');
  const alt = ch[0].alternatives[0];
  assert(typeof alt.transcript === 'string' && typeof alt.confidence === 'number', 'alternative transcript/confidence');
  assert(Array.isArray(alt.words) && alt.words.length > 0, 'alternative words');
  for (const w of alt.words)
    for (const k of ['word', 'start', 'end', 'confidence', 'punctuated_word'])
      assert(k in w, `word.${k} missing in ${JSON.stringify(w)}`);
  if (utterances) {
    assert(Array.isArray(doc.results.utterances) && doc.results.utterances.length > 0, 'results.utterances');
    for (const u of doc.results.utterances)
      for (const k of ['start', 'end', 'confidence', 'channel', 'transcript', 'words', 'speaker', 'id'])
        assert(k in u, `utterance.${k} missing`);
  }
}

try {
  const reference = {};
  for (const name of files)
    reference[name] = await ownText(name);

  await test('transcribeFile returns the same words as the project\'s own /v1/listen', async () => {
    for (const name of files) {
      const doc = await client.listen.v1.media.transcribeFile(fs.createReadStream(path.join(librivox, name)), { model: 'nova-3', smart_format: true });
      const got = doc.results.channels[0].alternatives[0].transcript;
      log(`${name}: deepgram "${got}" / own "${reference[name]}"`);
      assert(words(got).join(' ') === words(reference[name]).join(' '), `words differ:\n  ${got}\n  ${reference[name]}`);
      checkPrerecorded(doc);
      assert(doc.metadata.sha256 === sha256(name), `metadata.sha256 is not the file's: ${doc.metadata.sha256}`);
    }
  });

  await test('transcribeUrl (audio on 127.0.0.1) returns the same words as /v1/listen, sha256 of the fetched audio', async () => {
    const doc = await client.listen.v1.media.transcribeUrl({ url: fileUrl(files[1]), model: 'nova-3' });
    const got = doc.results.channels[0].alternatives[0].transcript;
    assert(words(got).join(' ') === words(reference[files[1]]).join(' '), `words differ:\n  ${got}\n  ${reference[files[1]]}`);
    checkPrerecorded(doc);
    // the hash of the audio bytes the server fetched, not of the JSON body {"url"}
    assert(doc.metadata.sha256 === sha256(files[1]), `metadata.sha256 is not the fetched file's: ${doc.metadata.sha256}`);
  });

  await test('utterances, paragraphs and detect_language are in the answer, every field present', async () => {
    const doc = await client.listen.v1.media.transcribeFile(fs.createReadStream(path.join(librivox, files[0])),
      { model: 'nova-2', utterances: true, paragraphs: true, detect_language: true });
    checkPrerecorded(doc, { utterances: true });
    const ch = doc.results.channels[0];
    assert(ch.detected_language === 'en' && typeof ch.language_confidence === 'number', `detected_language: ${ch.detected_language}`);
    const p = ch.alternatives[0].paragraphs;
    assert(p && typeof p.transcript === 'string' && Array.isArray(p.paragraphs) && p.paragraphs.length > 0, 'paragraphs');
    assert(p.paragraphs[0].sentences.length > 0 && typeof p.paragraphs[0].num_words === 'number', 'paragraph shape');
    assert(doc.metadata.model_info[doc.metadata.models[0]].name === 'sphinx-en-us', 'nova-2 maps to the configured model');
  });

  // A stereo WAV made here: @left on channel 0, @right on channel 1 (16 kHz linear16 each).
  function stereoWav (left, right) {
    const a = fs.readFileSync(path.join(librivox, left)).subarray(44);
    const b = fs.readFileSync(path.join(librivox, right)).subarray(44);
    const frames = Math.max(a.length, b.length) / 2;
    const out = Buffer.alloc(44 + frames * 4);
    out.write('RIFF', 0); out.writeUInt32LE(36 + frames * 4, 4); out.write('WAVE', 8);
    out.write('fmt ', 12); out.writeUInt32LE(16, 16); out.writeUInt16LE(1, 20); out.writeUInt16LE(2, 22);
    out.writeUInt32LE(16000, 24); out.writeUInt32LE(64000, 28); out.writeUInt16LE(4, 32); out.writeUInt16LE(16, 34);
    out.write('data', 36); out.writeUInt32LE(frames * 4, 40);
    for (let i = 0; i < frames; i++) {
      out.writeInt16LE(2 * i < a.length ? a.readInt16LE(2 * i) : 0, 44 + 4 * i);
      out.writeInt16LE(2 * i < b.length ? b.readInt16LE(2 * i) : 0, 46 + 4 * i);
    }
    return out;
  }

  await test('multichannel=true: one results.channels entry per input channel, each decoded on its own', async () => {
    const wav = stereoWav(files[0], files[1]);
    const doc = await client.listen.v1.media.transcribeFile(wav, { model: 'nova-3', multichannel: true, utterances: true });
    const ch = doc.results.channels;
    assert(doc.metadata.channels === 2 && ch.length === 2, `metadata.channels ${doc.metadata.channels}, ${ch.length} entries`);
    const t = ch.map(c => words(c.alternatives[0].transcript));
    const refs = files.map(f => words(reference[f]));
    log(`multichannel: 0 "${t[0].join(' ')}" / 1 "${t[1].join(' ')}"`);
    // each channel is its own recording: close to its file's own transcript, far from the other's
    for (let c = 0; c < 2; c++) {
      const mine = wer(refs[c], t[c]), other = wer(refs[1 - c], t[c]);
      assert(mine <= 0.2 && mine < other, `channel ${c}: WER ${mine.toFixed(2)} against its file, ${other.toFixed(2)} against the other`);
    }
    assert(doc.results.utterances.some(u => u.channel === 0) && doc.results.utterances.some(u => u.channel === 1), 'utterances name their channel');
    for (const c of ch)
      for (const w of c.alternatives[0].words)
        for (const k of ['word', 'start', 'end', 'confidence', 'punctuated_word'])
          assert(k in w, `word.${k} missing`);
    // without it the channels are mixed, as before
    const mixed = await client.listen.v1.media.transcribeFile(wav, { model: 'nova-3' });
    assert(mixed.metadata.channels === 1 && mixed.results.channels.length === 1, 'mixed without multichannel');
  });

  await test('repeated keyterm values (and keywords without their boost) become the prompt; Token auth is accepted', async () => {
    const doc = await client.listen.v1.media.transcribeFile(fs.createReadStream(path.join(librivox, files[0])),
      { model: 'nova-3', keyterm: ['Marianne', 'Elinor'], keywords: ['Dashwood:2'] });
    checkPrerecorded(doc);
    // "Marianne, Elinor, Dashwood": 3 values, 26 bytes, handed to the engine as its prompt
    const line = daemon.readLog().split('\n').find(l => l.includes(`[${doc.metadata.request_id}]`) && l.includes('in the prompt'));
    assert(line && /3 keyterm\/keywords value\(s\) in the prompt \(26 bytes\)/.test(line), `prompt log line: ${line}`);
  });

  await test('an undecodable body is an error in Deepgram\'s shape with a UUID request id', async () => {
    const res = await fetch(`${daemon.url}/v1/listen?model=nova-3`, {
      method: 'POST', headers: { 'Content-Type': 'application/octet-stream', Authorization: `Token ${KEY}` }, body: 'not audio at all',
    });
    const doc = await res.json();
    assert(res.status === 415, `status ${res.status}`);
    assert(typeof doc.err_code === 'string' && typeof doc.err_msg === 'string' && isUuid(doc.request_id), JSON.stringify(doc));
    assert(res.headers.get('dg-request-id') === doc.request_id, 'dg-request-id header');
    assert(daemon.readLog().includes(`[${doc.request_id}]`), 'the log line names the request id');
    let thrown = null;
    try {
      await client.listen.v1.media.transcribeFile(Buffer.from('not audio at all'), { model: 'nova-3' });
    } catch (e) { thrown = e; }
    assert(thrown && thrown.statusCode === 415, `the SDK raises the 415: ${thrown}`);
  });

  await test('a bad option value is a 400 in Deepgram\'s shape, and the server keeps serving', async () => {
    const res = await fetch(`${daemon.url}/v1/listen?model=nova-3&detect_language=maybe`, {
      method: 'POST', headers: { 'Content-Type': 'audio/wav' }, body: fs.readFileSync(path.join(librivox, files[0])),
    });
    const doc = await res.json();
    assert(res.status === 400 && doc.err_code === 'Bad Request' && /detect_language/.test(doc.err_msg), JSON.stringify(doc));
    assert((await ownText(files[0])) === reference[files[0]], 'served afterwards');
  });

  await test('deepgram/audio+video bodies are Deepgram requests', async () => {
    const res = await fetch(`${daemon.url}/v1/listen`, {
      method: 'POST', headers: { 'Content-Type': 'deepgram/audio+video' }, body: fs.readFileSync(path.join(librivox, files[0])),
    });
    assert(res.status === 200, `status ${res.status}`);
    checkPrerecorded(await res.json());
  });

  await test('the project\'s own /v1/listen answers as before (no Deepgram fields)', async () => {
    const res = await fetch(`${daemon.url}/v1/listen?model=sphinx-en-us&word_timestamps=true`, {
      method: 'POST', headers: { 'Content-Type': 'audio/wav', 'X-Request-ID': 'mine-1' }, body: fs.readFileSync(path.join(librivox, files[0])),
    });
    const doc = await res.json();
    assert(res.status === 200 && doc.request_id === 'mine-1' && Array.isArray(doc.words) && doc.results === undefined, JSON.stringify(doc).slice(0, 200));
  });
  await test('overload answers 503 in Deepgram\'s shape with Retry-After (the SDKs wait that long)', async () => {
    // one upload in progress, the limit ([limits] max_uploads=1): the next is refused from its headers
    const body = fs.readFileSync(path.join(librivox, files[0]));
    const first = http.request({ host: '127.0.0.1', port: daemon.port, method: 'POST', path: '/v1/listen?model=nova-3',
      headers: { 'Content-Type': 'audio/wav', 'Content-Length': body.length } });
    first.on('error', () => {});
    first.write(body.subarray(0, 1000));
    await new Promise(r => setTimeout(r, 500));
    try {
      const res = await fetch(`${daemon.url}/v1/listen?model=nova-3`, {
        method: 'POST', headers: { 'Content-Type': 'audio/wav', Authorization: `Token ${KEY}` }, body,
      });
      const doc = await res.json();
      assert(res.status === 503, `status ${res.status}`);
      assert(res.headers.get('retry-after') === '3', `Retry-After: ${res.headers.get('retry-after')}`);
      assert(doc.err_code === 'SERVICE_UNAVAILABLE' && typeof doc.err_msg === 'string' && isUuid(doc.request_id), JSON.stringify(doc));
    } finally {
      first.destroy();
    }
    await new Promise(r => setTimeout(r, 500));
    assert((await ownText(files[0])) === reference[files[0]], 'served afterwards');
  });
} finally {
  closeFileServer();
  const code = await daemon.stop();
  await test('the daemon drains and exits 0 on SIGTERM (clean under the sanitizers)', async () => {
    assert(code === 0, `exit code ${code}`);
  });
  done();
}
