#!/usr/bin/env node
// Memory of a Node process holding many SDK connections to one chatd:
//
//   node --expose-gc scripts/measure-conns.mjs ws://127.0.0.1:8080/ws [connections=1000] [rooms=10] [raw]
//
// With `raw`, the same on bare ws sockets (hello and join by hand, nothing kept): the part of the
// figure that is the WebSocket library's, not the client's.
// Each connection says hello and joins one of `rooms` rooms (round robin); the process's RSS and
// heap are read after a forced GC before (with the client loaded and warmed up) and after (all
// connected and joined, events settled), and the difference is divided by the connections. At most
// 50 connections are opened at once (a node refuses more than -max-pending-per-ip handshakes from
// one address at a time). Bounded: gives up after 120 s. Run `npm run build` first.
import WebSocket from 'ws';
import { ChatClient } from '../dist/index.js';

const [url, nArg = '1000', roomsArg = '10', mode = 'sdk'] = process.argv.slice(2);
const N = Number(nArg);
const ROOMS = Number(roomsArg);
if (!url || !(N > 0) || !(ROOMS > 0) || typeof globalThis.gc !== 'function') {
  console.error('usage: node --expose-gc scripts/measure-conns.mjs ws://host:port/ws [connections] [rooms]');
  process.exit(2);
}
const AT_ONCE = 50;
const deadline = setTimeout(() => { console.error('gave up after 120 s'); process.exit(1); }, 120000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// rawOpen is a bare socket that says hello and joins, with the `state` and `close` the counts use.
function rawOpen(i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'chatd.v2');
    const c = { state: 'connecting', close: () => ws.close() };
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', id: 1, name: `m${i}` })));
    ws.on('message', (data) => {
      const m = JSON.parse(String(data));
      if (m.id === 1) ws.send(JSON.stringify({ type: 'join', id: 2, roomId: `measure-${i % ROOMS}` }));
      if (m.id === 2) { c.state = 'connected'; resolve(c); }
    });
    ws.on('error', reject);
  });
}

async function open(i) {
  if (mode === 'raw') return rawOpen(i);
  const c = new ChatClient({ url, name: `m${i}`, WebSocket, requestTimeoutMs: 30000 });
  c.connect();
  await c.ready();
  await c.room(`measure-${i % ROOMS}`).join();
  return c;
}

async function settledMemory() {
  await sleep(2000);
  for (let i = 0; i < 3; i++) { globalThis.gc(); await sleep(100); }
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external + m.arrayBuffers };
}

// Warm up: load and run every path once, then let it go.
const warm = [];
for (let i = 0; i < 20; i++) warm.push(await open(-1 - i));
for (const c of warm) c.close();
const before = await settledMemory();

const clients = [];
const t0 = Date.now();
for (let i = 0; i < N; i += AT_ONCE) {
  clients.push(...await Promise.all(Array.from({ length: Math.min(AT_ONCE, N - i) }, (_, k) => open(i + k))));
}
const tookMs = Date.now() - t0;
const after = await settledMemory();
const connected = clients.filter((c) => c.state === 'connected').length;
const per = (k) => Math.round((after[k] - before[k]) / N);
console.log(JSON.stringify({
  mode, connections: N, rooms: ROOMS, connected, openMs: tookMs,
  rssBeforeMB: +(before.rss / 2 ** 20).toFixed(1), rssAfterMB: +(after.rss / 2 ** 20).toFixed(1),
  rssPerConnBytes: per('rss'), heapPerConnBytes: per('heap'), externalPerConnBytes: per('external'),
}));
for (const c of clients) c.close();
clearTimeout(deadline);
process.exit(connected === N ? 0 : 1);
