#!/usr/bin/env node
// The chatd web client in headless Chromium, over wss:// through a TLS proxy in front of two nodes,
// across a rolling restart: one node drains and its users reconnect to the other.
//
//   node scripts/browser/proxy-e2e.mjs https://127.0.0.1:8443
//
// Driven by server/browser_proxy_test.go, which owns the nodes. The handshake with it is one line each
// way: once both users chat, this script prints "DRAIN" and waits for "DRAINED <n>" on stdin (n: how
// many of the two users were on the node that drained). The proxy's certificate is self-signed: the
// browser is told to accept it. Every wait is for a page state (locator.waitFor), never a fixed time.
import { chromium } from 'playwright-core';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const baseURL = process.argv[2];
if (!baseURL) {
  console.error('usage: node proxy-e2e.mjs <https base URL>');
  process.exit(2);
}
const OVERALL_TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS || 150000);
const STEP_TIMEOUT_MS = 20000;
// Starting Chromium is not under test, and takes over 20 s on a loaded 2-core CI machine.
const LAUNCH_TIMEOUT_MS = 60000;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

const t0 = Date.now();
let currentStep = 'start';
function step(name) {
  currentStep = name;
  console.log(`[${((Date.now() - t0) / 1000).toFixed(2)}s] ${name}`);
}

const users = []; // {name, dir, context, page}
const pageErrors = [];
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function openUser(name) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `chatd-proxy-e2e-${name}-`));
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
  u.page = u.context.pages()[0] || await u.context.newPage();
  u.page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  return u;
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// signIn opens the page signed in as u.name, in room (the page's URL contract: see server/web/app.js).
async function signIn(u, room) {
  const url = new URL(baseURL);
  url.searchParams.set('name', u.name);
  url.searchParams.set('room', room);
  await u.page.goto(url.toString());
  await u.page.locator(`#joinedRooms li[data-room-id="${room}"][data-state="joined"]`).waitFor();
  await u.page.locator('#status[data-state="connected"]').waitFor();
}

// from sends text; to sees it from from.
async function chat(from, to, text) {
  await from.page.fill('#message', text);
  await from.page.press('#message', 'Enter');
  await to.page.locator('#messages li.msg', { hasText: text })
    .filter({ has: to.page.locator('.sender', { hasText: new RegExp(`^\\s*${escapeRe(from.name)}\\s*$`) }) })
    .first().waitFor();
}

// countDrops counts, from now on, the page's passages to "reconnecting".
async function countDrops(u) {
  await u.page.evaluate(() => {
    window.__drops = 0;
    const status = document.getElementById('status');
    new MutationObserver(() => {
      if (status.dataset.state === 'reconnecting') window.__drops++;
    }).observe(status, { attributes: true, attributeFilter: ['data-state'] });
  });
}

async function scenario() {
  const room = `proxy-${Math.random().toString(36).slice(2, 10)}`;
  step(`two Chromium profiles open ${baseURL} (wss:// through the proxy) and join ${room}`);
  const alice = await openUser('alice');
  const bob = await openUser('bob');
  await Promise.all([signIn(alice, room), signIn(bob, room)]);
  if (!alice.page.url().startsWith('https:')) throw new Error(`page is ${alice.page.url()}, want https`);

  step(`both chat in ${room}`);
  await chat(alice, bob, 'hello through TLS');
  await chat(bob, alice, 'hi back');
  await countDrops(alice);
  await countDrops(bob);

  step('ask the test to drain one node');
  console.log('DRAIN');
  const { value } = await lines.next();
  const m = /^DRAINED (\d)$/.exec((value || '').trim());
  if (!m) throw new Error(`expected "DRAINED <n>" on stdin, got ${JSON.stringify(value)}`);
  const moved = Number(m[1]);

  step(`the ${moved} user(s) of the drained node were dropped, reconnect and rejoin`);
  const dropped = [];
  for (const u of [alice, bob]) {
    if (await u.page.evaluate(() => window.__drops) > 0) dropped.push(u);
  }
  if (dropped.length !== moved) {
    throw new Error(`${dropped.length} page(s) lost their connection (${dropped.map((u) => u.name)}), want ${moved}`);
  }
  for (const u of dropped) {
    await u.page.locator('#status[data-state="connected"]').waitFor();
    await u.page.locator(`#joinedRooms li[data-room-id="${room}"][data-state="joined"]`).waitFor();
  }

  step('both chat again, now on the remaining node');
  await chat(alice, bob, 'after the restart');
  await chat(bob, alice, 'still here');
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
