// SPDX-License-Identifier: MIT
// The real daemon on 127.0.0.1 for the Deepgram SDK tests, and TAP output (stdout: TAP only;
// everything else goes to stderr).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const buildDir = process.env.LMD_BUILD_DIR;
export const librivox = '/usr/share/pocketsphinx/test/data/librivox';

let planned = 0;
let failed = 0;

export function plan (n) {
  planned = n;
  process.stdout.write(`1..${n}\n`);
}

export function skipAll (why) {
  process.stdout.write(`1..0 # SKIP ${why}\n`);
  process.exit(0);
}

let count = 0;
export async function test (name, fn) {
  count++;
  try {
    await fn();
    process.stdout.write(`ok ${count} - ${name}\n`);
  } catch (e) {
    failed++;
    process.stdout.write(`not ok ${count} - ${name}\n`);
    for (const line of String(e && e.stack ? e.stack : e).split('\n'))
      process.stdout.write(`# ${line}\n`);
  }
}

export function done () {
  if (count !== planned)
    process.stderr.write(`planned ${planned} tests, ran ${count}\n`);
  process.exitCode = failed > 0 || count !== planned ? 1 : 0;
}

export function log (...args) {
  process.stderr.write(args.join(' ') + '\n');
}

export function assert (cond, message) {
  if (!cond)
    throw new Error(message);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export function isUuid (s) {
  return typeof s === 'string' && UUID.test(s);
}

// Words for comparing transcripts: lower case, no punctuation.
export function words (text) {
  return text.toLowerCase().replace(/[^\p{L}\p{N}' ]+/gu, ' ').split(/\s+/).filter(w => w.length > 0);
}

// Word error rate of @hyp against @ref (arrays of words).
export function wer (ref, hyp) {
  const d = Array.from({ length: ref.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= hyp.length; j++) d[0][j] = j;
  for (let i = 1; i <= ref.length; i++)
    for (let j = 1; j <= hyp.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
  return ref.length > 0 ? d[ref.length][hyp.length] / ref.length : 0;
}

// Starts build/server/lightning-mediad with @config on port 0; resolves to {port, url, stop, log}.
export async function startDaemon (config) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmd-deepgram-'));
  const confPath = path.join(dir, 'lightning-mediad.conf');
  const portPath = path.join(dir, 'port');
  const logPath = path.join(dir, 'daemon.log');
  fs.writeFileSync(confPath, config);
  const out = fs.openSync(logPath, 'w');
  const child = spawn(path.join(buildDir, 'server', 'lightning-mediad'),
                      ['--config', confPath, '--port=0', `--port-file=${portPath}`],
                      { stdio: ['ignore', out, out] });
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    if (fs.existsSync(portPath) && fs.readFileSync(portPath, 'utf8').trim() !== '')
      break;
    if (child.exitCode !== null)
      throw new Error(`the daemon exited (${child.exitCode}): ${fs.readFileSync(logPath, 'utf8')}`);
    await new Promise(r => setTimeout(r, 100));
  }
  const port = parseInt(fs.readFileSync(portPath, 'utf8').trim(), 10);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    readLog: () => fs.readFileSync(logPath, 'utf8'),
    // SIGTERM; resolves to the exit code (null when a signal ended it)
    stop: async () => {
      const exited = child.exitCode !== null ? Promise.resolve(child.exitCode)
                                             : new Promise(r => child.once('exit', code => r(code)));
      child.kill('SIGTERM');
      const code = await exited;
      process.stderr.write(fs.readFileSync(logPath, 'utf8').split('\n').slice(-40).join('\n') + '\n');
      fs.rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

// The SDK, or a skip when its folder has not been installed (scripts/install-deps.sh).
export async function loadSdk () {
  try {
    return await import('@deepgram/sdk');
  } catch (e) {
    skipAll(`@deepgram/sdk is not installed (run scripts/install-deps.sh): ${e.message}`);
  }
}
