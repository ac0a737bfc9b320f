// A room's message stream: each offset once and in order, holes recovered with since, gaps
// reported, own publishes accounted for, epochs followed.
import { test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { client, connected, fakeTimers, flush, joinRoom, msg, rangeOf, record, tick } from './fake.mjs';

beforeEach(fakeTimers);
afterEach(() => mock.timers.reset());

async function setup(position = { offset: 3 }) {
  const h = client({ reconnect: { minDelayMs: 10, maxDelayMs: 10 } });
  h.c.connect();
  const conn = await connected(h.server);
  const j = await joinRoom(h.c, conn, 'r', position);
  return { ...h, conn, ...j };
}

// reconnect drops conn and answers the next hello; returns the new connection.
async function reconnect(server, conn) {
  conn.close(1006);
  await tick(10);
  return connected(server);
}

test('live messages: in order, copies dropped', async () => {
  const { c, conn, room, events } = await setup();
  for (const o of [4, 5, 5, 4, 6]) conn.push(msg('r', o));
  assert.deepEqual(events.offsets(), [4, 5, 6]);
  assert.deepEqual(room.position, { epoch: 'e1', offset: 6 });
  c.close();
});

test('a message without offset (not stored) is delivered as it comes, twice if sent twice', async () => {
  const { c, conn, events } = await setup();
  const plain = { type: 'message', roomId: 'r', content: 'x', userId: 'u', name: 'n', timestamp: 't' };
  conn.push(plain);
  conn.push(plain);
  assert.equal(events.of('message').length, 2);
  c.close();
});

test('a hole: the room recovers in place with since, holds later pushes, then delivers in order', async () => {
  const { c, conn, room, events } = await setup();
  conn.push(msg('r', 4));
  conn.push(msg('r', 7)); // 5 and 6 went missing
  await flush();
  const rec = conn.last('join');
  assert.deepEqual(rec.since, { epoch: 'e1', offset: 4 });
  conn.push(msg('r', 8));
  conn.push(msg('r', 5)); // a late copy while the recovery runs
  assert.deepEqual(events.offsets(), [4], 'nothing delivered across the hole');
  conn.ok(rec, { roomId: 'r', memberCount: 2, epoch: 'e1', offset: 7, recovered: true,
    messages: [msg('r', 4), msg('r', 5), msg('r', 6), msg('r', 7)] });
  await flush();
  assert.deepEqual(events.offsets(), [4, 5, 6, 7, 8]);
  assert.deepEqual(events.of('recovered'), [{ roomId: 'r', count: 3, position: { epoch: 'e1', offset: 7 } }]);
  assert.deepEqual(room.position, { epoch: 'e1', offset: 8 });
  c.close();
});

test('a reconnect recovers what was missed: recovered event, no copies, no hole', async () => {
  const { c, server, conn, events } = await setup();
  conn.push(msg('r', 4));
  const conn2 = await reconnect(server, conn);
  const rejoin = conn2.last('join');
  assert.deepEqual(rejoin.since, { epoch: 'e1', offset: 4 });
  // The server repeats the message at since.offset: it must be skipped.
  conn2.ok(rejoin, { roomId: 'r', memberCount: 2, epoch: 'e1', offset: 6, recovered: true,
    messages: [msg('r', 4), msg('r', 5), msg('r', 6)] });
  await flush();
  conn2.push(msg('r', 6));
  conn2.push(msg('r', 7));
  assert.deepEqual(events.offsets(), [4, 5, 6, 7]);
  assert.equal(events.of('recovered')[0].count, 2);
  assert.equal(events.of('gap').length, 0);
  c.close();
});

test('a reconnect that cannot recover reports a gap with the newest messages, then continues', async () => {
  const { c, server, conn, room, events } = await setup({ offset: 3, history: 2 });
  const conn2 = await reconnect(server, conn);
  const rejoin = conn2.last('join');
  assert.equal(rejoin.history, 2, 'a re-join asks for history to fill a gap with');
  conn2.ok(rejoin, { roomId: 'r', memberCount: 2, epoch: 'e1', offset: 250, recovered: false,
    messages: [msg('r', 249), msg('r', 250)] });
  await flush();
  const [gap] = events.of('gap');
  assert.deepEqual({ ...gap, messages: gap.messages.map((m) => m.offset) }, { roomId: 'r', reason: 'trimmed',
    previous: { epoch: 'e1', offset: 3 }, position: { epoch: 'e1', offset: 250 }, messages: [249, 250] });
  assert.equal(events.of('message').length, 0, 'gap messages are not message events');
  conn2.push(msg('r', 251));
  assert.deepEqual(events.offsets(), [251]);
  assert.deepEqual(room.position, { epoch: 'e1', offset: 251 });
  c.close();
});

test('a new epoch: gap reason epoch; stale pushes of the old epoch are dropped', async () => {
  const { c, server, conn, events } = await setup();
  const conn2 = await reconnect(server, conn);
  conn2.ok(conn2.last('join'), { roomId: 'r', memberCount: 1, epoch: 'e2', offset: 1, recovered: false,
    messages: [msg('r', 1, { epoch: 'e2' })] });
  await flush();
  assert.equal(events.of('gap')[0].reason, 'epoch');
  conn2.push(msg('r', 4)); // e1: stale
  conn2.push(msg('r', 2, { epoch: 'e2' }));
  assert.deepEqual(events.of('message').map((m) => `${m.epoch}/${m.offset}`), ['e2/2']);
  assert.equal(conn2.requests('join').length, 1, 'a stale push started a recovery');
  c.close();
});

test('a push of an unknown epoch starts a recovery and waits for it', async () => {
  const { c, conn, events } = await setup();
  conn.push(msg('r', 1, { epoch: 'e9' }));
  await flush();
  const rec = conn.last('join');
  assert.deepEqual(rec.since, { epoch: 'e1', offset: 3 });
  assert.equal(events.of('message').length, 0);
  conn.ok(rec, { roomId: 'r', memberCount: 1, epoch: 'e9', offset: 0, recovered: false, messages: [] });
  await flush();
  assert.equal(events.of('gap')[0].reason, 'epoch');
  assert.deepEqual(events.of('message').map((m) => `${m.epoch}/${m.offset}`), ['e9/1'], 'the held push after the gap');
  c.close();
});

test('resync: recover in place; the gap carries the server reason', async () => {
  const { c, conn, events } = await setup();
  conn.push({ type: 'resync', roomId: 'r', reason: 'epoch' });
  await flush();
  const rec = conn.last('join');
  assert.deepEqual(rec.since, { epoch: 'e1', offset: 3 });
  conn.ok(rec, { roomId: 'r', memberCount: 2, epoch: 'e5', offset: 0, recovered: false, messages: [] });
  await flush();
  const [gap] = events.of('gap');
  assert.equal(gap.resync, 'epoch');
  assert.equal(gap.reason, 'epoch');
  c.close();
});

test('a recovery that fails is asked again later; pushes stay held meanwhile', async () => {
  const { c, conn, events } = await setup();
  conn.push(msg('r', 5));
  await flush();
  conn.fail(conn.last('join'), 'cluster_unavailable');
  await flush();
  conn.push(msg('r', 6));
  assert.deepEqual(events.offsets(), []);
  await tick(1000);
  const again = conn.last('join');
  assert.equal(conn.requests('join').length, 3, 'the first join, the failed recovery, the retry');
  conn.ok(again, { roomId: 'r', memberCount: 2, epoch: 'e1', offset: 5, recovered: true, messages: [msg('r', 4), msg('r', 5)] });
  await flush();
  assert.deepEqual(events.offsets(), [4, 5, 6]);
  c.close();
});

test('a recovery reply that does not reach its offset is a gap (incomplete)', async () => {
  const { c, server, conn, events } = await setup();
  const conn2 = await reconnect(server, conn);
  conn2.ok(conn2.last('join'), { roomId: 'r', memberCount: 2, epoch: 'e1', offset: 6, recovered: true, messages: [msg('r', 4)] });
  await flush();
  assert.equal(events.of('gap')[0].reason, 'incomplete');
  assert.deepEqual(events.of('gap')[0].position, { epoch: 'e1', offset: 6 });
  conn2.push(msg('r', 7));
  assert.deepEqual(events.offsets(), [4, 7]);
  c.close();
});

test('own publishes: their offsets fill holes without a recovery, and are skipped when recovered', async () => {
  const { c, server, conn, room, events } = await setup();
  const p1 = room.publish('mine');
  conn.push(msg('r', 5)); // bob's message after ours, before our ok
  await flush();
  assert.equal(conn.requests('join').length, 1, 'recovered while our own publish was on its way');
  conn.ok(conn.last('publish'), { offset: 4, timestamp: 'ts' });
  assert.deepEqual(await p1, { offset: 4, timestamp: 'ts' });
  await flush();
  assert.deepEqual(events.offsets(), [5]);
  // Ours acknowledged ahead of the stream (7, while 6 is still on its way), then a reconnect.
  const p2 = room.publish('mine again');
  conn.ok(conn.last('publish'), { offset: 7, timestamp: 'ts' });
  await p2;
  const conn2 = await reconnect(server, conn);
  conn2.ok(conn2.last('join'), { roomId: 'r', memberCount: 2, epoch: 'e1', offset: 8, recovered: true,
    messages: [msg('r', 6), msg('r', 7, { userId: 'u-alice' }), msg('r', 8)] });
  await flush();
  assert.deepEqual(events.offsets(), [5, 6, 8]);
  assert.deepEqual(room.position, { epoch: 'e1', offset: 8 });
  c.close();
});

test('a hole that our publish does not fill is recovered once the publish is answered', async () => {
  const { c, conn, room, events } = await setup();
  const p = room.publish('mine');
  conn.push(msg('r', 6)); // 4 is ours; 5 is lost
  conn.ok(conn.last('publish'), { offset: 4, timestamp: 'ts' });
  await p;
  await flush();
  const rec = conn.last('join');
  assert.deepEqual(rec.since, { epoch: 'e1', offset: 4 });
  conn.ok(rec, { roomId: 'r', memberCount: 2, epoch: 'e1', offset: 6, recovered: true, messages: [msg('r', 5), msg('r', 6)] });
  await flush();
  assert.deepEqual(events.offsets(), [5, 6]);
  c.close();
});

test('a room joined before the server named its epoch takes it from the first push, also after own messages', async () => {
  const h = client();
  h.c.connect();
  const conn = await connected(h.server);
  const { room, events } = await joinRoom(h.c, conn, 'r', { epoch: '', offset: 0 });
  const p = room.publish('mine');
  conn.ok(conn.last('publish'), { offset: 1, timestamp: 't' });
  await p;
  conn.push(msg('r', 2, { epoch: 'e7' }));
  assert.deepEqual(events.offsets(), [2]);
  assert.deepEqual(room.position, { epoch: 'e7', offset: 2 });
  assert.equal(conn.requests('join').length, 1, 'a recovery for an unnamed epoch');
  h.c.close();
});

test('a room joined before the server named its epoch takes it from the first message', async () => {
  const h = client({ reconnect: { minDelayMs: 10, maxDelayMs: 10 } });
  h.c.connect();
  const conn = await connected(h.server);
  const { room, events } = await joinRoom(h.c, conn, 'r', { epoch: '', offset: 0 });
  conn.push(msg('r', 1, { epoch: 'e7' }));
  conn.push(msg('r', 2, { epoch: 'e7' }));
  assert.deepEqual(events.offsets(), [1, 2]);
  assert.equal(conn.requests('join').length, 1);
  const conn2 = await reconnect(h.server, conn);
  assert.deepEqual(conn2.last('join').since, { epoch: 'e7', offset: 2 });
  assert.deepEqual(room.position, { epoch: 'e7', offset: 2 });
  h.c.close();
});

test('join with since (a saved position): what was missed comes as message events', async () => {
  const h = client();
  h.c.connect();
  const conn = await connected(h.server);
  const room = h.c.room('r');
  const events = record(room);
  const p = room.join({ since: { epoch: 'e1', offset: 10 }, history: 5 });
  await flush();
  const req = conn.last('join');
  assert.deepEqual(req.since, { epoch: 'e1', offset: 10 });
  conn.ok(req, { roomId: 'r', memberCount: 1, epoch: 'e1', offset: 12, recovered: true, messages: [msg('r', 11), msg('r', 12)] });
  const res = await p;
  assert.equal(res.recovered, true);
  assert.deepEqual(events.offsets(), [11, 12]);
  assert.equal(events.of('recovered')[0].count, 2);
  h.c.close();
});

test('a flood of pushes during a recovery is bounded; what did not fit is recovered after', async () => {
  const { c, conn, events } = await setup();
  conn.push(msg('r', 5));
  await flush();
  const rec = conn.last('join');
  for (let o = 6; o <= 2600; o++) conn.push(msg('r', o));
  conn.ok(rec, { roomId: 'r', memberCount: 2, epoch: 'e1', offset: 5, recovered: true, messages: [msg('r', 4), msg('r', 5)] });
  await flush();
  const again = conn.last('join');
  assert.notEqual(again.id, rec.id, 'no second recovery after the buffer overflowed');
  assert.deepEqual(again.since, { epoch: 'e1', offset: 4 + 2000 }, 'held pushes (5 among them) delivered up to the bound');
  conn.ok(again, { roomId: 'r', memberCount: 2, epoch: 'e1', offset: 2600, recovered: true,
    messages: rangeOf(2005, 2600).map((o) => msg('r', o)) });
  await flush();
  assert.deepEqual(events.offsets(), rangeOf(4, 2600));
  c.close();
});

test('members: joined and left update the count and stop a typer', async () => {
  const { c, conn, room, events } = await setup();
  conn.push({ type: 'joined', roomId: 'r', userId: 'u-bob', name: 'bob', memberCount: 3 });
  assert.equal(room.memberCount, 3);
  conn.push({ type: 'typing', roomId: 'r', userId: 'u-bob', name: 'bob' });
  conn.push({ type: 'left', roomId: 'r', userId: 'u-bob', name: 'bob', memberCount: 2 });
  assert.equal(room.memberCount, 2);
  assert.deepEqual(events.of('joined'), [{ roomId: 'r', userId: 'u-bob', name: 'bob', memberCount: 3 }]);
  assert.deepEqual(events.of('typing').map((t) => t.typing), [true, false]);
  assert.deepEqual(room.typers, []);
  c.close();
});

test('pushes for other rooms, unknown types and bad JSON are ignored', async () => {
  const { c, conn, events } = await setup();
  conn.push(msg('other', 4));
  conn.push({ type: 'future', roomId: 'r' });
  conn.h.message('{not json');
  conn.h.message('[1]');
  conn.push(msg('r', 4));
  assert.deepEqual(events.offsets(), [4]);
  c.close();
});
