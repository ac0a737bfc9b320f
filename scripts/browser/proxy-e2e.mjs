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
import { baseURL, chat, nextLine, openUser, run, signIn, step } from './proxied.mjs';

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
  const answer = await nextLine();
  const m = /^DRAINED (\d)$/.exec(answer);
  if (!m) throw new Error(`expected "DRAINED <n>" on stdin, got ${JSON.stringify(answer)}`);
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
}

await run(scenario);
