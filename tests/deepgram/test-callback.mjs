// SPDX-License-Identifier: MIT
// Deepgram's asynchronous callback through the official @deepgram/sdk against the real daemon
// on 127.0.0.1: transcribeFile / transcribeUrl with `callback` answer {"request_id"} at once,
// and the job machinery (job store, runner, retries, the URL guard) delivers the result in
// Deepgram's shape, with the same request id, to a receiver on 127.0.0.1; a failure after the
// acceptance is delivered as Deepgram's error document; callback_method=put is a PUT.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { assert, done, isUuid, librivox, loadSdk, log, plan, startDaemon, test, words } from './harness.mjs';
import { KEY, files, sha256, startListenServer } from './listen-server.mjs';

const { DeepgramClient } = await loadSdk();

plan(8);
const spool = fs.mkdtempSync(path.join(os.tmpdir(), 'lmd-deepgram-jobs-'));
const { daemon, client, fileUrl, ownText, closeFileServer } = await startListenServer(DeepgramClient, {
  sections: `[jobs]
dir=${spool}
callback_backoff_s=1
poll_ms=50
`,
});

// The callback receiver on 127.0.0.1: every delivery by path; /fail-N/ answers 503 N times.
const deliveries = new Map();
const failures = new Map();
const receiver = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', c => chunks.push(c));
  req.on('end', () => {
    const m = /^\/fail-(\d+)\//.exec(req.url);
    const failed = failures.get(req.url) || 0;
    const entry = { method: req.method, type: req.headers['content-type'], body: Buffer.concat(chunks).toString('utf8'), answered: 200 };
    if (m && failed < parseInt(m[1], 10)) {
      failures.set(req.url, failed + 1);
      entry.answered = 503;
    }
    if (!deliveries.has(req.url)) deliveries.set(req.url, []);
    deliveries.get(req.url).push(entry);
    res.writeHead(entry.answered);
    res.end();
  });
});
await new Promise(r => receiver.listen(0, '127.0.0.1', r));
const callbackUrl = p => `http://127.0.0.1:${receiver.address().port}${p}`;

// Resolves to the deliveries of @p once one was answered 200 (bounded wait).
async function delivered (p, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const list = deliveries.get(p) || [];
    if (list.some(d => d.answered === 200))
      return list;
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error(`nothing delivered to ${p} within ${timeoutMs} ms`);
}

// The fields a strict SDK reads in a prerecorded answer.
function checkAnswer (doc) {
  const m = doc.metadata;
  for (const k of ['transaction_key', 'request_id', 'sha256', 'created', 'duration', 'channels', 'models', 'model_info'])
    assert(m && k in m, `metadata.${k} missing`);
  assert(isUuid(m.request_id) && Array.isArray(m.models) && isUuid(m.models[0]), 'UUIDs');
  const alt = doc.results.channels[0].alternatives[0];
  assert(typeof alt.transcript === 'string' && typeof alt.confidence === 'number' && Array.isArray(alt.words), 'alternative');
  for (const w of alt.words)
    for (const k of ['word', 'start', 'end', 'confidence', 'punctuated_word'])
      assert(k in w, `word.${k} missing`);
}

try {
  const reference = {};
  for (const name of files)
    reference[name] = await ownText(name);

  await test('transcribeFile with callback answers {request_id} at once; the result is POSTed in Deepgram\'s shape', async () => {
    const accepted = await client.listen.v1.media.transcribeFile(fs.createReadStream(path.join(librivox, files[0])),
      { model: 'nova-3', callback: callbackUrl('/file') });
    log(`accepted: ${JSON.stringify(accepted)}`);
    assert(isUuid(accepted.request_id) && accepted.results === undefined, `accepted answer: ${JSON.stringify(accepted)}`);
    const list = await delivered('/file');
    assert(list.length === 1 && list[0].method === 'POST' && /application\/json/.test(list[0].type), `delivery: ${JSON.stringify(list.map(d => d.method))}`);
    const doc = JSON.parse(list[0].body);
    checkAnswer(doc);
    assert(doc.metadata.request_id === accepted.request_id, `metadata.request_id ${doc.metadata.request_id} != ${accepted.request_id}`);
    assert(doc.metadata.sha256 === sha256(files[0]), 'sha256 of the uploaded audio');
    assert(doc.job_id === undefined && doc.status === undefined, 'no job document around the answer');
    const got = doc.results.channels[0].alternatives[0].transcript;
    assert(words(got).join(' ') === words(reference[files[0]]).join(' '), `words differ:\n  ${got}\n  ${reference[files[0]]}`);
  });

  await test('transcribeUrl with callback and callback_method=put: a PUT with the answer shaped by the request\'s options', async () => {
    const accepted = await client.listen.v1.media.transcribeUrl({ url: fileUrl(files[1]), model: 'nova-2',
      callback: callbackUrl('/url'), callback_method: 'PUT', utterances: true });
    assert(isUuid(accepted.request_id), JSON.stringify(accepted));
    const list = await delivered('/url');
    assert(list[0].method === 'PUT', `method ${list[0].method}`);
    const doc = JSON.parse(list[0].body);
    checkAnswer(doc);
    assert(doc.metadata.request_id === accepted.request_id, 'same request id');
    assert(doc.metadata.sha256 === sha256(files[1]), `sha256 is the fetched audio's: ${doc.metadata.sha256}`);
    assert(doc.metadata.model_info[doc.metadata.models[0]].name === 'sphinx-en-us', 'nova-2 maps to the configured model');
    assert(Array.isArray(doc.results.utterances) && doc.results.utterances.length > 0, 'utterances=true shapes the callback');
    const got = doc.results.channels[0].alternatives[0].transcript;
    assert(words(got).join(' ') === words(reference[files[1]]).join(' '), `words differ:\n  ${got}\n  ${reference[files[1]]}`);
  });

  await test('a failure after the acceptance is POSTed as Deepgram\'s error document with the same request id', async () => {
    const res = await fetch(`${daemon.url}/v1/listen?model=nova-3&callback=${encodeURIComponent(callbackUrl('/bad'))}`, {
      method: 'POST', headers: { 'Content-Type': 'application/octet-stream', Authorization: `Token ${KEY}` }, body: 'not audio at all',
    });
    const accepted = await res.json();
    assert(res.status === 200 && isUuid(accepted.request_id), `${res.status} ${JSON.stringify(accepted)}`);
    assert(res.headers.get('dg-request-id') === accepted.request_id, 'dg-request-id header');
    const list = await delivered('/bad');
    const doc = JSON.parse(list[0].body);
    assert(doc.request_id === accepted.request_id && typeof doc.err_code === 'string' && typeof doc.err_msg === 'string',
           `error document: ${list[0].body}`);
    assert(doc.metadata === undefined && doc.job_id === undefined, 'only the error document');
    assert(daemon.readLog().includes(`[${accepted.request_id}]`), 'the log names the request id');
  });

  await test('a callback answered 503 is retried (the job runner\'s backoff) until delivered', async () => {
    const accepted = await client.listen.v1.media.transcribeFile(fs.readFileSync(path.join(librivox, files[0])),
      { model: 'nova-3', callback: callbackUrl('/fail-2/') });
    const list = await delivered('/fail-2/');
    assert(list.length === 3 && list[0].answered === 503 && list[1].answered === 503, `attempts: ${list.map(d => d.answered)}`);
    assert(list[2].body === list[0].body, 'the same body each time');
    assert(JSON.parse(list[2].body).metadata.request_id === accepted.request_id, 'same request id');
  });

  await test('a bad callback_method or callback URL is a 400 in Deepgram\'s shape before anything is accepted', async () => {
    let res = await fetch(`${daemon.url}/v1/listen?model=nova-3&callback_method=get&callback=${encodeURIComponent(callbackUrl('/never'))}`, {
      method: 'POST', headers: { 'Content-Type': 'audio/wav' }, body: fs.readFileSync(path.join(librivox, files[0])),
    });
    let doc = await res.json();
    assert(res.status === 400 && /callback_method/.test(doc.err_msg) && isUuid(doc.request_id), JSON.stringify(doc));
    res = await fetch(`${daemon.url}/v1/listen?model=nova-3&callback=ftp%3A%2F%2F127.0.0.1%2Fx`, {
      method: 'POST', headers: { 'Content-Type': 'audio/wav' }, body: fs.readFileSync(path.join(librivox, files[0])),
    });
    doc = await res.json();
    assert(res.status === 400 && /^callback: /.test(doc.err_msg), JSON.stringify(doc));
    assert(!deliveries.has('/never'), 'nothing delivered');
  });

  await test('the server keeps serving synchronous Deepgram requests meanwhile', async () => {
    const doc = await client.listen.v1.media.transcribeFile(fs.readFileSync(path.join(librivox, files[1])), { model: 'nova-3' });
    checkAnswer(doc);
    assert(doc.metadata.sha256 === sha256(files[1]), 'sha256');
  });
} finally {
  const code = await daemon.stop();
  await test('the daemon drains and exits 0 on SIGTERM', async () => {
    assert(code === 0, `exit code ${code}`);
  });
}

// The URL guard: without allow_private_urls a loopback callback is refused at once.
const guarded = await startDaemon(`[server]
log_level=info
[plugins]
load=http;gst-decoder;sphinx
[jobs]
dir=${spool}/guarded
`);
try {
  await test('without [limits] allow_private_urls a loopback callback is a 400 naming callback, nothing is delivered', async () => {
    const res = await fetch(`${guarded.url}/v1/listen?model=nova-3&callback=${encodeURIComponent(callbackUrl('/guarded'))}`, {
      method: 'POST', headers: { 'Content-Type': 'audio/wav' }, body: fs.readFileSync(path.join(librivox, files[0])),
    });
    const doc = await res.json();
    assert(res.status === 400 && /^callback: /.test(doc.err_msg) && isUuid(doc.request_id), JSON.stringify(doc));
    await new Promise(r => setTimeout(r, 500));
    assert(!deliveries.has('/guarded'), 'nothing delivered');
  });
} finally {
  await guarded.stop();
  closeFileServer();
  receiver.close();
  fs.rmSync(spool, { recursive: true, force: true });
  done();
}
