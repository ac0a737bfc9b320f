// Typing: at most one notice per interval, with a trailing one; others' typing shown and expired.
import { test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { client, connected, fakeTimers, joinRoom, msg, tick } from './fake.mjs';

beforeEach(fakeTimers);
afterEach(() => mock.timers.reset());

async function setup() {
  const h = client({ typingIntervalMs: 1000, typingTimeoutMs: 3000 });
  h.c.connect();
  const conn = await connected(h.server);
  const j = await joinRoom(h.c, conn, 'r');
  return { ...h, conn, ...j };
}

// sentAt lists when typing notices went out, in ms after the start.
function typingTimes(conn, marks) {
  return conn.requests('typing').map((t) => marks.get(t));
}

test('typing: a leading notice, then one trailing notice per interval while keys come', async () => {
  const { c, conn, room } = await setup();
  const marks = new Map();
  const start = Date.now();
  const mark = () => { for (const t of conn.requests('typing')) if (!marks.has(t)) marks.set(t, Date.now() - start); };
  // A key every 100 ms for 2.5 s, then nothing.
  for (let t = 0; t < 5000; t += 100) {
    if (t < 2500) assert.equal(room.typing(), true);
    mark();
    await tick(100);
    mark();
  }
  assert.deepEqual(typingTimes(conn, marks), [0, 1000, 2000, 3000]);
  assert.ok(conn.requests('typing').every((t) => t.id === undefined && t.roomId === 'r'), 'typing goes without id');
  c.close();
});

test('a single key sends one notice; a key after the interval sends at once', async () => {
  const { c, conn, room } = await setup();
  room.typing();
  await tick(5000);
  assert.equal(conn.requests('typing').length, 1);
  room.typing();
  assert.equal(conn.requests('typing').length, 2);
  c.close();
});

test('publishing cancels the trailing notice', async () => {
  const { c, conn, room } = await setup();
  room.typing();
  await tick(200);
  room.typing(); // a trailing notice is due at 1000
  room.publish('done').catch(() => {});
  await tick(2000);
  assert.equal(conn.requests('typing').length, 1);
  c.close();
});

test('no typing while not joined or disconnected', async () => {
  const { c, server, conn, room } = await setup();
  assert.equal(c.room('other').typing(), false);
  conn.close(1006);
  assert.equal(room.typing(), false);
  assert.equal(server.conns.length, 1);
  c.close();
});

test('others typing: shown, renewed, expired after the timeout, cleared by their message; own ignored', async () => {
  const { c, conn, room, events } = await setup();
  conn.push({ type: 'typing', roomId: 'r', userId: 'u-bob', name: 'bob' });
  conn.push({ type: 'typing', roomId: 'r', userId: 'u-carol', name: 'carol' });
  conn.push({ type: 'typing', roomId: 'r', userId: 'u-alice', name: 'alice' }); // our own user (another tab)
  assert.deepEqual(room.typers.map((t) => t.name), ['bob', 'carol']);
  await tick(2000);
  conn.push({ type: 'typing', roomId: 'r', userId: 'u-bob', name: 'bob' }); // renewed
  await tick(1000);
  assert.deepEqual(room.typers.map((t) => t.name), ['bob'], 'carol expired after 3 s');
  conn.push(msg('r', 1, { userId: 'u-bob' }));
  assert.deepEqual(room.typers, []);
  const seen = events.of('typing').map((t) => `${t.name}:${t.typing}:${t.typers.length}`);
  assert.deepEqual(seen, ['bob:true:1', 'carol:true:2', 'bob:true:2', 'carol:false:1', 'bob:false:0']);
  c.close();
});

test('a lost connection clears the typers', async () => {
  const { c, conn, room } = await setup();
  conn.push({ type: 'typing', roomId: 'r', userId: 'u-bob', name: 'bob' });
  conn.close(1006);
  assert.deepEqual(room.typers, []);
  c.close();
});
