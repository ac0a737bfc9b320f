#!/usr/bin/env node
// The chatd web client in headless Chromium where WebSockets are blocked: every WebSocket the page
// opens fails (as behind a proxy that strips Upgrade), so the client falls back to HTTP streaming
// (Server-Sent Events down, POSTs up) by itself. Two users chat through a TLS proxy in front of two
// nodes, and the page says it runs over HTTP streaming.
//
//   node scripts/browser/stream-e2e.mjs https://127.0.0.1:8443
//
// Driven by server/browser_stream_test.go, which owns the nodes and the proxy (plumbing: proxied.mjs). Once both users
// chatted, this script prints "CHATTED" and waits for "CHECKED" on stdin (the test looks at the
// nodes meanwhile: two streams, no WebSocket). Every wait is for a page state, never a fixed time.
import { baseURL, chat, nextLine, openUser, run, signIn, step } from './proxied.mjs';

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

// signInOverStream signs u in (proxied.mjs) and waits until the page runs over HTTP streaming.
async function signInOverStream(u, room) {
  await signIn(u, room);
  await u.page.locator('#status[data-state="connected"][data-transport="http-stream"]').waitFor();
  const shown = u.page.locator('#transport[data-transport="http-stream"]');
  await shown.waitFor();
  const text = (await shown.textContent()).trim();
  if (text !== 'via HTTP streaming') throw new Error(`${u.name}'s page says "${text}", want "via HTTP streaming"`);
  const tries = await u.page.evaluate(() => window.__wsAttempts);
  if (tries < 1) throw new Error(`${u.name}'s page never tried a WebSocket: not a fallback`);
}

async function scenario() {
  const room = `stream-${Math.random().toString(36).slice(2, 10)}`;
  step(`two Chromium profiles with WebSockets blocked open ${baseURL} and join ${room}`);
  const alice = await openUser('alice', blockWebSockets);
  const bob = await openUser('bob', blockWebSockets);
  await Promise.all([signInOverStream(alice, room), signInOverStream(bob, room)]);
  if (!alice.page.url().startsWith('https:')) throw new Error(`page is ${alice.page.url()}, want https`);

  // Both chat in the room over HTTP streaming, one step per message so a failure names its side.
  for (const [from, to, text] of [[alice, bob, 'hello without WebSockets'], [bob, alice, 'hi back, over SSE'],
    [alice, bob, 'and once more']]) {
    step(`${from.name} says "${text}" in ${room} over HTTP streaming; ${to.name} sees it`);
    await chat(from, to, text);
  }
  step('both see each other in the member list');
  for (const [u, other] of [[alice, bob], [bob, alice]]) {
    await u.page.locator('#members li', { hasText: other.name }).first().waitFor();
  }

  step('ask the test to look at the nodes');
  console.log('CHATTED');
  const answer = await nextLine();
  if (answer !== 'CHECKED') throw new Error(`expected "CHECKED" on stdin, got ${JSON.stringify(answer)}`);
}

await run(scenario);
