#!/usr/bin/env node
// The TypeScript client's live scenarios (clients/js/test/live/scenarios.mjs) in headless
// Chromium, on the browser build that chatd serves (/chatd-client.js, the embedded file): the
// same scenarios that clients/js/test/live/live.test.mjs runs under Node.
//
// Run by server/sdk_typescript_test.go (TestJSClientLiveInChromium), with the environment it
// gives the Node runner too: CHATD_SDK_MODE, CHATD_SDK_URLS, CHATD_SDK_CONTROL (and CHROMIUM).
// The page is the first node's /healthz (a document that really comes from the node: Chromium
// lets such a page open WebSockets to loopback, not one that Playwright made up); the scenarios
// module is served to it by Playwright's routing, and the control endpoint is reached through
// functions exposed to the page.
import { chromium } from 'playwright-core';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const scenariosFile = path.resolve(here, '../../clients/js/test/live/scenarios.mjs');
const mode = process.env.CHATD_SDK_MODE;
const urls = (process.env.CHATD_SDK_URLS || '').split(',').filter(Boolean);
const control = process.env.CHATD_SDK_CONTROL;
if (!mode || urls.length === 0 || !control) {
  console.error('run by server/sdk_typescript_test.go (TestJSClientLiveInChromium), which starts the nodes');
  process.exit(2);
}
const SCENARIO_TIMEOUT_MS = 120000;
const origin = urls[0].replace(/^ws/, 'http').replace(/\/ws$/, '');

const { scenariosFor } = await import(scenariosFile);
const names = scenariosFor(mode).map((s) => s.name);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  timeout: 60000,
});
let failed = 0;
let passed = 0;
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => console.log(`  (page ${m.type()}) ${m.text()}`));
  page.on('pageerror', (e) => console.log(`  (page error) ${e.message}`));
  await page.route(`${origin}/__sdk_live/scenarios.mjs`, async (route) => {
    await route.fulfill({ contentType: 'text/javascript', body: await fs.readFile(scenariosFile, 'utf8') });
  });
  await page.exposeFunction('__control', async (p) => {
    const res = await fetch(control + p, { method: 'POST' });
    if (!res.ok) throw new Error(`control ${p}: ${res.status} ${await res.text()}`);
  });
  await page.exposeFunction('__token', async (sub, ttl, name = '') => {
    const res = await fetch(`${control}/token?sub=${encodeURIComponent(sub)}&ttl=${ttl}&name=${encodeURIComponent(name)}`);
    if (!res.ok) throw new Error(`token: ${res.status}`);
    return res.text();
  });
  await page.goto(`${origin}/healthz`);
  const run = Math.random().toString(36).slice(2, 8);
  for (const [i, name] of names.entries()) {
    const t0 = Date.now();
    const result = await Promise.race([
      page.evaluate(async ({ name, mode, urls, tag }) => {
        const { scenariosFor } = await import('/__sdk_live/scenarios.mjs');
        const { ChatClient } = await import('/chatd-client.js');
        const s = scenariosFor(mode).find((x) => x.name === name);
        const clients = [];
        const env = {
          mode, urls, clients, tag,
          client: (options) => new ChatClient(options),
          control: (p) => window.__control(p),
          token: (sub, ttl, n) => window.__token(sub, ttl, n),
          log: (...a) => console.log(...a),
        };
        try {
          await s.run(env);
          return { ok: true };
        } catch (e) {
          return { ok: false, error: String((e && e.stack) || e) };
        } finally {
          for (const c of clients) c.close();
        }
      }, { name, mode, urls, tag: `chromium-${mode}-${run}-${i + 1}` }),
      new Promise((resolve) => setTimeout(() => resolve({ ok: false, error: `timed out after ${SCENARIO_TIMEOUT_MS} ms` }),
        SCENARIO_TIMEOUT_MS)),
    ]);
    const took = `(${Date.now() - t0} ms)`;
    if (result.ok) {
      passed++;
      console.log(`✔ ${name} ${took}`);
    } else {
      failed++;
      console.log(`✖ ${name} ${took}\n  ${result.error.split('\n').slice(0, 4).join('\n  ')}`);
      if (result.error.startsWith('timed out')) break; // the page is stuck: later scenarios would not run cleanly
    }
  }
} finally {
  await browser.close();
}
console.log(`${names.length} scenarios in Chromium (${mode}): ${passed} passed, ${failed} failed, ${names.length - passed - failed} not run`);
process.exit(passed === names.length ? 0 : 1);
