// A scripted server for the unit tests: a transport factory whose connections the test drives by
// hand (open, answer requests, push, close), with node:test's fake timers for time.
import { mock } from 'node:test';
import assert from 'node:assert/strict';
import { ChatClient } from '../../dist/index.js';

export const T0 = 1_000_000;

// flush lets promise callbacks run (setImmediate is not faked).
export const flush = () => new Promise((r) => setImmediate(r));

// tick advances the fake clock and lets the callbacks it caused run.
export async function tick(ms) {
  await flush(); // timers that pending callbacks are about to set
  mock.timers.tick(ms);
  await flush();
  await flush();
}

export function fakeTimers() {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
}

// One connection the client opened.
export class FakeConn {
  constructor(url, handlers) {
    this.url = url;
    this.h = handlers;
    this.sent = [];
    this.closedBy = null; // {code, reason} when the client closed it
    this.dead = false;
  }

  open() { this.h.open(); }
  push(m) { this.h.message(JSON.stringify(m)); }
  close(code = 1006, reason = '') { this.dead = true; this.h.close(code, reason); }

  // The requests sent so far of one type.
  requests(type) { return this.sent.filter((m) => m.type === type); }
  last(type) { const r = this.requests(type); return r[r.length - 1]; }

  ok(req, fields = {}) { this.push({ type: 'ok', id: req.id, ...fields }); }
  fail(req, code, message = code) { this.push({ type: 'error', id: req.id, code, message }); }
}

export class FakeServer {
  constructor() {
    this.conns = [];
    this.factory = (url, handlers) => {
      const c = new FakeConn(url, handlers);
      this.conns.push(c);
      return {
        name: 'fake',
        send: (text) => {
          if (c.dead || c.closedBy) throw new Error('closed');
          c.sent.push(JSON.parse(text));
        },
        close: (code, reason) => { c.closedBy = { code, reason }; },
      };
    };
  }

  get conn() { return this.conns[this.conns.length - 1]; }
}

// client makes a client on a fake server, with options; events are recorded.
export function client(options = {}) {
  const server = new FakeServer();
  const c = new ChatClient({ url: 'ws://a/ws', name: 'alice', transport: server.factory, ...options });
  const states = [];
  const errors = [];
  c.on('state', (e) => states.push(e));
  c.on('error', (e) => errors.push(e));
  return { c, server, states, errors };
}

// connected opens the client's current connection and answers its hello.
export async function connected(server, user = { userId: 'u-alice', name: 'alice', node: 'n1' }) {
  await flush();
  const conn = server.conn;
  conn.open();
  const hello = conn.last('hello');
  assert.ok(hello, 'no hello sent');
  conn.ok(hello, user);
  await flush();
  return conn;
}

// record collects a room's events in order, as [type, event].
export function record(room) {
  const events = [];
  for (const type of ['state', 'message', 'joined', 'left', 'typing', 'recovered', 'gap']) {
    room.on(type, (e) => events.push([type, e]));
  }
  events.of = (type) => events.filter(([t]) => t === type).map(([, e]) => e);
  events.offsets = () => events.of('message').map((m) => m.offset);
  return events;
}

export const msg = (roomId, offset, extra = {}) => ({
  type: 'message', roomId, offset, epoch: 'e1', content: `m${offset}`, userId: 'u-bob', name: 'bob',
  timestamp: '2026-01-01T00:00:00.000Z', ...extra,
});

// joinRoom joins roomId on conn, answering with the given position and messages.
export async function joinRoom(c, conn, roomId, { epoch = 'e1', offset = 0, messages = [], history } = {}) {
  const room = c.room(roomId);
  const events = record(room);
  const p = room.join(history ? { history } : {});
  await flush();
  const req = conn.last('join');
  assert.equal(req.roomId, roomId);
  conn.ok(req, { roomId, memberCount: 2, epoch, offset, messages });
  const res = await p;
  return { room, events, res, req };
}

// rangeOf is [from..to].
export const rangeOf = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
