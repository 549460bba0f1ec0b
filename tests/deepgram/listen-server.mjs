// SPDX-License-Identifier: MIT
// What the prerecorded and callback tests start alike: the real daemon on 127.0.0.1 with the
// Deepgram dialect (http;gst-decoder;sphinx, private URLs allowed, nova-2 mapped to
// sphinx-en-us), a file server on 127.0.0.1 for transcribeUrl, the SDK's client for it, and
// the project's own /v1/listen answer as the reference.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { assert, librivox, startDaemon } from './harness.mjs';

export const KEY = 'test-key-not-checked';
export const files = ['sense_and_sensibility_01_austen_64kb-0870.wav', 'sense_and_sensibility_01_austen_64kb-0880.wav'];
export const sha256 = name => crypto.createHash('sha256').update(fs.readFileSync(path.join(librivox, name))).digest('hex');

// Starts the daemon (@limits: more lines of [limits]; @sections: more sections) and the file
// server; resolves to {daemon, client, fileUrl, ownText, closeFileServer}.
export async function startListenServer (DeepgramClient, { limits = '', sections = '' } = {}) {
  const daemon = await startDaemon(`[server]
log_level=info
[plugins]
load=http;gst-decoder;sphinx
[limits]
allow_private_urls=true
${limits}${sections}[deepgram]
models=nova-2:sphinx-en-us
`);

  // the audio served on 127.0.0.1 for transcribeUrl
  const fileServer = http.createServer((req, res) => {
    const name = path.basename(req.url);
    if (!files.includes(name)) { res.writeHead(404); res.end(); return; }
    const body = fs.readFileSync(path.join(librivox, name));
    res.writeHead(200, { 'Content-Type': 'audio/wav', 'Content-Length': body.length });
    res.end(body);
  });
  await new Promise(r => fileServer.listen(0, '127.0.0.1', r));
  const fileUrl = name => `http://127.0.0.1:${fileServer.address().port}/${name}`;

  const client = new DeepgramClient({ apiKey: KEY, baseUrl: daemon.url, environment: { base: daemon.url, production: daemon.url.replace('http', 'ws') } });

  // The project's own answer, the reference.
  async function ownText (name) {
    const res = await fetch(`${daemon.url}/v1/listen`, {
      method: 'POST', headers: { 'Content-Type': 'audio/wav' }, body: fs.readFileSync(path.join(librivox, name)),
    });
    assert(res.status === 200, `own /v1/listen: status ${res.status}`);
    const doc = await res.json();
    assert(typeof doc.text === 'string' && doc.metadata === undefined, `own /v1/listen answer changed: ${JSON.stringify(doc).slice(0, 200)}`);
    return doc.text;
  }

  return { daemon, client, fileUrl, ownText, closeFileServer: () => fileServer.close() };
}
