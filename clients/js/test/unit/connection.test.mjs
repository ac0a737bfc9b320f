// The connection: hello, states, reconnect with backoff over several URLs, re-joins, request
// timeouts, refusals that stop the client.
import { test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { ChatClient, ChatError } from '../../dist/index.js';
import { client, connected, fakeTimers, flush, joinRoom, msg, record, tick, T0 } from './fake.mjs';

beforeEach(fakeTimers);
afterEach(() => mock.timers.reset());

test('hello carries the name; connected names the user; ready() resolves', async () => {
  const { c, server, states } = client();
  c.connect();
  const ready = c.ready();
  const conn = await connected(server);
  assert.deepEqual(conn.sent[0], { type: 'hello', name: 'alice', id: conn.sent[0].id });
  assert.deepEqual(await ready, { userId: 'u-alice', name: 'alice', node: 'n1' });
  assert.deepEqual(states.map((s) => s.state), ['connecting', 'connected']);
  assert.equal(states[1].user.userId, 'u-alice');
  assert.equal(states[1].transport, 'fake');
  assert.equal(c.state, 'connected');
  c.close();
  assert.equal(c.state, 'disconnected');
  assert.deepEqual(conn.closedBy, { code: 1000, reason: 'closed by the client' });
});

test('options are checked', () => {
  assert.throws(() => new ChatClient({ url: [], name: 'a' }), TypeError);
  assert.throws(() => new ChatClient({ url: 'http://host/ws', name: 'a' }), /ws:\/\/ or wss:\/\//);
  assert.throws(() => new ChatClient({ url: ['ws://a/ws', ''], name: 'a' }), TypeError);
  assert.throws(() => new ChatClient({ url: 'ws://x' }), /name, a token or getToken/);
});

test('no WebSocket in the runtime and no fallback: disconnected with no_websocket, and ready() rejects', async () => {
  // Node 20 has no global WebSocket. (With the fallback, the default, it connects with HTTP
  // streaming instead: httpstream.test.mjs.)
  const c = new ChatClient({ url: 'ws://a/ws', name: 'a', fallback: false });
  const states = [];
  c.on('state', (s) => states.push(s));
  c.connect();
  assert.equal(c.state, 'disconnected');
  assert.equal(states[0].error.code, 'no_websocket');
  await assert.rejects(c.ready(), (e) => e.code === 'disconnected');
});

test('a lost connection reconnects with backoff to the next URL, and rooms re-join with since', async () => {
  const { c, server, states } = client({ url: ['ws://a/ws', 'ws://b/ws'], reconnect: { minDelayMs: 100, maxDelayMs: 1000 } });
  c.connect();
  const conn = await connected(server);
  assert.equal(conn.url, 'ws://a/ws');
  const { room } = await joinRoom(c, conn, 'r1', { offset: 5 });
  conn.push(msg('r1', 6));
  conn.close(1006, '');
  await flush();
  const s = states[states.length - 1];
  assert.equal(s.state, 'reconnecting');
  assert.equal(s.code, 1006);
  assert.ok(s.delayMs >= 50 && s.delayMs <= 100, `first delay ${s.delayMs}`);
  assert.equal(room.state, 'offline');
  await tick(100);
  const conn2 = server.conn;
  assert.notEqual(conn2, conn);
  assert.equal(conn2.url, 'ws://b/ws');
  await connected(server);
  const rejoin = conn2.last('join');
  assert.deepEqual(rejoin.since, { epoch: 'e1', offset: 6 });
  assert.equal(room.state, 'joining');
  c.close();
});

test('backoff grows, is capped, and starts over after a stable connection', async () => {
  const { c, server, states } = client({ reconnect: { minDelayMs: 100, maxDelayMs: 400, stableAfterMs: 5000 } });
  c.connect();
  await flush();
  const delays = [];
  for (let i = 0; i < 5; i++) {
    server.conn.close(1006, '');
    await flush();
    delays.push(states[states.length - 1].delayMs);
    await tick(states[states.length - 1].delayMs);
  }
  const steps = [100, 200, 400, 400, 400];
  delays.forEach((d, i) => assert.ok(d >= steps[i] / 2 && d <= steps[i], `delay ${i} = ${d}, want in [${steps[i] / 2}, ${steps[i]}]`));
  assert.deepEqual(states.filter((s) => s.delayMs).map((s) => s.state), Array(5).fill('connecting'));
  await connected(server);
  await tick(5000);
  server.conn.close(1001, 'going away');
  await flush();
  const after = states[states.length - 1];
  assert.equal(after.state, 'reconnecting');
  assert.equal(after.reason, 'going away');
  assert.ok(after.delayMs <= 100, `after a stable connection the delay is ${after.delayMs}`);
  c.close();
});

test('requests fail at once while not connected: nothing is queued or sent later', async () => {
  const { c, server } = client();
  c.connect();
  const conn = await connected(server);
  const { room } = await joinRoom(c, conn, 'r1');
  conn.close(1006);
  await flush();
  const sentBefore = conn.sent.length;
  const t = Date.now();
  await assert.rejects(room.publish('lost?'), (e) => e instanceof ChatError && e.code === 'disconnected' && e.request === 'publish');
  assert.equal(Date.now(), t, 'the rejection waited');
  await assert.rejects(room.history(), (e) => e.code === 'disconnected');
  await assert.rejects(room.presence(), (e) => e.code === 'disconnected');
  await assert.rejects(c.listRooms(), (e) => e.code === 'disconnected');
  assert.equal(room.typing(), false);
  assert.equal(conn.sent.length, sentBefore);
  await tick(1000);
  const conn2 = await connected(server);
  assert.equal(conn2.requests('publish').length, 0, 'a publish refused while disconnected was sent later');
  c.close();
});

test('a request cut by a disconnect rejects with disconnected', async () => {
  const { c, server } = client();
  c.connect();
  const conn = await connected(server);
  const { room } = await joinRoom(c, conn, 'r1');
  const p = room.publish('hi');
  conn.close(1006);
  await assert.rejects(p, (e) => e.code === 'disconnected');
  c.close();
});

test('a request without a reply times out; with nothing received meanwhile the connection is dropped', async () => {
  const { c, server, states } = client({ requestTimeoutMs: 2000 });
  c.connect();
  const conn = await connected(server);
  const { room } = await joinRoom(c, conn, 'r1');
  const p = room.presence();
  let err;
  p.catch((e) => { err = e; });
  await tick(1999);
  assert.equal(err, undefined);
  await tick(1);
  assert.equal(err.code, 'timeout');
  assert.equal(err.request, 'presence');
  assert.deepEqual(conn.closedBy, { code: 4000, reason: 'no reply from the server' });
  assert.equal(states[states.length - 1].state, 'reconnecting');
  c.close();
});

test('a request that times out while the server still talks does not drop the connection', async () => {
  const { c, server } = client({ requestTimeoutMs: 2000 });
  c.connect();
  const conn = await connected(server);
  const { room } = await joinRoom(c, conn, 'r1');
  const p = assert.rejects(room.history(), (e) => e.code === 'timeout');
  await tick(1000);
  conn.push(msg('r1', 1));
  await tick(1000);
  await p;
  assert.equal(conn.closedBy, null);
  assert.equal(c.state, 'connected');
  c.close();
});

test('a hello refused for good stops the client with the error', async () => {
  for (const code of ['missing_field', 'too_long', 'control_chars', 'unauthorized', 'forbidden']) {
    const { c, server, states } = client();
    c.connect();
    const ready = c.ready();
    await flush();
    server.conn.open();
    server.conn.fail(server.conn.last('hello'), code, 'no');
    await assert.rejects(ready, (e) => e.code === code);
    assert.equal(c.state, 'disconnected');
    assert.equal(states[states.length - 1].error.code, code);
    await tick(60000);
    assert.equal(server.conns.length, 1, `${code}: reconnected`);
  }
});

test('a refusal that stops the client rejects pending joins with its error', async () => {
  const { c, server } = client();
  c.connect();
  const pending = c.room('r').join();
  await flush();
  server.conn.open();
  server.conn.fail(server.conn.last('hello'), 'too_long', 'Name too long');
  await assert.rejects(pending, (e) => e.code === 'too_long');
  assert.equal(c.room('r').state, 'offline');
});

test('a hello refused for a passing reason (draining) reconnects', async () => {
  const { c, server } = client({ reconnect: { minDelayMs: 10, maxDelayMs: 10 } });
  c.connect();
  await flush();
  server.conn.open();
  server.conn.fail(server.conn.last('hello'), 'draining');
  await flush();
  assert.equal(server.conn.closedBy.code, 4000);
  await tick(10);
  assert.equal(server.conns.length, 2);
  c.close();
});

test('every room is re-joined after a reconnect, paced under the server rate', async () => {
  const { c, server } = client({ reconnect: { minDelayMs: 10, maxDelayMs: 10 } });
  c.connect();
  const conn = await connected(server);
  const rooms = [];
  for (let i = 0; i < 40; i++) rooms.push((await joinRoom(c, conn, `r${i}`)).room);
  await tick(10000); // the pacer is full again
  conn.close(1006);
  await tick(10);
  const conn2 = await connected(server);
  assert.equal(conn2.requests('join').length, 32, 'the first burst');
  await tick(500);
  assert.equal(conn2.requests('join').length, 40, 'the rest, paced');
  assert.deepEqual(conn2.requests('join').map((j) => j.roomId), rooms.map((r) => r.id), 'in join order');
  c.close();
});

test('a left room is not re-joined; close() rejects a pending join with closed', async () => {
  const { c, server } = client({ reconnect: { minDelayMs: 10, maxDelayMs: 10 } });
  c.connect();
  const conn = await connected(server);
  const { room: keep } = await joinRoom(c, conn, 'keep');
  const { room: gone } = await joinRoom(c, conn, 'gone');
  const left = gone.leave();
  conn.ok(conn.last('leave'));
  await left;
  assert.equal(gone.state, 'left');
  conn.close(1006);
  await tick(10);
  const conn2 = await connected(server);
  assert.deepEqual(conn2.requests('join').map((j) => j.roomId), ['keep']);
  assert.equal(keep.state, 'joining');
  const pending = c.room('later').join();
  c.close();
  await assert.rejects(pending, (e) => e.code === 'closed');
});

test('a join asked while connecting waits for the connection', async () => {
  const { c, server } = client();
  c.connect();
  const room = c.room('r1');
  const events = record(room);
  const p = room.join({ history: 20, name: 'Room one' });
  assert.equal(room.state, 'offline');
  const conn = await connected(server);
  const req = conn.last('join');
  assert.deepEqual(req, { type: 'join', roomId: 'r1', history: 20, roomName: 'Room one', id: req.id });
  conn.ok(req, { roomId: 'r1', memberCount: 3, epoch: 'e1', offset: 2, messages: [msg('r1', 1), msg('r1', 2)] });
  const res = await p;
  assert.equal(res.messages.length, 2);
  assert.equal(room.memberCount, 3);
  assert.deepEqual(room.position, { epoch: 'e1', offset: 2 });
  assert.equal(events.of('message').length, 0, 'the history of a plain join is not emitted');
  assert.deepEqual(events.of('state').map((s) => s.state), ['offline', 'joining', 'joined']);
  c.close();
});

test('a connection attempt that never opens (or never gets its hello answered) is given up and retried', async () => {
  const { c, server, states } = client({ connectTimeoutMs: 3000, requestTimeoutMs: 60000, reconnect: { minDelayMs: 10, maxDelayMs: 10 } });
  c.connect();
  await tick(2999);
  assert.equal(server.conns.length, 1);
  await tick(1);
  assert.deepEqual(server.conns[0].closedBy, { code: 4000, reason: 'connect timeout' });
  assert.match(states[states.length - 1].reason, /no answer within 3000 ms/);
  await tick(10);
  assert.equal(server.conns.length, 2);
  server.conn.open(); // opens, but the hello gets no answer
  await tick(3000);
  assert.equal(server.conns[1].closedBy.code, 4000);
  await tick(10);
  await connected(server);
  await tick(10000);
  assert.equal(c.state, 'connected', 'the connect timer outlived the hello');
  c.close();
});

test('the clock starts where the fake timers say', () => {
  assert.equal(Date.now(), T0);
});
