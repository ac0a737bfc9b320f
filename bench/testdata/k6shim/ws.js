// Shim fixture: k6/ws semantics against the test's server (k6_shim_test.go): URL is its base.
import ws from 'k6/ws';
import { check } from 'k6';

export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '20s' } } };

export default function () {
  const base = __ENV.URL;

  // An echo server: the callback runs after the handshake and before 'open'; messages and
  // timers interleave; close() fires 'close' with 1001 and ends connect().
  const got = [];
  let opened = false;
  let openBeforeCallback = null;
  let closedWith = null;
  let ticks = 0;
  const res = ws.connect(`${base}/echo`, { headers: { 'Sec-WebSocket-Protocol': 'chatd.v2' } }, (socket) => {
    openBeforeCallback = opened;
    socket.on('open', () => {
      opened = true;
      socket.send('a');
      socket.send('b');
      socket.setTimeout(() => socket.send('c'), 50);
    });
    socket.on('message', (m) => {
      got.push(m);
      if (m === 'c') {
        socket.close();
      }
    });
    socket.on('close', (code) => {
      closedWith = code;
    });
    socket.setInterval(() => ticks++, 10);
  });
  check(res, {
    'echo: status 101': (r) => r.status === 101,
    'echo: subprotocol in the Go-canonical header': (r) => r.headers['Sec-Websocket-Protocol'] === 'chatd.v2',
  });
  check(null, {
    'echo: open after the callback': () => openBeforeCallback === false && opened,
    'echo: messages in order': () => got.join() === 'a,b,c',
    'echo: close() fires close with 1001': () => closedWith === 1001,
    'echo: interval ticked': () => ticks > 0,
  });

  // The server closes with 4008: 'error' then 'close', and connect() returns.
  const events = [];
  ws.connect(`${base}/close4008`, null, (socket) => {
    socket.on('error', (e) => events.push(`error:${e.error()}`));
    socket.on('close', (code) => events.push(`close:${code}`));
  });
  check(events, {
    'server close 4008: error, then close': (ev) => ev.length === 2 && ev[0].indexOf('4008') > 0 && ev[1] === 'close:4008',
  });

  // No upgrade: the callback never runs and the response says why.
  let called = false;
  const r404 = ws.connect(`${base}/nope`, null, () => {
    called = true;
  });
  check(r404, { 'no upgrade: status 404 and an error, no callback': (r) => r.status === 404 && r.error !== '' && !called });
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY_JSON]: JSON.stringify(data) };
}
