// HTTP streaming (SSE down, POSTs up) and the client's fallback to it: the transport against a
// scripted server (fakefetch.mjs), with node:test's fake timers.
import { test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { ChatClient, httpStreamTransport, streamURL } from '../../dist/index.js';
import { fakeTimers, flush, tick } from './fake.mjs';
import { FakeHTTP } from './fakefetch.mjs';

beforeEach(fakeTimers);
afterEach(() => mock.timers.reset());

const settle = async () => { for (let i = 0; i < 6; i++) await flush(); };
const SESSION = { session: 'QQ.aaaaaaaaaaaaaaaaaaaaaa', node: 'A', heartbeat: 30000, resumeWindow: 10000 };

// open makes a transport on a fake server and opens its stream.
async function open(http = new FakeHTTP()) {
  const seen = { opened: 0, messages: [], closed: null };
  const t = httpStreamTransport(http.fetch)('http://a/stream?token=t', {
    open: () => seen.opened++,
    message: (m) => seen.messages.push(JSON.parse(m)),
    close: (code, reason) => { seen.closed = { code, reason }; },
  });
  await settle();
  http.stream.session(SESSION);
  await settle();
  return { http, t, seen };
}

test('stream URLs are derived from WebSocket URLs', () => {
  for (const [ws, want] of [
    ['ws://host/ws', 'http://host/stream'],
    ['wss://chat.example.com/ws', 'https://chat.example.com/stream'],
    ['ws://host:8080/', 'http://host:8080/stream'],
    ['ws://host:8080', 'http://host:8080/stream'],
    ['wss://h/chat/ws?token=abc', 'https://h/chat/stream?token=abc'],
    ['WS://h/other', 'http://h/other/stream'],
  ]) assert.equal(streamURL(ws), want, ws);
});

test('the stream opens on its session event; numbered events are messages; comments are not; the close event ends it', async () => {
  const { http, t, seen } = await open();
  assert.equal(http.streams[0].url, 'http://a/stream?token=t');
  assert.equal(t.name, 'http-stream');
  assert.equal(seen.opened, 1);
  http.stream.write(': ping\n\n');
  http.stream.event(1, { type: 'ok', id: 1 });
  // An event split across reads, and a character across them.
  const bytes = new TextEncoder().encode('id: 2\ndata: {"type":"message","content":"h\u00e9"}\n\n');
  http.stream.write(bytes.slice(0, 40));
  await settle();
  http.stream.write(bytes.slice(40));
  http.stream.write('event: later-type\ndata: {}\n\n'); // a type this client does not know: ignored
  await settle();
  assert.deepEqual(seen.messages, [{ type: 'ok', id: 1 }, { type: 'message', content: 'h\u00e9' }]);
  http.stream.close(4008, 'slow consumer');
  await settle();
  assert.deepEqual(seen.closed, { code: 4008, reason: 'slow consumer' });
  assert.throws(() => t.send('{}'), /not open/);
});

test('requests go in numbered POSTs, one at a time: what comes meanwhile goes in the next batch', async () => {
  const { http, t } = await open();
  http.answers.push({ status: 200, body: { seq: 1 } });
  t.send('{"type":"hello","id":1,"name":"a"}');
  t.send('{"type":"join","id":2,"roomId":"r"}'); // while the first is on its way
  t.send('{"type":"typing","roomId":"r"}');
  await settle();
  assert.equal(http.posts.length, 2);
  assert.equal(http.posts[0].url, 'http://a/stream'); // not the GET's query
  assert.deepEqual(http.posts[0].body, { session: SESSION.session, seq: 1, requests: [{ type: 'hello', id: 1, name: 'a' }] });
  assert.deepEqual(http.posts[1].body, { session: SESSION.session, seq: 2,
    requests: [{ type: 'join', id: 2, roomId: 'r' }, { type: 'typing', roomId: 'r' }] });
  assert.equal(http.posts[0].init.headers['Content-Type'], 'text/plain;charset=UTF-8'); // no CORS preflight
});

test('a POST without an answer is sent again, the same body and seq; a refusal ends the transport', async () => {
  const { http, t, seen } = await open();
  http.answers.push('reject', { status: 503, body: { error: { code: 'session_unreachable' } } });
  t.send('{"type":"publish","id":1,"roomId":"r","content":"x"}');
  await settle();
  assert.equal(http.posts.length, 1);
  await tick(250);
  await settle();
  await tick(500);
  await settle();
  assert.equal(http.posts.length, 3);
  assert.deepEqual(http.posts[2].body, http.posts[0].body);
  t.send('{"type":"typing","roomId":"r"}');
  await settle();
  assert.equal(http.post.body.seq, 2);
  http.answers.push({ status: 410, body: { error: { code: 'session_gone' } } });
  t.send('{"type":"typing","roomId":"r"}');
  await settle();
  assert.deepEqual(seen.closed, { code: 1006, reason: 'requests not delivered: session_gone' });
});

test('a heartbeat (an empty POST) goes when nothing was POSTed for the heartbeat interval', async () => {
  const { http, t } = await open();
  await tick(29000);
  assert.equal(http.posts.length, 0);
  await tick(1000);
  await settle();
  assert.deepEqual(http.post.body, { session: SESSION.session, seq: 1, requests: [] });
  await tick(20000);
  t.send('{"type":"typing","roomId":"r"}'); // a real POST moves the next heartbeat
  await settle();
  await tick(29000);
  await settle();
  assert.equal(http.posts.length, 2);
  await tick(1000);
  await settle();
  assert.equal(http.posts.length, 3);
  assert.deepEqual(http.post.body.requests, []);
});

test('a stream that drops is resumed from the last event id, on the same session', async () => {
  const { http, t, seen } = await open();
  http.stream.event(1, { type: 'ok', id: 1 });
  http.stream.event(2, { type: 'message', n: 2 });
  await settle();
  http.stream.end(); // no close event: the connection dropped
  await settle();
  assert.equal(http.streams.length, 2);
  assert.equal(http.stream.url, `http://a/stream?session=${encodeURIComponent(SESSION.session)}&lastEventId=2`);
  http.stream.session({ ...SESSION, resumed: true });
  http.stream.event(3, { type: 'message', n: 3 });
  await settle();
  assert.equal(seen.opened, 1);
  assert.equal(seen.closed, null);
  assert.deepEqual(seen.messages.map((m) => m.n ?? m.id), [1, 2, 3]);
  t.send('{"type":"typing","roomId":"r"}');
  await settle();
  assert.equal(http.post.body.seq, 1);
  // A resume refused: the transport ends.
  http.getAnswers.push({ status: 410, body: { error: { code: 'events_lost' } } });
  http.stream.end();
  await settle();
  assert.deepEqual(seen.closed, { code: 1006, reason: 'resume refused: events_lost' });
});

test('closing the transport ends the session on the server (close: true)', async () => {
  const { http, t, seen } = await open();
  t.close(1000, 'bye');
  await settle();
  assert.ok(http.streams[0].aborted);
  assert.deepEqual(http.post.body, { session: SESSION.session, seq: 1, requests: [], close: true });
  assert.equal(seen.closed, null); // the client forgot it: nothing is reported
});

// ---- the client's fallback ----------------------------------------------------------------------

// A WebSocket constructor whose sockets behave as told: 'refuse' (closed before open), 'mute'
// (open, then closed before any message), or 'work' (open; the test drives it).
function fakeWebSocket(mode) {
  const sockets = [];
  class WS {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      sockets.push(this);
      setImmediate(() => {
        if (mode() === 'refuse') { this.readyState = 3; this.onclose?.({ code: 1006, reason: '' }); return; }
        this.readyState = 1;
        this.onopen?.({});
        if (mode() === 'mute') { this.readyState = 3; this.onclose?.({ code: 1006, reason: '' }); }
      });
    }
    send(t) { this.sent.push(JSON.parse(t)); }
    close() { this.readyState = 3; }
  }
  return { WS, sockets };
}

function fallbackClient(mode, extra = {}) {
  const http = new FakeHTTP();
  const ws = fakeWebSocket(mode);
  const c = new ChatClient({ url: ['ws://a/ws', 'ws://b/ws'], name: 'alice', WebSocket: ws.WS, fetch: http.fetch,
    reconnect: { minDelayMs: 1000, maxDelayMs: 1000 }, ...extra });
  const states = [];
  c.on('state', (s) => states.push(s));
  return { c, http, ws, states };
}

// helloOverStream answers the hello POSTed on the current stream.
async function helloOverStream(http) {
  http.stream.session(SESSION);
  await settle();
  const hello = http.requests().find((r) => r.type === 'hello');
  assert.ok(hello, 'no hello POSTed');
  http.stream.event(1, { type: 'ok', id: hello.id, userId: 'u1', name: 'alice', node: 'A' });
  await settle();
}

for (const mode of ['refuse', 'mute']) {
  test(`a WebSocket that ${mode === 'refuse' ? 'cannot open' : 'closes before its first message'} gives way to HTTP streaming at once`, async () => {
    const { c, http, ws, states } = fallbackClient(() => mode);
    c.connect();
    await settle();
    assert.equal(ws.sockets.length, 1);
    await tick(0); // at once: no backoff
    await settle();
    assert.equal(http.streams.length, 1, 'HTTP streaming was not tried at once');
    assert.equal(http.stream.url, 'http://a/stream', 'the same node over HTTP streaming');
    await helloOverStream(http);
    assert.equal(c.state, 'connected');
    assert.equal(c.transportName, 'http-stream');
    const connected = states[states.length - 1];
    assert.equal(connected.transport, 'http-stream');
    assert.deepEqual(states.map((s) => [s.state, s.transport]).slice(0, 2), [['connecting', 'websocket'], ['connecting', 'http-stream']]);
    assert.equal(states[1].delayMs, 0);
    // It keeps to HTTP streaming: a drop reconnects over it again.
    http.stream.close(1001, 'server shutting down');
    await settle();
    await tick(1000);
    await settle();
    assert.equal(ws.sockets.length, 1);
    assert.equal(http.streams.length, 2);
    c.close();
  });
}

test('a WebSocket that works is kept, also across a drop after messages', async () => {
  const { c, http, ws } = fallbackClient(() => 'work');
  c.connect();
  await settle();
  const s = ws.sockets[0];
  const hello = s.sent.find((m) => m.type === 'hello');
  s.onmessage({ data: JSON.stringify({ type: 'ok', id: hello.id, userId: 'u1', name: 'alice', node: 'A' }) });
  await settle();
  assert.equal(c.transportName, 'websocket');
  s.onclose({ code: 1006, reason: '' });
  await settle();
  await tick(1000);
  await settle();
  assert.equal(ws.sockets.length, 2);
  assert.equal(http.streams.length, 0);
  c.close();
});

test('a WebSocket that worked is kept when later ones cannot open (a node restarting), for five attempts; then HTTP streaming', async () => {
  let mode = 'work';
  const { c, http, ws, states } = fallbackClient(() => mode);
  const hello = async (s, node) => {
    const h = s.sent.find((m) => m.type === 'hello');
    s.onmessage({ data: JSON.stringify({ type: 'ok', id: h.id, userId: 'u1', name: 'alice', node }) });
    await settle();
  };
  c.connect();
  await settle();
  await hello(ws.sockets[0], 'A');
  assert.equal(c.transportName, 'websocket');
  mode = 'refuse'; // the node is down: its sockets are refused
  ws.sockets[0].onclose({ code: 1006, reason: '' });
  await settle();
  for (let attempt = 1; attempt <= 4; attempt++) {
    await tick(1000);
    await settle();
    assert.equal(ws.sockets.length, 1 + attempt, `attempt ${attempt}`);
    await tick(0);
    await settle();
    assert.equal(http.streams.length, 0, `HTTP streaming was tried after ${attempt} refused WebSocket(s), having had one that worked`);
    const last = states[states.length - 1];
    assert.equal(last.transport, 'websocket', 'the next attempt\'s carrier');
    assert.ok(last.delayMs >= 500, `retried after ${last.delayMs} ms, want the backoff`);
  }
  mode = 'work'; // the node is back: the WebSocket works, and the count starts again
  await tick(1000);
  await settle();
  assert.equal(ws.sockets.length, 6);
  await hello(ws.sockets[5], 'A');
  assert.equal(c.state, 'connected');
  assert.equal(c.transportName, 'websocket');
  mode = 'refuse'; // now the network blocks WebSockets for good
  ws.sockets[5].onclose({ code: 1006, reason: '' });
  await settle();
  for (let attempt = 1; attempt <= 5; attempt++) {
    await tick(1000);
    await settle();
    assert.equal(ws.sockets.length, 6 + attempt, `attempt ${attempt} after the second drop`);
    await tick(0);
    await settle();
    assert.equal(http.streams.length, attempt < 5 ? 0 : 1, `HTTP streaming after ${attempt} refused WebSocket(s)`);
  }
  await helloOverStream(http);
  assert.equal(c.state, 'connected');
  assert.equal(c.transportName, 'http-stream', 'five refused WebSockets in a row: the network blocks them now');
  // connect() again forgets that a WebSocket worked: a refused one gives way at once.
  c.close();
  c.connect();
  await settle();
  await tick(0);
  await settle();
  assert.equal(http.streams.length, 2, 'after connect() again, a refused WebSocket gives way to HTTP streaming at once');
  c.close();
});

test('when HTTP streaming fails too, the next attempt goes back to the WebSocket, with backoff', async () => {
  const { c, http, ws, states } = fallbackClient(() => 'refuse');
  http.getAnswers.push('reject');
  c.connect();
  await settle();
  await tick(0);
  await settle();
  assert.equal(ws.sockets.length, 1);
  assert.equal(http.streams.length + http.getAnswers.length, 0); // the GET was tried and failed
  const last = states[states.length - 1];
  assert.equal(last.state, 'connecting');
  assert.ok(last.delayMs >= 500, `retried after ${last.delayMs} ms`);
  await tick(1000);
  await settle();
  assert.equal(ws.sockets.length, 2, 'back to the WebSocket');
  await tick(0);
  await settle();
  assert.equal(http.streams.length, 1, 'then HTTP streaming again at once');
  c.close();
});

test('without a WebSocket in the runtime the client starts on HTTP streaming; fallback: false refuses', async () => {
  const http = new FakeHTTP();
  const c = new ChatClient({ url: 'wss://chat.example/ws', name: 'alice', fetch: http.fetch });
  c.connect();
  await settle();
  assert.equal(http.stream.url, 'https://chat.example/stream');
  await helloOverStream(http);
  assert.equal(c.transportName, 'http-stream');
  c.close();
  const off = new ChatClient({ url: 'ws://a/ws', name: 'a', fetch: http.fetch, fallback: false });
  off.connect();
  assert.equal(off.state, 'disconnected');
  assert.throws(() => new ChatClient({ url: 'ws://a/ws', name: 'a', streamUrl: 'ws://a/stream' }), /streamUrl/);
  assert.throws(() => new ChatClient({ url: ['ws://a/ws', 'ws://b/ws'], name: 'a', streamUrl: 'http://a/stream' }), /streamUrl/);
});

test('a reply and a notice in one read: the reply settles before the notice is emitted, as over a WebSocket', async () => {
  const http = new FakeHTTP();
  const c = new ChatClient({ url: 'ws://a/ws', name: 'alice', fetch: http.fetch, fallback: true });
  c.connect();
  await settle();
  await helloOverStream(http);
  assert.equal(c.transportName, 'http-stream');
  const room = c.room('r');
  const joined = room.join();
  await settle();
  const join = http.requests().find((r) => r.type === 'join');
  http.stream.event(2, { type: 'ok', id: join.id, roomId: 'r', memberCount: 1, epoch: 'e', offset: 0, messages: [] });
  await joined;
  // The web client's member list: a presence answer replaces it, a joined notice adds to it. The
  // server answered (alice alone) before bob joined; both arrive in one read of the stream.
  const members = new Set();
  const order = [];
  room.on('joined', (m) => { order.push('joined'); members.add(m.name); });
  const asked = room.presence().then((res) => {
    order.push('presence');
    members.clear();
    for (const m of res.members) members.add(m.name);
  });
  await settle();
  const pres = http.requests().find((r) => r.type === 'presence');
  http.stream.write(`id: 3\ndata: ${JSON.stringify({ type: 'ok', id: pres.id, roomId: 'r', memberCount: 1, members: [{ userId: 'u1', name: 'alice' }] })}\n\n` +
    `id: 4\ndata: ${JSON.stringify({ type: 'joined', roomId: 'r', userId: 'u2', name: 'bob', memberCount: 2 })}\n\n`);
  await asked;
  await settle();
  assert.deepEqual(order, ['presence', 'joined']);
  assert.deepEqual([...members].sort(), ['alice', 'bob']);
  c.close();
});
