// Requests of a room and of the client: what goes on the wire, what comes back, what is refused
// locally and how server refusals surface.
import { test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { ChatError } from '../../dist/index.js';
import { client, connected, fakeTimers, flush, joinRoom, msg, record, tick } from './fake.mjs';

beforeEach(fakeTimers);
afterEach(() => mock.timers.reset());

async function setup(options) {
  const h = client(options);
  h.c.connect();
  const conn = await connected(h.server);
  return { ...h, conn };
}

test('publish, history and presence: requests and results', async () => {
  const { c, conn } = await setup();
  const { room } = await joinRoom(c, conn, 'r', { offset: 30 });
  const pub = room.publish('hello');
  assert.deepEqual(conn.last('publish'), { type: 'publish', roomId: 'r', content: 'hello', id: conn.last('publish').id });
  conn.ok(conn.last('publish'), { offset: 31, timestamp: '2026-01-01T00:00:00.000Z' });
  assert.deepEqual(await pub, { offset: 31, timestamp: '2026-01-01T00:00:00.000Z' });

  const hist = room.history({ before: 11, limit: 10 });
  const hreq = conn.last('history');
  assert.equal(hreq.before, 11);
  assert.equal(hreq.limit, 10);
  conn.ok(hreq, { messages: [msg('r', 1), msg('r', 2)] });
  assert.deepEqual((await hist).map((m) => m.offset), [1, 2]);
  const newest = room.history();
  assert.equal(conn.last('history').before, undefined, 'before is left out for the newest page');
  conn.ok(conn.last('history'), { messages: [] });
  assert.deepEqual(await newest, []);

  const pres = room.presence();
  conn.ok(conn.last('presence'), { roomId: 'r', memberCount: 7, members: [{ userId: 'a', name: 'A' }], truncated: true });
  assert.deepEqual(await pres, { roomId: 'r', memberCount: 7, members: [{ userId: 'a', name: 'A' }], truncated: true });
  assert.equal(room.memberCount, 7);
  c.close();
});

test('a publish without an offset (a server without history) resolves without one', async () => {
  const { c, conn } = await setup();
  const { room } = await joinRoom(c, conn, 'r');
  const p = room.publish('x');
  conn.ok(conn.last('publish'), { timestamp: 't' });
  assert.deepEqual(await p, { timestamp: 't' });
  c.close();
});

test('server refusals reject with the code and message; the connection stays', async () => {
  const { c, conn } = await setup();
  const { room } = await joinRoom(c, conn, 'r');
  const p = room.publish('x');
  conn.fail(conn.last('publish'), 'rate_limited', 'Too many messages, slow down');
  await assert.rejects(p, (e) => e instanceof ChatError && e.code === 'rate_limited' &&
    e.message === 'Too many messages, slow down' && e.request === 'publish');
  assert.equal(c.state, 'connected');
  c.close();
});

test('local refusals: not joined, too large, too many waiting', async () => {
  const { c, conn } = await setup({ maxMessageBytes: 200, maxPendingRequests: 3 });
  const idle = c.room('idle');
  await assert.rejects(idle.publish('x'), (e) => e.code === 'not_joined');
  const { room } = await joinRoom(c, conn, 'r');
  const sent = conn.sent.length;
  await assert.rejects(room.publish('x'.repeat(300)), (e) => e.code === 'too_large');
  assert.equal(conn.sent.length, sent, 'a too large request was sent');
  const waiting = [room.history(), room.history(), room.history()];
  await assert.rejects(room.history(), (e) => e.code === 'too_many_requests');
  c.close();
  for (const p of waiting) await assert.rejects(p, (e) => e.code === 'disconnected');
});

test('a refused join fails the room; joining again retries', async () => {
  const { c, conn } = await setup();
  const room = c.room('secret');
  const events = record(room);
  const p = room.join();
  await flush();
  conn.fail(conn.last('join'), 'forbidden', 'Not allowed in room secret');
  await assert.rejects(p, (e) => e.code === 'forbidden');
  assert.equal(room.state, 'failed');
  assert.equal(events.of('state').pop().error.code, 'forbidden');
  const again = room.join();
  await flush();
  conn.ok(conn.last('join'), { roomId: 'secret', memberCount: 1, epoch: 'e', offset: 0, messages: [] });
  await again;
  assert.equal(room.state, 'joined');
  c.close();
});

test('a first join refused as rate_limited is retried a few times', async () => {
  const { c, conn } = await setup();
  const room = c.room('r');
  const p = room.join();
  await flush();
  conn.fail(conn.last('join'), 'rate_limited');
  await tick(600);
  assert.equal(conn.requests('join').length, 2);
  conn.ok(conn.last('join'), { roomId: 'r', memberCount: 1, epoch: 'e', offset: 0, messages: [] });
  await p;
  c.close();
});

test('a first join that times out fails and undoes itself with a leave', async () => {
  const { c, conn } = await setup({ requestTimeoutMs: 1000 });
  const room = c.room('r');
  const p = assert.rejects(room.join(), (e) => e.code === 'timeout');
  await flush();
  conn.push(msg('x', 1)); // the server still talks: not a dead connection
  await tick(1000);
  await p;
  assert.equal(room.state, 'failed');
  assert.deepEqual(conn.last('leave'), { type: 'leave', roomId: 'r' });
  c.close();
});

test('a re-join refused for a passing reason is retried; one refused for good fails the room', async () => {
  const { c, server, conn } = await setup({ reconnect: { minDelayMs: 10, maxDelayMs: 10 } });
  const { room: a } = await joinRoom(c, conn, 'a');
  const { room: b } = await joinRoom(c, conn, 'b');
  conn.close(1006);
  await tick(10);
  const conn2 = await connected(server);
  const [ja, jb] = conn2.requests('join');
  conn2.fail(ja, 'cluster_unavailable');
  conn2.fail(jb, 'forbidden');
  await flush();
  assert.equal(b.state, 'failed');
  assert.equal(a.state, 'joining');
  await tick(1000);
  const retry = conn2.last('join');
  assert.equal(retry.roomId, 'a');
  conn2.ok(retry, { roomId: 'a', memberCount: 1, epoch: 'e1', offset: 0, recovered: true, messages: [] });
  await flush();
  assert.equal(a.state, 'joined');
  c.close();
});

test('leave: sent with an id; a pending join rejects with left; the room can be joined again', async () => {
  const { c, conn } = await setup();
  const room = c.room('r');
  const pending = room.join();
  await flush();
  const left = room.leave();
  await assert.rejects(pending, (e) => e.code === 'left');
  conn.ok(conn.last('leave'));
  await left;
  assert.equal(room.state, 'left');
  assert.notEqual(c.room('r'), room, 'a left room is forgotten by the client');
  c.close();
});

test('a join of a joined room resolves at once without a request', async () => {
  const { c, conn } = await setup();
  const { room } = await joinRoom(c, conn, 'r', { offset: 4 });
  const n = conn.sent.length;
  const res = await room.join();
  assert.equal(res.offset, 4);
  assert.equal(conn.sent.length, n);
  c.close();
});

test('room list: one page, and every page with retries of rate_limited', async () => {
  const { c, conn } = await setup();
  const one = c.listRooms({ prefix: 'team-', limit: 2 });
  const req = conn.last('rooms');
  assert.deepEqual(req, { type: 'rooms', prefix: 'team-', limit: 2, id: req.id });
  conn.ok(req, { rooms: [{ roomId: 'team-a', name: 'A', memberCount: 1, createdAt: 't' }], next: 'team-a' });
  assert.deepEqual(await one, { rooms: [{ roomId: 'team-a', name: 'A', memberCount: 1, createdAt: 't' }], next: 'team-a' });

  const ids = [];
  const walk = (async () => {
    for await (const page of c.roomPages({ limit: 1 })) ids.push(...page.rooms.map((r) => r.roomId));
  })();
  await flush();
  conn.ok(conn.last('rooms'), { rooms: [{ roomId: 'a' }], next: 'a' });
  await flush();
  conn.fail(conn.last('rooms'), 'rate_limited');
  await tick(1100);
  const third = conn.last('rooms');
  assert.equal(third.after, 'a');
  conn.ok(third, { rooms: [{ roomId: 'b' }] });
  await walk;
  assert.deepEqual(ids, ['a', 'b']);
  c.close();
});

test('an error push without id reaches the error event', async () => {
  const { c, conn, errors } = await setup();
  conn.push({ type: 'error', code: 'not_in_room', message: 'Not in room x' });
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'not_in_room');
  c.close();
});

test('a listener that throws does not stop the others or the client', async () => {
  const { c, conn } = await setup();
  const { room } = await joinRoom(c, conn, 'r');
  const got = [];
  room.on('message', () => { throw new Error('app bug'); });
  room.on('message', (m) => got.push(m.offset));
  conn.push(msg('r', 1));
  conn.push(msg('r', 2));
  assert.deepEqual(got, [1, 2]);
  // The thrown errors are rethrown on a timer of their own.
  assert.throws(() => mock.timers.tick(1), /app bug/);
  c.close();
});
