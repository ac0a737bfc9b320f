#!/usr/bin/env node
// End-to-end test of the chatd web client in a real headless Chromium.
//
//   node scripts/browser/chat-e2e.mjs http://127.0.0.1:18080
//
// Needs: `npm install` in scripts/browser (playwright-core) and a Chromium binary
// (Debian: apt-get install chromium; override the path with CHROMIUM=/path/to/chromium).
// Two isolated browser profiles (alice, bob) join one fresh room, exchange messages and leave.
// Every wait is event-based (locator.waitFor polling); nothing sleeps for a fixed time.
// Exit 0 on success; non-zero with the failed step and screenshot paths on failure.
import { chromium } from 'playwright-core';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const baseURL = process.argv[2];
if (!baseURL) {
  console.error('usage: node chat-e2e.mjs <baseURL>   e.g. http://127.0.0.1:18080');
  process.exit(2);
}
const OVERALL_TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS || 60000);
const STEP_TIMEOUT_MS = 15000;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

const t0 = Date.now();
let currentStep = 'start';
function step(name) {
  currentStep = name;
  console.log(`[${((Date.now() - t0) / 1000).toFixed(2)}s] ${name}`);
}

const profiles = []; // {name, dir, context, page}
const pageErrors = [];

async function openUser(name) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `chatd-e2e-${name}-`));
  const p = { name, dir, context: null, page: null };
  profiles.push(p); // registered before launch so cleanup removes the dir even if launch fails
  p.context = await chromium.launchPersistentContext(dir, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: STEP_TIMEOUT_MS,
  });
  p.context.setDefaultTimeout(STEP_TIMEOUT_MS);
  p.page = p.context.pages()[0] || await p.context.newPage();
  p.page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  p.page.on('console', (m) => { if (m.type() === 'error') console.log(`  (${name} console) ${m.text()}`); });
  return p;
}

// Wait until the element's whole text equals `text`.
const waitText = (page, selector, text) =>
  page.locator(selector, { hasText: new RegExp(`^\\s*${escapeRe(text)}\\s*$`) }).first().waitFor();
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Locator for chat messages in #messages from `sender` with exactly `content`.
function messagesFrom(page, sender, content) {
  const exact = (s) => new RegExp(`^${escapeRe(s)}$`);
  return page.locator('#messages .msg')
    .filter({ has: page.locator('.sender', { hasText: exact(sender) }) })
    .filter({ has: page.locator('.content', { hasText: exact(content) }) });
}

async function expectOneMessage(page, sender, content) {
  const loc = messagesFrom(page, sender, content);
  await loc.first().waitFor();
  const time = (await loc.first().locator('.time').textContent() || '').trim();
  if (!time) throw new Error(`message "${content}" from ${sender} shows no time`);
  return loc;
}

async function scenario() {
  const room = `e2e-${Math.random().toString(36).slice(2, 10)}`;
  const roomName = 'E2E Room';

  step(`launch two isolated Chromium profiles (${executablePath})`);
  const A = await openUser('alice');
  const B = await openUser('bob');
  const a = A.page, b = B.page;

  step(`open ${baseURL} in both`);
  await Promise.all([a.goto(baseURL), b.goto(baseURL)]);

  step('both show status connected');
  await Promise.all([waitText(a, '#status', 'connected'), waitText(b, '#status', 'connected')]);

  step(`alice joins room ${room} ("${roomName}")`);
  await a.fill('#username', 'alice');
  await a.fill('#roomId', room);
  await a.fill('#roomName', roomName);
  await a.click('#join');
  await waitText(a, '#currentRoom', room);
  await waitText(a, '#memberCount', '1');

  step('bob refreshes the room list and picks the room from it');
  await b.click('#refreshRooms');
  const listed = b.locator(`#roomList li[data-room-id="${room}"]`);
  await listed.waitFor();
  const listedText = await listed.textContent();
  if (!listedText.includes(roomName)) throw new Error(`room list entry shows "${listedText}", want name "${roomName}"`);
  await listed.click();
  const filled = await b.inputValue('#roomId');
  if (filled !== room) throw new Error(`clicking the room filled roomId "${filled}", want "${room}"`);

  step('bob joins the same room');
  await b.fill('#username', 'bob');
  await b.click('#join');
  await waitText(b, '#currentRoom', room);
  await waitText(b, '#memberCount', '2');

  step('alice sees a join notice for bob and member count 2');
  await a.locator('#messages .notice[data-event="userJoined"][data-username="bob"]').waitFor();
  await waitText(a, '#memberCount', '2');

  const helloA = `hello from alice <b>${room}</b> & 👋`; // markup must show as text, not HTML
  step('alice sends a message with Enter; bob sees it from alice');
  await a.fill('#message', helloA);
  await a.press('#message', 'Enter');
  await expectOneMessage(b, 'alice', helloA);
  await expectOneMessage(a, 'alice', helloA); // alice sees the server's echo
  if (await b.locator('#messages .msg b').count() > 0) throw new Error('message content was rendered as HTML');

  const helloB = `hi alice, bob here ${room}`;
  step('bob sends a message with the Send button; alice sees it from bob');
  await b.fill('#message', helloB);
  await b.click('#send');
  await expectOneMessage(a, 'bob', helloB);

  // bob's message reached alice after her own echo, so a locally appended duplicate would show now.
  step('alice shows her own message exactly once (echo only, no local copy)');
  const own = await messagesFrom(a, 'alice', helloA).count();
  if (own !== 1) throw new Error(`alice shows her message ${own} times, want 1`);

  step('bob leaves; alice sees a leave notice for bob and member count 1');
  await b.click('#leave');
  await a.locator('#messages .notice[data-event="userLeft"][data-username="bob"]').waitFor();
  await waitText(a, '#memberCount', '1');
  await waitText(b, '#currentRoom', '(none)');

  const errs = await a.locator('#errors .error').allTextContents();
  const errsB = await b.locator('#errors .error').allTextContents();
  if (errs.length || errsB.length) throw new Error(`unexpected errors shown: ${JSON.stringify([...errs, ...errsB])}`);
  if (pageErrors.length) throw new Error(`JavaScript errors in the page: ${pageErrors.join('; ')}`);
}

async function screenshots() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'chatd-e2e-fail-'));
  for (const p of profiles) {
    if (!p.page) continue;
    const file = path.join(dir, `${p.name}.png`);
    try {
      await p.page.screenshot({ path: file, fullPage: true, timeout: 5000 });
      console.error(`  screenshot: ${file}`);
    } catch (e) {
      console.error(`  screenshot of ${p.name} failed: ${e.message}`);
    }
  }
}

async function cleanup() {
  for (const p of profiles) {
    try { if (p.context) await p.context.close(); } catch { /* already gone */ }
    await fs.rm(p.dir, { recursive: true, force: true }).catch(() => {});
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
  if (pageErrors.length) console.error(`  page errors: ${pageErrors.join('; ')}`);
  await screenshots();
} finally {
  clearTimeout(timer);
  await cleanup();
}
process.exit(code);
