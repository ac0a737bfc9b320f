#!/usr/bin/env node
// The web client against a scripted protocol v2 server, in headless Chromium.
//
//   node scripts/browser/client-contract.mjs http://127.0.0.1:18080
//
// The page comes from a real chatd (its embedded files); its WebSocket is answered here, by a
// small fake server inside Playwright's WebSocket routing. That lets the test drive what a real
// server does rarely or not yet: history on join and paging with before, offsets, recovery with
// since (recovered true and false), resync, a new epoch, tokens and `unauthorized`, room list
// paging with next, a request cut by a disconnect. The fake follows the README's protocol v2
// section; where it bends the contract (it repeats the message at since.offset in a recovery),
// it does so to check that the client is robust to it.
// Run by server/browser_test.go (TestWebClientInChromium/contract).
import { step, openUser, run, expect, poll, exact } from './lib.mjs';

const baseURL = process.argv[2];
if (!baseURL) {
  console.error('usage: node client-contract.mjs <baseURL>   e.g. http://127.0.0.1:18080');
  process.exit(2);
}

// ---- the fake server ---------------------------------------------------------------------------

class FakeServer {
  constructor() {
    this.conns = [];
    this.log = [];          // requests in: {at, msg}
    this.rooms = new Map(); // roomId -> {epoch, msgs}
    this.holdPublish = false;
    this.listed = Array.from({ length: 120 }, (_, i) => `room-${String(i).padStart(3, '0')}`);
  }

  room(id) {
    if (!this.rooms.has(id)) this.rooms.set(id, { epoch: 'e1', msgs: [] });
    return this.rooms.get(id);
  }

  store(roomId, name, content) {
    const r = this.room(roomId);
    const offset = r.msgs.length ? r.msgs[r.msgs.length - 1].offset + 1 : 1;
    const m = { type: 'message', roomId, offset, content, userId: `u-${name}`, name,
      timestamp: new Date().toISOString() };
    r.msgs.push(m);
    return m;
  }

  get current() { return this.conns.filter((c) => c.open).pop(); }

  attach(ws) {
    const c = { ws, user: null, rooms: new Set(), open: true };
    this.conns.push(c);
    ws.onMessage((raw) => this.handle(c, JSON.parse(String(raw))));
    ws.onClose(() => { c.open = false; });
  }

  send(c, m) { if (c && c.open) c.ws.send(JSON.stringify(m)); }
  ok(c, req, fields = {}) { if (req.id !== undefined) this.send(c, { type: 'ok', id: req.id, ...fields }); }
  fail(c, req, code, message) { this.send(c, { type: 'error', id: req.id, code, message }); }

  requests(type) { return this.log.filter((f) => f.msg.type === type).map((f) => f.msg); }

  handle(c, req) {
    this.log.push({ at: Date.now(), msg: req });
    const h = this[`on_${req.type}`];
    if (h) h.call(this, c, req); else this.fail(c, req, 'unknown_type', 'Unknown type');
  }

  on_hello(c, req) {
    if (req.token === 'bad') {
      this.fail(c, req, 'unauthorized', 'Token expired');
      c.open = false;
      c.ws.close({ code: 1008, reason: 'unauthorized' });
      return;
    }
    if (req.token === 'good') c.user = { userId: 'u-token', name: 'Token User' };
    else if (req.name) c.user = { userId: `u-${req.name}`, name: req.name };
    else return this.fail(c, req, 'missing_field', 'Field "name" is required');
    this.ok(c, req, { ...c.user, node: 'fake' });
  }

  on_join(c, req) {
    if (req.roomId === 'forbidden') return this.fail(c, req, 'forbidden', 'You may not join forbidden');
    if (c.rooms.has(req.roomId) && !req.since) return this.fail(c, req, 'already_in_room', 'Already in room');
    c.rooms.add(req.roomId);
    if (req.roomId === 'legacy') {
      // What chatd answers today, before history: no epoch, no offsets, no recovered.
      return this.ok(c, req, { roomId: req.roomId, memberCount: 1, epoch: '', offset: 0, messages: [] });
    }
    const r = this.room(req.roomId);
    const newest = r.msgs.length ? r.msgs[r.msgs.length - 1].offset : 0;
    const res = { roomId: req.roomId, memberCount: 2, epoch: r.epoch, offset: newest };
    const first = r.msgs.length ? r.msgs[0].offset : newest + 1;
    if (req.since && req.since.epoch === r.epoch && req.since.offset + 1 >= first) {
      // Recovered. The message at since.offset comes again on purpose: the client must skip it.
      res.messages = r.msgs.filter((m) => m.offset >= req.since.offset);
      res.recovered = true;
    } else {
      res.messages = req.history ? r.msgs.slice(-req.history) : [];
      if (req.since) res.recovered = false;
    }
    this.ok(c, req, res);
  }

  on_history(c, req) {
    const list = this.room(req.roomId).msgs.filter((m) => !req.before || m.offset < req.before);
    this.ok(c, req, { messages: list.slice(-(req.limit || 50)) });
  }

  on_presence(c, req) {
    this.ok(c, req, { roomId: req.roomId, memberCount: 2,
      members: [{ userId: c.user.userId, name: c.user.name }, { userId: 'u-zed', name: 'zed' }] });
  }

  on_publish(c, req) {
    if (this.holdPublish) return; // never answered: the reply is lost with the connection
    const m = this.store(req.roomId, c.user.name, req.content);
    this.ok(c, req, { offset: m.offset, timestamp: m.timestamp });
  }

  on_typing() {}

  on_leave(c, req) { c.rooms.delete(req.roomId); this.ok(c, req); }

  on_rooms(c, req) {
    let list = this.listed.filter((id) => id.startsWith(req.prefix || '') && (!req.after || id > req.after));
    const limit = req.limit || 500;
    const next = list.length > limit ? list[limit - 1] : undefined;
    list = list.slice(0, limit);
    this.ok(c, req, { rooms: list.map((id) => ({ roomId: id, name: `Room ${id.slice(5)}`, memberCount: 3,
      createdAt: '2026-01-01T00:00:00.000Z' })), ...(next ? { next } : {}) });
  }

  // push sends a push to the current connection (if it joined the room).
  push(m) {
    const c = this.current;
    if (c && c.rooms.has(m.roomId)) this.send(c, m);
  }

  // drop closes the current connection from the server side.
  drop(code = 1012) {
    const c = this.current;
    c.open = false;
    return c.ws.close({ code, reason: 'restart' });
  }
}

// ---- page helpers ------------------------------------------------------------------------------

const entry = (p, room) => p.locator(`#joinedRooms li[data-room-id="${room}"]`);
const joined = (p, room) => p.locator(`#joinedRooms li[data-room-id="${room}"][data-state="joined"]`).waitFor();
const offsets = (p) => p.locator('#messages li.msg[data-offset]').evaluateAll((lis) => lis.map((li) => Number(li.dataset.offset || 0)));
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function expectOffsets(p, want, what) {
  await poll(async () => same(await offsets(p), want),
    `${what}: offsets ${want[0]}..${want[want.length - 1]} (shown: ${JSON.stringify(await offsets(p)).slice(0, 200)})`);
}

async function joinByForm(p, room) {
  await p.fill('#roomId', room);
  await p.click('#join');
}

async function openRoom(p, room) {
  await entry(p, room).locator('.room-btn').click();
  await p.locator(`#messages > ol.log[data-room-id="${room}"]`).waitFor({ state: 'attached' });
}

await run(async () => {
  const fake = new FakeServer();
  const hist = fake.room('hist');
  for (let i = 1; i <= 120; i++) fake.store('hist', i % 2 ? 'zed' : 'yan', `old message ${i}`);
  expect(hist.msgs.length === 120, 'fake history');

  step('open a page whose WebSocket the fake server answers');
  const U = await openUser('carol');
  const p = U.page;
  await p.routeWebSocket(/\/ws$/, (ws) => {
    expect(ws.protocols().includes('chatd.v2'), `subprotocols offered: ${ws.protocols()}`);
    fake.attach(ws);
  });

  step('a refused token (?token=bad): the reason is shown and the page does not retry');
  await p.goto(`${baseURL}/?token=bad`);
  await p.locator('#loginError[data-code="unauthorized"]').waitFor();
  expect((await p.textContent('#loginError')).includes('Token expired'), 'the refusal does not say why');
  await p.locator('#status[data-state="disconnected"]').waitFor();
  await p.waitForTimeout(1500); // a client that retried would have tried 2-3 times by now
  expect(fake.conns.length === 1, `${fake.conns.length} connections after unauthorized, want 1`);

  step('a good token: hello carries it, the server names the user');
  await p.fill('#token', 'good');
  await p.fill('#username', '');
  await p.click('#connect');
  await p.locator('#status[data-state="connected"]').waitFor();
  await p.locator('#me', { hasText: exact('Token User') }).waitFor();
  const hello = fake.requests('hello').pop();
  expect(hello.token === 'good' && hello.name === undefined, `hello was ${JSON.stringify(hello)}`);

  step('the room list is asked for only when opened, and pages with next');
  expect(fake.requests('rooms').length === 0, 'the room list was asked for before it was opened');
  await p.click('#browseRooms');
  await poll(async () => (await p.locator('#roomList li').count()) === 50, 'the first page of 50 rooms');
  await p.click('#moreRooms');
  await poll(async () => (await p.locator('#roomList li').count()) === 100, 'the second page');
  await p.click('#moreRooms');
  await poll(async () => (await p.locator('#roomList li').count()) === 120, 'the last page');
  await p.locator('#moreRooms').waitFor({ state: 'hidden' });
  const afters = fake.requests('rooms').map((r) => r.after);
  expect(same(afters, [undefined, 'room-049', 'room-099']), `rooms requests had after ${JSON.stringify(afters)}`);
  await p.fill('#roomPrefix', 'room-11');
  await p.click('#roomFilterGo');
  await poll(async () => (await p.locator('#roomList li').count()) === 10, 'the 10 rooms starting with room-11');
  expect(fake.requests('rooms').pop().prefix === 'room-11', 'the filter was not sent as prefix');
  await p.click('#browseRooms');

  step('join with history: the newest 50 messages, in order');
  await joinByForm(p, 'hist');
  await joined(p, 'hist');
  const join1 = fake.requests('join').pop();
  expect(join1.history === 50 && !join1.since, `join was ${JSON.stringify(join1)}`);
  await expectOffsets(p, range(71, 120), 'history on join');
  await p.locator('#messages li.load-older').waitFor();

  step('older pages load above (button, then scrolling up) until offset 1');
  // Clicked where it is: scrolling it into view first would reach the top of the list, which
  // loads the older page by itself (tested next).
  await p.locator('#messages li.load-older button').evaluate((b) => b.click());
  await expectOffsets(p, range(21, 120), 'after one older page');
  await poll(async () => {
    await p.evaluate(() => { document.getElementById('messages').scrollTop = 0; });
    return same(await offsets(p), range(1, 120));
  }, 'scrolling up to load the rest');
  await p.locator('#messages li.load-older').waitFor({ state: 'hidden' });
  const pages = fake.requests('history').map((r) => `${r.before}/${r.limit}`);
  expect(same(pages, ['71/50', '21/50']), `history requests ${JSON.stringify(pages)}`);

  step('live messages follow; an offset seen before is not shown again');
  const m121 = fake.store('hist', 'zed', 'live 121');
  fake.push(m121);
  fake.push(m121);
  fake.push(fake.store('hist', 'zed', 'live 122'));
  await expectOffsets(p, range(1, 122), 'live pushes');

  step('a room on a server without history (epoch "", no offsets): no crash, nothing to page');
  await joinByForm(p, 'legacy');
  await joined(p, 'legacy');
  expect(await p.locator('#messages li.msg').count() === 0, 'messages in an empty room');
  expect(await p.locator('#messages li.load-older').isHidden(), 'older history offered without offsets');
  const plain = { type: 'message', roomId: 'legacy', content: 'same words', userId: 'u-zed', name: 'zed',
    timestamp: new Date().toISOString() };
  fake.push(plain);
  fake.push(plain);
  await poll(async () => (await p.locator('#messages li.msg').count()) === 2, 'both messages without offset');
  await openRoom(p, 'hist');
  fake.push({ ...plain, content: 'while you look elsewhere' });
  await entry(p, 'legacy').and(p.locator('[data-unread="1"]')).waitFor();

  step('typing goes out at most once a second; zed\'s typing shows and his message clears it');
  const before = fake.requests('typing').length;
  const typingFrom = Date.now();
  await p.locator('#message').pressSequentially('typing slowly', { delay: 110 });
  const typingFor = Date.now() - typingFrom;
  // Counted, not timed frame by frame: frames relayed under load can arrive bunched together.
  const typing = fake.requests('typing').slice(before);
  expect(typing.length >= 2 && typing.length <= Math.ceil(typingFor / 1000) + 1,
    `${typing.length} typing requests in ${typingFor} ms of typing, want at most one a second`);
  await p.fill('#message', '');
  fake.push({ type: 'typing', roomId: 'hist', userId: 'u-zed', name: 'zed' });
  await p.locator('#typing', { hasText: exact('zed is typing…') }).waitFor();
  fake.push(fake.store('hist', 'zed', 'done typing'));
  await p.locator('#typing[data-count="0"]').waitFor({ state: 'attached' });

  step('a publish cut by a disconnect fails instead of hanging');
  fake.holdPublish = true;
  await p.fill('#message', 'lost in the cut');
  await p.press('#message', 'Enter');
  await p.locator('#messages li.msg.pending').waitFor();
  fake.holdPublish = false;
  const missed = [fake.store('hist', 'yan', 'missed 1'), fake.store('hist', 'zed', 'missed 2')];
  await fake.drop(1012);
  await p.locator('#messages li.msg.failed', { hasText: 'lost in the cut' }).waitFor();

  step('the page reconnects and re-joins with since: hist recovers (no duplicate), legacy says some may be missing');
  await p.locator('#status[data-state="connected"]').waitFor();
  await joined(p, 'hist');
  await joined(p, 'legacy');
  const rejoins = fake.requests('join').slice(-2);
  const byRoom = Object.fromEntries(rejoins.map((r) => [r.roomId, r]));
  expect(byRoom.hist && same(byRoom.hist.since, { epoch: 'e1', offset: 123 }),
    `hist re-joined with ${JSON.stringify(byRoom.hist)}, want since {e1, 123}`);
  expect(byRoom.legacy && same(byRoom.legacy.since, { epoch: '', offset: 0 }),
    `legacy re-joined with ${JSON.stringify(byRoom.legacy)}`);
  expect(rejoins[0].roomId === 'hist', 'the room on screen was not re-joined first');
  await expectOffsets(p, range(1, missed[1].offset), 'after recovery');
  expect(await p.locator('#messages li.divider').count() === 0, 'a divider after a full recovery');
  await openRoom(p, 'legacy');
  await p.locator('#messages li.divider', { hasText: 'Some messages may be missing' }).waitFor();
  await openRoom(p, 'hist');

  step('resync: re-join in place with since; a new epoch shows the divider and the newest messages');
  hist.epoch = 'e2';
  hist.msgs = [];
  for (let i = 1; i <= 3; i++) fake.store('hist', 'zed', `new life ${i}`);
  fake.push({ type: 'resync', roomId: 'hist', reason: 'test' });
  await p.locator('#messages li.divider').waitFor();
  const resync = fake.requests('join').pop();
  expect(resync.roomId === 'hist' && same(resync.since, { epoch: 'e1', offset: 125 }),
    `resync re-join was ${JSON.stringify(resync)}`);
  fake.push(fake.store('hist', 'zed', 'new life 4'));
  await poll(async () => {
    const tail = await p.locator('#messages li').evaluateAll((lis) => lis.slice(-5).map((li) =>
      li.classList.contains('divider') ? 'divider' : Number(li.dataset.offset || 0)));
    return same(tail, ['divider', 1, 2, 3, 4]);
  }, 'the divider followed by offsets 1..4 of the new epoch');

  step('an error reply is shown (code and message) and the room is not kept');
  await joinByForm(p, 'forbidden');
  await p.locator('#errors .error[data-code="forbidden"]', { hasText: 'You may not join forbidden' }).waitFor();
  await poll(async () => (await entry(p, 'forbidden').count()) === 0, 'the refused room to leave the sidebar');

  step('sign out: back to the form, no rooms, no connection');
  await p.click('#signOut');
  await p.locator('#loginForm').waitFor();
  await p.locator('#status[data-state="disconnected"]').waitFor();
  expect(await p.locator('#joinedRooms li').count() === 0, 'rooms kept after signing out');
  expect(await p.getAttribute('#errors', 'data-total') === '1', 'errors other than the forbidden join were shown');
});
