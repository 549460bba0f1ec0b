// SPDX-License-Identifier: MIT
// The web page driven in headless Chromium (Debian's chromium, through playwright-core)
// against the real daemon on a loopback port, with a license key configured.
//
// Covers: the page and its files with ETags (304 on If-None-Match), health and models shown,
// the OpenAPI document rendered; a wrong key shows the server's 401 sentence; with the right
// key a LibriVox file uploaded shows the server's transcript word for word, clicking a word
// seeks the audio to it, the TXT and SRT downloads; live captions from a fake microphone fed
// a LibriVox WAV show interim text and then final text; a screenshot is not blank; no console
// errors.  Prints TAP on stdout; the daemon's log goes to a file, diagnostics to stderr.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const CHROMIUM = '/usr/bin/chromium';
const BUILD = process.env.LMD_BUILD_DIR;
const LIBRIVOX = '/usr/share/pocketsphinx/test/data/librivox';
const UPLOAD = 'sense_and_sensibility_01_austen_64kb-0870';
const LIVE = 'sense_and_sensibility_01_austen_64kb-0890';

let count = 0;
let failed = 0;
const tests = [];
function test(name, fn) { tests.push({ name, fn }); }
function assert(cond, message) { if (!cond) throw new Error(message); }

function skipAll(why) {
  console.log(`1..0 # SKIP ${why}`);
  process.exit(0);
}

if (!BUILD) skipAll('LMD_BUILD_DIR is not set');
if (!existsSync(CHROMIUM)) skipAll('chromium is not installed (scripts/install-deps.sh installs it)');
if (!existsSync(join(LIBRIVOX, `${UPLOAD}.wav`))) skipAll('pocketsphinx-testdata is not installed');
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  skipAll('playwright-core is not installed (npm ci in tests/web)');
}

// ---- the daemon ---------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'lmd-web-'));
function licenseTool(args) {
  const r = spawnSync(join(BUILD, 'plugins', 'license', 'lightning-license'), args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`lightning-license ${args[0]} failed: ${r.stderr}`);
  return r.stdout.trim();
}
licenseTool(['keygen', '--out', join(dir, 'vendor')]);
const KEY = licenseTool(['issue', '--signing-key', join(dir, 'vendor.key'), '--licensee', 'Web Test',
  '--days', '30', '--features', 'batch,streaming']);
writeFileSync(join(dir, 'lightning-mediad.conf'),
  '[plugins]\nload=http;gst-decoder;sphinx;license\n[limits]\nworkers=2\n' +
  `[license]\nkey=${KEY}\npublic_keys=${join(dir, 'vendor.pub')}\nstate_dir=${join(dir, 'state')}\n`);
const portFile = join(dir, 'port');
const logFile = join(dir, 'daemon.log');
const { openSync } = await import('node:fs');
const daemon = spawn(join(BUILD, 'server', 'lightning-mediad'),
  ['--config', join(dir, 'lightning-mediad.conf'), '--port=0', `--port-file=${portFile}`],
  { stdio: ['ignore', openSync(logFile, 'w'), openSync(logFile, 'a')] });
for (let i = 0; i < 300 && !(existsSync(portFile) && readFileSync(portFile, 'utf8').trim()); i++) await sleep(100);
const port = readFileSync(portFile, 'utf8').trim();
const BASE = `http://127.0.0.1:${port}`;

async function listen(path, key) {
  const r = await fetch(`${BASE}/v1/listen?timestamps=true`, {
    method: 'POST',
    headers: { 'Content-Type': 'audio/wav', ...(key ? { Authorization: `Token ${key}` } : {}) },
    body: readFileSync(path),
  });
  return { status: r.status, doc: await r.json() };
}

function referenceWords(id) {
  const line = readFileSync(join(LIBRIVOX, 'transcription'), 'utf8').split('\n').find((l) => l.includes(`(${id})`));
  return line.replace(/<\/?s>/g, '').replace(/\(.*\)/, '').trim().split(/\s+/);
}

// ---- the browser --------------------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${join(LIBRIVOX, `${LIVE}.wav`)}%noloop`,
    '--autoplay-policy=no-user-gesture-required'],
});
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
const page = await context.newPage();
const consoleErrors = [];
let allowed401 = false;
page.on('console', (m) => {
  if (m.type() !== 'error') return;
  // the browser's own line for the deliberate 401 answer
  if (allowed401 && /status of 401/.test(m.text())) return;
  consoleErrors.push(m.text());
});
page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));

// ---- tests --------------------------------------------------------------------------------

test('the page and its files are served with ETags, 304 on If-None-Match', async () => {
  for (const path of ['/', '/app.js', '/app.css', '/pcm-worklet.js', '/openapi.json']) {
    const r = await fetch(BASE + path);
    assert(r.status === 200, `${path}: ${r.status}`);
    const etag = r.headers.get('etag');
    assert(/^"[0-9a-f]{32}"$/.test(etag || ''), `${path}: ETag ${etag}`);
    await r.arrayBuffer();
    const again = await fetch(BASE + path, { headers: { 'If-None-Match': etag } });
    assert(again.status === 304, `${path} with If-None-Match: ${again.status}`);
  }
  const html = await (await fetch(BASE + '/')).text();
  assert(!/https?:\/\//.test(html.replace(/<!--[\s\S]*?-->/g, '')), 'the page names an outside URL');
});

test('the page loads: health, models, the API document', async () => {
  const response = await page.goto(BASE + '/');
  assert(response.status() === 200, `GET /: ${response.status()}`);
  await page.waitForFunction(() => document.getElementById('health').textContent === 'healthy', null, { timeout: 10000 });
  await page.waitForFunction(() => [...document.querySelectorAll('#model option')].some((o) => o.value === 'sphinx-en-us'), null, { timeout: 10000 });
  await page.waitForFunction(() => document.querySelectorAll('#api details').length >= 10, null, { timeout: 10000 });
  const apiText = await page.textContent('#api');
  assert(apiText.includes('/v1/audio/translations') && apiText.includes('/v1/models'), 'the API section lacks paths');
});

test('a wrong key shows the server\'s 401 sentence', async () => {
  const server = await listen(join(LIBRIVOX, `${UPLOAD}.wav`), 'not-the-key');
  assert(server.status === 401, `server answered ${server.status}`);
  allowed401 = true;
  await page.fill('#key', 'not-the-key');
  await page.click('#key-save');
  await page.setInputFiles('#file', join(LIBRIVOX, `${UPLOAD}.wav`));
  await page.waitForSelector('#error:not([hidden])', { timeout: 20000 });
  const shown = await page.textContent('#error');
  assert(shown.includes(server.doc.error), `shown "${shown}", the server says "${server.doc.error}"`);
  assert(shown.includes('INVALID_LICENSE'), `no code in "${shown}"`);
  await sleep(500); // the browser's console line and the upload's own events come after the answer
  assert(await page.isHidden('#progress'), 'the progress bar is still shown after the refusal');
  allowed401 = false;
});

let serverDoc = null;
test('with the right key, an uploaded file shows the server\'s transcript word for word', async () => {
  serverDoc = (await listen(join(LIBRIVOX, `${UPLOAD}.wav`), KEY)).doc;
  assert(serverDoc.words.length > 10, 'the server found few words');
  await page.fill('#key', KEY);
  await page.click('#key-save');
  assert(await page.evaluate(() => localStorage.getItem('lmd-key')) === KEY, 'the key is not in localStorage');
  await page.setInputFiles('#file', join(LIBRIVOX, `${UPLOAD}.wav`));
  await page.waitForSelector('#transcript .word', { timeout: 60000 });
  assert(await page.isHidden('#error'), 'an error is shown');
  assert(await page.isHidden('#progress'), 'the progress bar is still shown with the transcript');
  const words = await page.$$eval('#transcript .word', (spans) => spans.map((s) => s.textContent));
  const expected = serverDoc.words.map((w) => w.word);
  assert(words.length === expected.length, `page ${words.length} words, server ${expected.length}`);
  words.forEach((w, i) => assert(w === expected[i], `word ${i}: page "${w}", server "${expected[i]}"`));
});

test('clicking a word seeks the audio to its start', async () => {
  const index = serverDoc.words.findIndex((w) => w.start > 2.0);
  const start = serverDoc.words[index].start;
  await page.waitForFunction(() => document.getElementById('audio').readyState >= 1, null, { timeout: 10000 });
  await page.click(`#transcript .word[data-index="${index}"]`);
  const t = await page.evaluate(() => document.getElementById('audio').currentTime);
  assert(Math.abs(t - start) < 0.25, `currentTime ${t}, word start ${start}`);
  await page.evaluate(() => document.getElementById('audio').pause());
  await page.evaluate((s) => { const a = document.getElementById('audio'); a.currentTime = s; }, start);
  await page.waitForFunction((i) => document.querySelector(`.word[data-index="${i}"]`).classList.contains('current'), index, { timeout: 5000 });
});

test('the TXT and SRT downloads hold the transcript', async () => {
  const [txt] = await Promise.all([page.waitForEvent('download'), page.click('[data-download="txt"]')]);
  const text = readFileSync(await txt.path(), 'utf8').trim();
  assert(text === serverDoc.text, `TXT "${text}"`);
  const [srt] = await Promise.all([page.waitForEvent('download'), page.click('[data-download="srt"]')]);
  const cues = readFileSync(await srt.path(), 'utf8').trim().split('\n\n').map((c) => c.split('\n'));
  let last = 0;
  cues.forEach((c, i) => {
    assert(c[0] === String(i + 1), `cue ${i + 1} numbered "${c[0]}"`);
    const m = /^(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)$/.exec(c[1]);
    assert(m, `cue ${i + 1} timing "${c[1]}"`);
    const a = +m[1] * 3600 + +m[2] * 60 + +m[3] + +m[4] / 1000;
    const b = +m[5] * 3600 + +m[6] * 60 + +m[7] + +m[8] / 1000;
    assert(a >= last && b > a && b <= serverDoc.duration + 0.001, `cue ${i + 1} times ${a}–${b}`);
    last = b;
  });
  assert(cues.map((c) => c.slice(2).join(' ')).join(' ') === serverDoc.text, 'SRT words differ');
});

test('live captions from the microphone: interim text, then final text', async () => {
  await page.evaluate(() => {
    window.__seen = { interims: [], finals: 0, firstInterimBeforeFinal: false };
    new MutationObserver(() => {
      const t = document.getElementById('interim').textContent;
      if (t) {
        window.__seen.interims.push(t);
        if (window.__seen.finals === 0) window.__seen.firstInterimBeforeFinal = true;
      }
    }).observe(document.getElementById('interim'), { childList: true, characterData: true, subtree: true });
    new MutationObserver(() => { window.__seen.finals = document.querySelectorAll('#finals li').length; })
      .observe(document.getElementById('finals'), { childList: true });
  });
  await page.click('#mic');
  await page.waitForFunction(() => window.__seen.finals > 0, null, { timeout: 60000 });
  const seen = await page.evaluate(() => window.__seen);
  assert(seen.interims.length > 0 && seen.firstInterimBeforeFinal, 'no interim text before the final');
  const final = await page.textContent('#finals li .final');
  const reference = new Set(referenceWords(LIVE));
  const words = final.split(/\s+/).filter(Boolean);
  const hits = words.filter((w) => reference.has(w)).length;
  process.stderr.write(`# final: "${final}" (${hits} of ${words.length} words in the reference)\n`);
  assert(words.length >= 3 && hits / words.length >= 0.4, `final "${final}" is not the recording`);
  const timing = await page.textContent('#finals li .time');
  assert(/^\d+\.\d\d–\d+\.\d\d s$/.test(timing), `timing "${timing}"`);
  await page.click('#mic');
  await page.waitForFunction(() => document.getElementById('live-state').textContent === 'stopped', null, { timeout: 30000 });
  assert(await page.isHidden('#error'), `an error is shown: ${await page.textContent('#error')}`);
});

test('a screenshot of the page is not blank', async () => {
  const png = await page.screenshot({ fullPage: true });
  const check = await context.newPage();
  const stats = await check.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width;
    canvas.height = img.height;
    const g = canvas.getContext('2d');
    g.drawImage(img, 0, 0);
    const data = g.getImageData(0, 0, img.width, img.height).data;
    const colours = new Set();
    let dark = 0;
    for (let i = 0; i < data.length; i += 4 * 7) {
      colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      if (data[i] + data[i + 1] + data[i + 2] < 200) dark++;
    }
    return { width: img.width, height: img.height, colours: colours.size, dark };
  }, png.toString('base64'));
  await check.close();
  writeFileSync(join(process.env.LMD_WEB_SCREENSHOT_DIR || dir, 'web-page.png'), png);
  process.stderr.write(`# screenshot ${stats.width}x${stats.height}: ${stats.colours} colours, ${stats.dark} dark samples\n`);
  assert(stats.width >= 800 && stats.height >= 600, 'screenshot too small');
  assert(stats.colours >= 20 && stats.dark >= 500, 'the screenshot is blank');
});

test('no console errors', async () => {
  assert(consoleErrors.length === 0, `console errors: ${consoleErrors.join(' | ')}`);
});

// ---- run ----------------------------------------------------------------------------------

console.log(`1..${tests.length}`);
for (const t of tests) {
  count++;
  try {
    await t.fn();
    console.log(`ok ${count} - ${t.name}`);
  } catch (e) {
    failed++;
    console.log(`not ok ${count} - ${t.name}`);
    for (const line of String(e.stack || e).split('\n')) console.log(`# ${line}`);
  }
}
await browser.close();
daemon.kill('SIGTERM');
await new Promise((resolve) => daemon.once('exit', resolve));
if (failed > 0) process.stderr.write(readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n') + '\n');
rmSync(dir, { recursive: true, force: true });
process.exit(failed > 0 ? 1 : 0);
