// Shared plumbing of the browser scenarios (chat-e2e.mjs, client-contract.mjs): Chromium
// profiles, named steps, screenshots on failure, an overall timeout, and the control channel to
// the Go test that runs the server (server/browser_test.go).
import { chromium } from 'playwright-core';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export const STEP_TIMEOUT_MS = 15000;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
export const LAPTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

const t0 = Date.now();
let currentStep = 'start';
export function step(name) {
  currentStep = name;
  console.log(`[${((Date.now() - t0) / 1000).toFixed(2)}s] ${name}`);
}

const profiles = []; // {name, context, page}
export const pageErrors = [];
let browser = null;

// openUser opens a page in its own browser context (its own storage, like a separate profile).
// One Chromium serves every user: launching one per user costs seconds each.
export async function openUser(name, viewport = LAPTOP) {
  if (!browser) {
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: STEP_TIMEOUT_MS,
    });
  }
  const p = { name, context: null, page: null };
  profiles.push(p);
  p.context = await browser.newContext({ viewport });
  p.context.setDefaultTimeout(STEP_TIMEOUT_MS);
  p.page = await p.context.newPage();
  p.page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  p.page.on('console', (m) => { if (m.type() === 'error') console.log(`  (${name} console) ${m.text()}`); });
  return p;
}

export const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
export const exact = (s) => new RegExp(`^\\s*${escapeRe(s)}\\s*$`);

// expect throws with msg unless cond holds.
export function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

// poll waits until fn() returns a truthy value (for state that has no DOM element to wait on).
export async function poll(fn, what, timeoutMs = STEP_TIMEOUT_MS) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// On failure: a screenshot of every page and what it showed, to see why without a rerun.
async function postMortem() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'chatd-e2e-fail-'));
  for (const p of profiles) {
    if (!p.page) continue;
    const file = path.join(dir, `${p.name}.png`);
    try {
      await p.page.screenshot({ path: file, fullPage: true, timeout: 5000 });
      console.error(`  screenshot: ${file}`);
      const seen = await p.page.evaluate(() => ({
        status: document.getElementById('status').dataset.state,
        rooms: [...document.querySelectorAll('#joinedRooms li')].map((li) =>
          `${li.dataset.roomId}:${li.dataset.state}:${li.dataset.unread}`),
        room: document.getElementById('currentRoom').textContent,
        log: [...document.querySelectorAll('#messages li:not([hidden])')].slice(-8).map((li) =>
          `${li.className}: ${li.textContent.replace(/\s+/g, ' ').trim()}`),
        errors: [...document.querySelectorAll('#errors .error')].map((e) => e.textContent),
      }));
      console.error(`  ${p.name} showed: ${JSON.stringify(seen, null, 1).replace(/\n\s*/g, ' ')}`);
    } catch (e) {
      console.error(`  post-mortem of ${p.name} failed: ${e.message}`);
    }
  }
}

async function cleanup() {
  for (const p of profiles) {
    try { if (p.context) await p.context.close(); } catch { /* already gone */ }
  }
  try { if (browser) await browser.close(); } catch { /* already gone */ }
}

// run runs a scenario under an overall timeout; on failure it names the step, takes
// screenshots of every page and exits non-zero.
export async function run(scenario) {
  const overallMs = Number(process.env.E2E_TIMEOUT_MS || 80000); // under the Go test's 90 s
  let timer;
  const overall = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`overall timeout of ${overallMs} ms`)), overallMs);
  });
  let code = 0;
  try {
    await Promise.race([scenario(), overall]);
    if (pageErrors.length) throw new Error(`JavaScript errors in the page: ${pageErrors.join('; ')}`);
    step('PASS');
  } catch (e) {
    code = 1;
    console.error(`FAIL at step "${currentStep}": ${String(e.message).split('\n')[0]}`);
    // Where in the scenario: the first stack frame in a script of this folder.
    const at = String(e.stack || '').split('\n').find((l) => /scripts\/browser\/(?!lib\.mjs)[\w-]+\.mjs/.test(l));
    if (at) console.error(`  ${at.trim()}`);
    if (pageErrors.length) console.error(`  page errors: ${pageErrors.join('; ')}`);
    await postMortem();
  } finally {
    clearTimeout(timer);
    await cleanup();
  }
  process.exit(code);
}

// The control channel: the script prints "@@ <command>" and the Go test answers "<command> ok"
// (or anything else, an error) on stdin. Only there when CHATD_E2E_CONTROL=1.
export const hasControl = process.env.CHATD_E2E_CONTROL === '1';
const replies = [];
let waiting = null;
if (hasControl) {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (waiting) { const w = waiting; waiting = null; w(line); } else replies.push(line);
  });
}

export async function control(command) {
  if (!hasControl) throw new Error('no control channel (run by server/browser_test.go)');
  console.log(`@@ ${command}`);
  const reply = replies.length ? replies.shift() : await new Promise((r) => { waiting = r; });
  if (reply !== `${command} ok`) throw new Error(`server control "${command}" failed: ${reply}`);
}
