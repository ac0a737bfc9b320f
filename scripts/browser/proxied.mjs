// Shared plumbing of the browser scenarios that run through a TLS proxy in front of two nodes
// (proxy-e2e.mjs, stream-e2e.mjs; driven by server/browser_nginx_helpers_test.go): the base URL
// argument, named steps, one persistent Chromium profile per user that accepts the proxy's
// self-signed certificate, signing in and chatting through the page, the test's answers on stdin,
// and an overall timeout with clean-up. Every wait is for a page state, never a fixed time.
import { chromium } from 'playwright-core';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const script = path.basename(process.argv[1]);
export const baseURL = process.argv[2];
if (!baseURL) {
  console.error(`usage: node ${script} <https base URL>`);
  process.exit(2);
}
const OVERALL_TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS || 150000); // under the Go test's 180 s
const STEP_TIMEOUT_MS = 20000;
// Starting Chromium is not under test, and takes over 20 s on a loaded 2-core CI machine.
const LAUNCH_TIMEOUT_MS = 60000;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

const t0 = Date.now();
let currentStep = 'start';
export function step(name) {
  currentStep = name;
  console.log(`[${((Date.now() - t0) / 1000).toFixed(2)}s] ${name}`);
}

const users = []; // {name, dir, context, page}
export const pageErrors = [];
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

// nextLine is the test's next answer on stdin, trimmed ('' once stdin is closed).
export async function nextLine() {
  const { value } = await lines.next();
  return (value || '').trim();
}

// openUser opens a page in its own persistent Chromium profile; initScript, when given, runs in
// the page before its own scripts.
export async function openUser(name, initScript) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `chatd-${script.replace(/\.mjs$/, '')}-${name}-`));
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
  if (initScript) await u.context.addInitScript(initScript);
  u.page = u.context.pages()[0] || await u.context.newPage();
  u.page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  return u;
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// signIn opens the page signed in as u.name, in room (the page's URL contract: see
// server/web/app.js), and waits until the room is joined and the page connected.
export async function signIn(u, room) {
  const url = new URL(baseURL);
  url.searchParams.set('name', u.name);
  url.searchParams.set('room', room);
  await u.page.goto(url.toString());
  await u.page.locator(`#joinedRooms li[data-room-id="${room}"][data-state="joined"]`).waitFor();
  await u.page.locator('#status[data-state="connected"]').waitFor();
}

// chat: from sends text; to sees it from from.
export async function chat(from, to, text) {
  await from.page.fill('#message', text);
  await from.page.press('#message', 'Enter');
  await to.page.locator('#messages li.msg', { hasText: text })
    .filter({ has: to.page.locator('.sender', { hasText: new RegExp(`^\\s*${escapeRe(from.name)}\\s*$`) }) })
    .first().waitFor();
}

// describePages prints what each page shows (its status, the last messages and the members), so a
// failed wait says which side missed what.
async function describePages() {
  for (const u of users) {
    if (!u.page) continue;
    try {
      const seen = await u.page.evaluate(() => {
        const st = document.querySelector('#status');
        const texts = (sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent.trim().replace(/\s+/g, ' '));
        return {
          status: st ? `${st.dataset.state}/${st.dataset.transport || ''}` : '?',
          messages: texts('#messages li').slice(-8),
          members: texts('#members li'),
          rooms: [...document.querySelectorAll('#joinedRooms li')].map((e) => `${e.dataset.roomId}:${e.dataset.state}`),
        };
      });
      console.error(`  ${u.name}'s page: ${JSON.stringify(seen)}`);
    } catch (e) {
      console.error(`  ${u.name}'s page: not readable (${e.message.split('\n')[0]})`);
    }
  }
}

async function cleanup() {
  for (const u of users) {
    try { if (u.context) await u.context.close(); } catch { /* already gone */ }
    await fs.rm(u.dir, { recursive: true, force: true }).catch(() => {});
  }
}

// run runs the scenario under the overall timeout, fails it on JavaScript errors in a page, names
// the step it failed at, closes every profile and exits with 0 or 1.
export async function run(scenario) {
  let timer;
  const overall = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`overall timeout of ${OVERALL_TIMEOUT_MS} ms`)), OVERALL_TIMEOUT_MS);
  });
  let code = 0;
  try {
    await Promise.race([scenario(), overall]);
    if (pageErrors.length) throw new Error(`JavaScript errors in the page: ${pageErrors.join('; ')}`);
    step('PASS');
  } catch (e) {
    code = 1;
    console.error(`FAIL at step "${currentStep}": ${e.message.split('\n')[0]}`);
    await describePages();
  } finally {
    clearTimeout(timer);
    await cleanup();
  }
  process.exit(code);
}
