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
const waitText = (page, selector, text) =>
  page.locator(selector, { hasText: new RegExp(`^\\s*${escapeRe(text)}\\s*$`) }).first().waitFor();

async function join(u, room) {
  await u.page.fill('#username', u.name);
  await u.page.fill('#roomId', room);
  await u.page.click('#join');
  await waitText(u.page, '#currentRoom', room);
}

// from sends text; to sees it from from.
async function chat(from, to, text) {
  await from.page.fill('#message', text);
  await from.page.press('#message', 'Enter');
  await to.page.locator('#messages .msg', { hasText: text })
    .filter({ has: to.page.locator('.sender', { hasText: new RegExp(`^${escapeRe(from.name)}$`) }) })
    .first().waitFor();
}

async function scenario() {
  const room = `proxy-${Math.random().toString(36).slice(2, 10)}`;
  step(`two Chromium profiles open ${baseURL} (wss:// through the proxy)`);
  const alice = await openUser('alice');
  const bob = await openUser('bob');
  await Promise.all([alice.page.goto(baseURL), bob.page.goto(baseURL)]);
  if (!alice.page.url().startsWith('https:')) throw new Error(`page is ${alice.page.url()}, want https`);
  await Promise.all([waitText(alice.page, '#status', 'connected'), waitText(bob.page, '#status', 'connected')]);

  step(`both join ${room} and chat`);
  await join(alice, room);
  await join(bob, room);
  await chat(alice, bob, 'hello through TLS');
  await chat(bob, alice, 'hi back');

  step('ask the test to drain one node');
  console.log('DRAIN');
  const { value } = await lines.next();
  const m = /^DRAINED (\d)$/.exec((value || '').trim());
  if (!m) throw new Error(`expected "DRAINED <n>" on stdin, got ${JSON.stringify(value)}`);
  const moved = Number(m[1]);

  step(`the ${moved} user(s) of the drained node were dropped, reconnect and rejoin`);
  const dropped = [];
  for (const u of [alice, bob]) {
    if (await u.page.locator('#messages .notice[data-event="disconnected"]').count() > 0) dropped.push(u);
  }
  if (dropped.length !== moved) {
    throw new Error(`${dropped.length} page(s) show a disconnect (${dropped.map((u) => u.name)}), want ${moved}`);
  }
  for (const u of dropped) {
    await u.page.locator('#messages .notice[data-event="rejoined"]').first().waitFor();
    await waitText(u.page, '#status', 'connected');
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
