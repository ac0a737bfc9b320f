#!/usr/bin/env node
// The chatd web client in headless Chromium where WebSockets are blocked: every WebSocket the page
// opens fails (as behind a proxy that strips Upgrade), so the client falls back to HTTP streaming
// (Server-Sent Events down, POSTs up) by itself. Two users chat through a TLS proxy in front of two
// nodes, and the page says it runs over HTTP streaming.
//
//   node scripts/browser/stream-e2e.mjs https://127.0.0.1:8443
//
// Driven by server/browser_stream_test.go, which owns the nodes and the proxy. Once both users
// chatted, this script prints "CHATTED" and waits for "CHECKED" on stdin (the test looks at the
// nodes meanwhile: two streams, no WebSocket). Every wait is for a page state, never a fixed time.
import { chromium } from 'playwright-core';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const baseURL = process.argv[2];
if (!baseURL) {
  console.error('usage: node stream-e2e.mjs <https base URL>');
  process.exit(2);
}
const OVERALL_TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS || 150000);
const STEP_TIMEOUT_MS = 20000;
const LAUNCH_TIMEOUT_MS = 60000; // starting Chromium is not under test, and slow on a loaded machine
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

const t0 = Date.now();
let currentStep = 'start';
function step(name) {
  currentStep = name;
  console.log(`[${((Date.now() - t0) / 1000).toFixed(2)}s] ${name}`);
}

const users = [];
const pageErrors = [];
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

// blockWebSockets runs in the page before its scripts: a WebSocket that never opens, as on a network
// that breaks them (the error and close events of a failed handshake), counting the attempts.
function blockWebSockets() {
  window.__wsAttempts = 0;
  window.WebSocket = class BlockedWebSocket {
    constructor(url) {
      window.__wsAttempts++;
      this.url = url;
      this.readyState = 0;
      this.onopen = this.onmessage = this.onerror = this.onclose = null;
      setTimeout(() => {
        this.readyState = 3;
        if (this.onerror) this.onerror({ type: 'error' });
        if (this.onclose) this.onclose({ code: 1006, reason: '' });
      }, 20);
    }
    send() { throw new Error('blocked'); }
    close() { this.readyState = 3; }
  };
}

async function openUser(name) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `chatd-stream-e2e-${name}-`));
  const u = { name, dir, context: null, page: null };
  users.push(u);
  u.context = await chromium.launchPersistentContext(dir, {
    executablePath,
    headless: true,
    ignoreHTTPSErrors: true, // the proxy's throw-away self-signed certificate
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--ignore-certificate-errors', '--disable-background-networking', '--disable-component-update',
      '--disable-sync'],
    timeout: LAUNCH_TIMEOUT_MS,
  });
  u.context.setDefaultTimeout(STEP_TIMEOUT_MS);
  await u.context.addInitScript(blockWebSockets);
  u.page = u.context.pages()[0] || await u.context.newPage();
  u.page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  return u;
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// signIn opens the page signed in as u.name, in room, and waits until it runs over HTTP streaming.
async function signIn(u, room) {
  const url = new URL(baseURL);
  url.searchParams.set('name', u.name);
  url.searchParams.set('room', room);
  await u.page.goto(url.toString());
  await u.page.locator(`#joinedRooms li[data-room-id="${room}"][data-state="joined"]`).waitFor();
  await u.page.locator('#status[data-state="connected"][data-transport="http-stream"]').waitFor();
  const shown = u.page.locator('#transport[data-transport="http-stream"]');
  await shown.waitFor();
  const text = (await shown.textContent()).trim();
  if (text !== 'via HTTP streaming') throw new Error(`${u.name}'s page says "${text}", want "via HTTP streaming"`);
  const tries = await u.page.evaluate(() => window.__wsAttempts);
  if (tries < 1) throw new Error(`${u.name}'s page never tried a WebSocket: not a fallback`);
}

// from sends text; to sees it from from.
async function chat(from, to, text) {
  await from.page.fill('#message', text);
  await from.page.press('#message', 'Enter');
  await to.page.locator('#messages li.msg', { hasText: text })
    .filter({ has: to.page.locator('.sender', { hasText: new RegExp(`^\\s*${escapeRe(from.name)}\\s*$`) }) })
    .first().waitFor();
}

async function scenario() {
  const room = `stream-${Math.random().toString(36).slice(2, 10)}`;
  step(`two Chromium profiles with WebSockets blocked open ${baseURL} and join ${room}`);
  const alice = await openUser('alice');
  const bob = await openUser('bob');
  await Promise.all([signIn(alice, room), signIn(bob, room)]);
  if (!alice.page.url().startsWith('https:')) throw new Error(`page is ${alice.page.url()}, want https`);

  step(`both chat in ${room} over HTTP streaming`);
  await chat(alice, bob, 'hello without WebSockets');
  await chat(bob, alice, 'hi back, over SSE');
  await chat(alice, bob, 'and once more');
  // Both see each other in the member list.
  for (const [u, other] of [[alice, bob], [bob, alice]]) {
    await u.page.locator('#members li', { hasText: other.name }).first().waitFor();
  }

  step('ask the test to look at the nodes');
  console.log('CHATTED');
  const { value } = await lines.next();
  if ((value || '').trim() !== 'CHECKED') throw new Error(`expected "CHECKED" on stdin, got ${JSON.stringify(value)}`);
  if (pageErrors.length) throw new Error(`JavaScript errors in the page: ${pageErrors.join('; ')}`);
}

async function cleanup() {
  for (const u of users) {
    try { if (u.context) await u.context.close(); } catch { /* already gone */ }
    await fs.rm(u.dir, { recursive: true, force: true }).catch(() => {});
  }
}

let timer;
const overall = new Promise((_, reject) => {
  timer = setTimeout(() => reject(new Error(`overall timeout of ${OVERALL_TIMEOUT_MS} ms`)), OVERALL_TIMEOUT_MS);
});
let code = 0;
try {
  await Promise.race([scenario(), overall]);
  step('PASS');
} catch (e) {
  code = 1;
  console.error(`FAIL at step "${currentStep}": ${e.message.split('\n')[0]}`);
} finally {
  clearTimeout(timer);
  await cleanup();
}
process.exit(code);
