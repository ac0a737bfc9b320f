// Tokens: getToken before connecting, refresh before exp, a new token on expiry or refusal; a
// static token that expires stops the client.
import { test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { client, connected, fakeTimers, flush, tick, T0 } from './fake.mjs';

beforeEach(fakeTimers);
afterEach(() => mock.timers.reset());

// jwt makes an unsigned JWT-shaped token with exp (seconds) and a serial.
const b64url = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (expMs, n) => `${b64url({ alg: 'HS256' })}.${b64url({ sub: 'alice', exp: Math.floor(expMs / 1000), n, name: 'Ålice' })}.sig`;

function tokens(ttlMs) {
  const issued = [];
  const getToken = async () => {
    const t = jwt(Date.now() + ttlMs, issued.length);
    issued.push(t);
    return t;
  };
  return { issued, getToken };
}

test('getToken: asked before the hello; refreshed before exp while connected', async () => {
  const { issued, getToken } = tokens(60_000);
  const { c, server } = client({ name: undefined, getToken });
  c.connect();
  const conn = await connected(server, { userId: 'alice', name: 'Alice', node: 'n' });
  assert.equal(issued.length, 1);
  assert.deepEqual(conn.last('hello'), { type: 'hello', token: issued[0], id: conn.last('hello').id });
  // A 60 s token is refreshed 20 s before its exp (a third of its life).
  await tick(39_000);
  assert.equal(conn.requests('refresh').length, 0);
  await tick(1_000);
  assert.equal(issued.length, 2);
  const r = conn.last('refresh');
  assert.equal(r.token, issued[1]);
  conn.ok(r);
  await flush();
  await tick(40_000);
  assert.equal(conn.requests('refresh').length, 2, 'the new token is refreshed in its turn');
  assert.equal(server.conns.length, 1);
  c.close();
});

test('a refused refresh is reported and tried again while the token is valid', async () => {
  const { issued, getToken } = tokens(60_000);
  const { c, server, errors } = client({ name: undefined, getToken });
  c.connect();
  const conn = await connected(server);
  await tick(40_000);
  conn.fail(conn.last('refresh'), 'unauthorized', 'bad_signature');
  await flush();
  assert.equal(errors.pop().code, 'unauthorized');
  await tick(2_000);
  assert.equal(conn.requests('refresh').length, 2);
  assert.equal(issued.length, 3);
  c.close();
});

test('closed for expiry (4001): a new token, then a reconnect', async () => {
  const { issued, getToken } = tokens(60_000);
  const { c, server, states } = client({ name: undefined, getToken, reconnect: { minDelayMs: 10, maxDelayMs: 10 } });
  c.connect();
  const conn = await connected(server);
  conn.close(4001, 'token expired');
  await flush();
  assert.equal(states[states.length - 1].code, 4001);
  await tick(10);
  const conn2 = await connected(server);
  assert.equal(issued.length, 2);
  assert.equal(conn2.last('hello').token, issued[1]);
  c.close();
});

test('unauthorized at hello: one more try with a new token, then stop', async () => {
  const { issued, getToken } = tokens(60_000);
  const { c, server, states } = client({ name: undefined, getToken });
  c.connect();
  await flush();
  server.conn.open();
  server.conn.fail(server.conn.last('hello'), 'unauthorized', 'expired');
  await tick(1);
  assert.equal(server.conns.length, 2, 'no second attempt at once');
  assert.equal(issued.length, 2);
  server.conn.open();
  server.conn.fail(server.conn.last('hello'), 'unauthorized', 'expired');
  await tick(60_000);
  assert.equal(c.state, 'disconnected');
  assert.equal(states[states.length - 1].error.code, 'unauthorized');
  assert.equal(server.conns.length, 2);
});

test('a static token that expires (4001) stops the client: it cannot renew it', async () => {
  const { c, server, states } = client({ name: undefined, token: jwt(T0 + 5000, 0) });
  c.connect();
  const ready = c.ready();
  await connected(server);
  await ready;
  server.conn.close(4001, 'token expired');
  await tick(60_000);
  const s = states[states.length - 1];
  assert.deepEqual([s.state, s.code, s.error.code], ['disconnected', 4001, 'token_expired']);
  assert.equal(server.conns.length, 1);
});

test('getToken failures are reported and retried with backoff', async () => {
  let calls = 0;
  const { c, server, errors } = client({ name: undefined, reconnect: { minDelayMs: 100, maxDelayMs: 100 },
    getToken: async () => { calls++; if (calls < 3) throw new Error('backend down'); return jwt(Date.now() + 60_000, calls); } });
  c.connect();
  await flush();
  assert.equal(errors[0].code, 'token_unavailable');
  assert.match(errors[0].message, /backend down/);
  await tick(100);
  await tick(100);
  assert.equal(calls, 3);
  await connected(server);
  assert.equal(c.state, 'connected');
  c.close();
});

test('a cached token still fresh is used again after a reconnect', async () => {
  const { issued, getToken } = tokens(600_000);
  const { c, server } = client({ name: undefined, getToken, reconnect: { minDelayMs: 10, maxDelayMs: 10 } });
  c.connect();
  const conn = await connected(server);
  conn.close(1006);
  await tick(10);
  const conn2 = await connected(server);
  assert.equal(issued.length, 1);
  assert.equal(conn2.last('hello').token, issued[0]);
  c.close();
});
