#!/usr/bin/env node
// End-to-end test of the chatd web client (protocol v2) in a real headless Chromium against a
// real chatd.
//
//   node scripts/browser/chat-e2e.mjs http://127.0.0.1:18080
//
// Run by server/browser_test.go (TestWebClientInChromium), which also restarts the server when
// the script asks (see control() in lib.mjs); run by hand, the restart step is skipped.
// Needs `npm ci` in scripts/browser (playwright-core) and a Chromium (CHROMIUM=/path overrides
// /usr/bin/chromium).
//
// alice (a laptop-sized window) and bob (a phone-sized one) each sit in two rooms, one of them
// shared. Every page's WebSocket goes through a Playwright route that passes frames through
// unchanged and records them, so the test can check what went on the wire (the room list asked
// for only when opened, typing at most once a second, `since` on re-joins) and cut a socket.
// Every wait is event-based or polled: nothing sleeps for a fixed time (typing is typed at a
// human pace, and the typing indicator is given its few seconds to expire).
// Exit 0 on success; non-zero with the failed step and screenshot paths on failure.
import {
  step, openUser, run, expect, poll, exact, control, hasControl, LAPTOP, PHONE,
} from './lib.mjs';

const baseURL = process.argv[2];
if (!baseURL) {
  console.error('usage: node chat-e2e.mjs <baseURL>   e.g. http://127.0.0.1:18080');
  process.exit(2);
}
const MISSING = 'Some messages may be missing';

// tap routes a page's WebSocket through Playwright: frames pass unchanged and are recorded.
// hold queues what the page sends (so a reconnect cannot complete) until release().
async function tap(page) {
  const t = { sent: [], received: [], sockets: [], protocols: [], hold: false, queue: [] };
  const parse = (m) => { try { return JSON.parse(String(m)); } catch { return {}; } };
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    t.sockets.push({ ws, server });
    t.protocols.push(ws.protocols());
    ws.onMessage((m) => {
      t.sent.push({ at: Date.now(), msg: parse(m) });
      if (t.hold) t.queue.push([server, m]); else server.send(m);
    });
    server.onMessage((m) => {
      t.received.push({ at: Date.now(), msg: parse(m) });
      ws.send(m);
    });
  });
  t.cut = async () => {
    const s = t.sockets[t.sockets.length - 1];
    await s.ws.close({ code: 4000, reason: 'cut by the test' }).catch(() => {});
    await s.server.close().catch(() => {});
  };
  t.release = () => {
    t.hold = false;
    for (const [server, m] of t.queue.splice(0)) server.send(m);
  };
  t.sentOf = (type) => t.sent.filter((f) => f.msg.type === type);
  // The reply to the newest request matching pred, once it has come.
  t.replyTo = (pred) => {
    const req = [...t.sent].reverse().find((f) => pred(f.msg));
    if (!req) return null;
    const rep = t.received.find((f) => f.msg.id === req.msg.id && f.at >= req.at);
    return rep ? { req: req.msg, rep: rep.msg } : null;
  };
  return t;
}

// ---- page helpers (ids and data attributes documented at the top of server/web/app.js) ----

const state = (p, s) => p.locator(`#status[data-state="${s}"]`).waitFor();
const entry = (p, room) => p.locator(`#joinedRooms li[data-room-id="${room}"]`);
const joined = (p, room) => p.locator(`#joinedRooms li[data-room-id="${room}"][data-state="joined"]`).waitFor({ state: 'attached' });

// On a phone-sized window the room sidebar is a drawer: open it before using it.
async function sidebar(p) {
  if (await p.locator('#menuToggle').isVisible() &&
      !await p.evaluate(() => document.body.classList.contains('show-sidebar'))) {
    await p.click('#menuToggle');
  }
}

async function joinByForm(p, room, name = '') {
  await sidebar(p);
  await p.fill('#roomId', room);
  await p.fill('#roomName', name);
  await p.click('#join');
  await joined(p, room);
}

async function openRoom(p, room) {
  await sidebar(p);
  await entry(p, room).locator('.room-btn').click();
  await p.locator(`#messages > ol.log[data-room-id="${room}"]`).waitFor({ state: 'attached' });
}

function messages(p, sender, content) {
  return p.locator('#messages .msg')
    .filter({ has: p.locator('.sender', { hasText: exact(sender) }) })
    .filter({ has: p.locator('.content', { hasText: exact(content) }) });
}

// send writes a message with Enter and waits until the server confirmed it.
async function send(p, me, content) {
  await p.fill('#message', content);
  await p.press('#message', 'Enter');
  await messages(p, me, content).and(p.locator('.own:not(.pending)')).waitFor();
  const failed = await messages(p, me, content).and(p.locator('.failed')).count();
  expect(failed === 0, `"${content}" was not sent`);
}

async function memberNames(p) {
  return (await p.locator('#members li.member').allTextContents()).map((s) => s.replace(' (you)', '').trim());
}

async function hasMembers(p, want) {
  await poll(async () => {
    const names = await memberNames(p);
    return want.every((n) => names.includes(n)) && names.length === want.length;
  }, `member list ${JSON.stringify(want)} (has ${JSON.stringify(await memberNames(p))})`);
  await p.locator(`#memberCount[data-count="${want.length}"]`).waitFor({ state: 'attached' });
}

async function typingText(p) { return (await p.textContent('#typing')).trim(); }

// phoneLayout checks what a new user on a 390 px phone hit: the header on one line (the state pill
// whole, "Sign out" unbroken, the name not cut), no shadow of a closed drawer at either edge, the
// composer's placeholder not clipped, and an empty chat that leads to the room drawer.
async function phoneLayout(p) {
  const m = await p.evaluate(() => {
    const box = (id) => document.getElementById(id).getBoundingClientRect();
    const bar = document.querySelector('.topbar').getBoundingClientRect();
    const lineOf = (id) => parseFloat(getComputedStyle(document.getElementById(id)).lineHeight) || 20;
    const me = document.getElementById('me');
    const ta = document.getElementById('message');
    const cs = getComputedStyle(ta);
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    const drawer = (id) => { const st = getComputedStyle(document.getElementById(id)); return `${st.visibility}/${st.boxShadow}`; };
    const inBar = [...document.querySelectorAll('.topbar > *')].filter((e) => !e.hidden && e.getBoundingClientRect().width > 0)
      .every((e) => { const r = e.getBoundingClientRect(); return r.top >= bar.top - 0.5 && r.bottom <= bar.bottom + 0.5; });
    return {
      barHeight: bar.height, inBar,
      status: box('status').height, signOut: box('signOut').height, signOutLine: lineOf('signOut'),
      meCut: me.scrollWidth > me.clientWidth, meText: me.textContent,
      placeholder: ctx.measureText(ta.placeholder).width,
      room: ta.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight),
      sidebar: drawer('sidebar'), members: drawer('membersPanel'),
      empty: !document.getElementById('emptyChat').hidden,
    };
  });
  expect(m.inBar && m.barHeight < 56, `header on more than one line: ${JSON.stringify(m)}`);
  expect(m.status < 30, `the state pill split (height ${m.status})`);
  expect(m.signOut < 2 * m.signOutLine, `"Sign out" broken in two lines (height ${m.signOut})`);
  expect(!m.meCut, `the name "${m.meText}" is cut`);
  expect(m.placeholder <= m.room, `the placeholder is clipped: ${m.placeholder} px of text in ${m.room} px`);
  expect(m.sidebar === 'hidden/none' && m.members === 'hidden/none',
    `a closed drawer still shows (visibility/shadow): sidebar ${m.sidebar}, members ${m.members}`);
  expect(m.empty, 'no empty-chat text without a room');
  await p.locator('#emptyChat #openRooms').click();
  await p.locator('#sidebar #roomId').waitFor(); // visible: the drawer opened
  await p.click('#scrim', { position: { x: 370, y: 400 } });
  await p.locator('#sidebar').waitFor({ state: 'hidden' });
}

// hues returns, for each sender name shown, the colours (--hue) and user ids of its messages.
async function hues(p) {
  return p.locator('#messages li.msg').evaluateAll((lis) => {
    const out = {};
    for (const li of lis) {
      const s = li.querySelector('.sender');
      const o = out[s.textContent] || (out[s.textContent] = { hues: [], ids: [] });
      const h = s.style.getPropertyValue('--hue');
      if (!o.hues.includes(h)) o.hues.push(h);
      if (!o.ids.includes(li.dataset.userId)) o.ids.push(li.dataset.userId);
    }
    return out;
  });
}

async function noErrors(p, who) {
  const total = await p.getAttribute('#errors', 'data-total');
  const shown = await p.locator('#errors .error').allTextContents();
  expect(!total, `${who} showed ${total} error(s): ${JSON.stringify(shown)}`);
}

await run(async () => {
  const tag = Math.random().toString(36).slice(2, 8);
  const shared = `e2e-${tag}-shared`;
  const aRoom = `e2e-${tag}-alice`;
  const bRoom = `e2e-${tag}-bob`;
  const sharedName = 'Shared Room';

  step('launch alice (laptop-sized) and bob (phone-sized) in two Chromium profiles');
  const A = await openUser('alice', LAPTOP);
  const B = await openUser('bob', PHONE);
  const a = A.page;
  const b = B.page;
  const ta = await tap(a);
  const tb = await tap(b);

  step('alice signs in with the form, bob with ?name=bob; both connect with chatd.v2');
  await a.goto(baseURL);
  await a.fill('#username', 'alice');
  await a.click('#connect');
  await b.goto(`${baseURL}/?name=bob`);
  await Promise.all([state(a, 'connected'), state(b, 'connected')]);
  await a.locator('#me', { hasText: exact('alice') }).waitFor();
  await b.locator('#me', { hasText: exact('bob') }).waitFor();
  expect(ta.protocols[0].includes('chatd.v2'), `subprotocols offered: ${JSON.stringify(ta.protocols[0])}`);
  expect(ta.sent[0].msg.type === 'hello' && ta.sent[0].msg.name === 'alice',
    `first frame was ${JSON.stringify(ta.sent[0].msg)}, want hello`);

  step('a new user on a 390 px phone: one-line header, no drawer shadows, placeholder whole, the way to the rooms');
  const N = await openUser('newcomer', PHONE);
  await N.page.goto(`${baseURL}/?name=${encodeURIComponent('Alexandra Longname')}`);
  await state(N.page, 'connected');
  await phoneLayout(N.page);
  await N.context.close();

  step(`alice joins ${shared} ("${sharedName}") and ${aRoom}`);
  await joinByForm(a, shared, sharedName);
  await joinByForm(a, aRoom);
  const aJoin = ta.replyTo((m) => m.type === 'join' && m.roomId === shared);
  expect(aJoin && aJoin.req.history === 50 && !aJoin.req.since && aJoin.req.roomName === sharedName,
    `alice's join was ${JSON.stringify(aJoin && aJoin.req)}, want history 50, roomName, no since`);
  const serverHasHistory = aJoin.rep.epoch !== '';
  console.log(`  server history: ${serverHasHistory ? `yes (epoch ${aJoin.rep.epoch})` : 'no (epoch "")'}`);

  step('bob opens the room list (asked for only now), filters it and joins the shared room from it');
  expect(tb.sentOf('rooms').length === 0, 'bob asked for the room list before opening it');
  await sidebar(b);
  await b.click('#browseRooms');
  await b.fill('#roomPrefix', `e2e-${tag}`);
  await b.click('#roomFilterGo');
  const pick = b.locator(`#roomList li[data-room-id="${shared}"]`);
  await pick.waitFor();
  await poll(async () => (await b.locator('#roomList li').count()) === 2,
    `the filtered list to show exactly ${shared} and ${aRoom}`);
  await b.locator(`#roomList li[data-room-id="${aRoom}"]`).waitFor();
  expect((await pick.textContent()).includes(sharedName), `list entry "${await pick.textContent()}" lacks "${sharedName}"`);
  expect(tb.sentOf('rooms').some((f) => f.msg.prefix === `e2e-${tag}`), 'no rooms request with the prefix');
  await pick.locator('button').click();
  await joined(b, shared);
  await b.locator('#currentRoom', { hasText: exact(sharedName) }).waitFor();

  step(`bob joins ${bRoom} with the form`);
  await joinByForm(b, bRoom);
  await b.locator('#currentRoom', { hasText: exact(bRoom) }).waitFor();

  step('alice opens the shared room: a join notice for bob, both in the member list');
  await openRoom(a, shared);
  await a.locator('#messages li.notice[data-event="joined"][data-name="bob"]').waitFor();
  await hasMembers(a, ['alice', 'bob']);

  const helloA = `hello from alice <b>${tag}</b> & 👋`; // markup must show as text, not HTML
  step('alice writes in the shared room; bob, looking at his own room, gets an unread count');
  await send(a, 'alice', helloA);
  await entry(b, shared).and(b.locator('[data-unread="1"]')).waitFor({ state: 'attached' });
  expect(await b.locator('#messages .msg').count() === 0, `a message showed up in bob's ${bRoom}`);

  step('bob opens the shared room: the message is there as text, the count is gone, both members listed');
  await openRoom(b, shared);
  await messages(b, 'alice', helloA).waitFor();
  expect(await b.locator('#messages .msg b').count() === 0, 'message content was rendered as HTML');
  await entry(b, shared).and(b.locator('[data-unread="0"]')).waitFor({ state: 'attached' });
  await hasMembers(b, ['alice', 'bob']);

  const helloB = `hi alice, bob here ${tag}`;
  step('bob answers with the Send button; alice sees it; each shows their own message once');
  await b.fill('#message', helloB);
  await b.click('#send');
  await messages(a, 'bob', helloB).waitFor();
  expect(await messages(a, 'alice', helloA).count() === 1, 'alice shows her message more than once');
  expect(await messages(b, 'bob', helloB).count() === 1, 'bob shows his message more than once');

  step('bob reloads the page: same sign-in, both rooms re-joined with since, the shared room shown where it was');
  const beforeReload = tb.sent.length;
  await b.reload();
  await state(b, 'connected');
  await Promise.all([joined(b, shared), joined(b, bRoom)]);
  await b.locator('#currentRoom', { hasText: exact(sharedName) }).waitFor();
  const reJoins = tb.sent.slice(beforeReload).filter((f) => f.msg.type === 'join');
  const sharedJoin = reJoins.find((f) => f.msg.roomId === shared);
  expect(reJoins.length === 2 && sharedJoin && sharedJoin.msg.since && sharedJoin.msg.since.offset === 2,
    `bob's joins after the reload: ${JSON.stringify(reJoins.map((f) => f.msg))}, want both rooms, the shared one since offset 2`);
  expect(tb.sent.slice(beforeReload).find((f) => f.msg.type === 'hello').msg.name === 'bob', 'the reload signed in as someone else');
  await messages(b, 'alice', helloA).waitFor();
  await messages(b, 'bob', helloB).and(b.locator('.own')).waitFor();
  expect(await b.locator('#messages li.divider').count() === 0, 'a divider after a reload that recovered everything');
  await entry(b, shared).and(b.locator('[data-unread="0"]')).waitFor({ state: 'attached' });

  const aloneMsg = `alice alone ${tag}`;
  step(`alice writes in ${aRoom}; it reaches nobody else`);
  await openRoom(a, aRoom);
  await send(a, 'alice', aloneMsg);
  expect(await messages(a, 'bob', helloB).count() === 0, `bob's message shows in ${aRoom}`);

  step('alice types in the shared room: bob sees "alice is typing…" and it expires');
  await openRoom(a, shared);
  const typingBefore = ta.sentOf('typing').length;
  const typingFrom = Date.now();
  await a.locator('#message').pressSequentially('typing but not sending', { delay: 100 });
  const typingFor = Date.now() - typingFrom;
  await poll(async () => (await typingText(b)) === 'alice is typing…', 'bob to see "alice is typing…"');
  const typed = ta.sentOf('typing').slice(typingBefore);
  expect(typed.length >= 2 && typed.length <= Math.ceil(typingFor / 1000) + 1,
    `${typed.length} typing requests in ${typingFor} ms of typing, want at most one a second`);
  expect(typed.every((f) => f.msg.roomId === shared && f.msg.id === undefined), 'typing must carry roomId and no id');
  await poll(async () => (await typingText(b)) === '', 'the typing indicator to expire', 9000);
  await a.fill('#message', '');

  step('bob leaves the shared room: alice sees him go; he joins it again with the form');
  // The reload may have shown alice a left and a joined notice for bob already (whether it does
  // depends on which reaches the server first: the old page's close or the new page's join), so
  // wait for one more left notice than there was.
  const bobLeft = a.locator('#messages li.notice[data-event="left"][data-name="bob"]');
  const leftBefore = await bobLeft.count();
  await b.click('#leave');
  await poll(async () => (await bobLeft.count()) === leftBefore + 1, 'alice to see bob leave');
  await hasMembers(a, ['alice']);
  expect(await entry(b, shared).count() === 0, 'the shared room is still in bob\'s sidebar');
  await joinByForm(b, shared);
  await hasMembers(a, ['alice', 'bob']);

  if (hasControl) {
    step('the server stops: both pages say reconnecting, their rooms go offline, sending is off');
    await control('stop');
    await Promise.all([state(a, 'reconnecting'), state(b, 'reconnecting')]);
    await entry(a, shared).and(a.locator('[data-state="offline"]')).waitFor({ state: 'attached' });
    expect(await a.isDisabled('#message'), 'alice can type while offline');

    step('the server starts on the same port: both reconnect and re-join every room with since');
    const sentBefore = ta.sent.length;
    await control('start');
    await Promise.all([state(a, 'connected'), state(b, 'connected')]);
    await Promise.all([joined(a, shared), joined(a, aRoom), joined(b, shared), joined(b, bRoom)]);
    const rejoins = ta.sent.slice(sentBefore).filter((f) => f.msg.type === 'join');
    expect(rejoins.length === 2 && rejoins.every((f) => f.msg.since && f.msg.history === 50),
      `alice's re-joins: ${JSON.stringify(rejoins.map((f) => f.msg))}, want both rooms with since`);
    // A restarted server cannot vouch for what was said meanwhile, with or without history.
    await a.locator('#messages li.divider', { hasText: MISSING }).waitFor();
    await b.locator('#messages li.divider', { hasText: MISSING }).waitFor();
    await messages(a, 'bob', helloB).waitFor(); // the old messages stay above the divider
    await hasMembers(a, ['alice', 'bob']);

    step('both chat again in the shared room');
    const againA = `alice after the restart ${tag}`;
    const againB = `bob after the restart ${tag}`;
    await send(a, 'alice', againA);
    await messages(b, 'alice', againA).waitFor();
    await send(b, 'bob', againB);
    await messages(a, 'bob', againB).waitFor();
  } else {
    step('no control channel (not run by the Go test): skipping the server restart');
  }

  step("bob's socket is cut and held; alice sends three messages meanwhile");
  tb.hold = true;
  await tb.cut();
  await state(b, 'reconnecting');
  const away = [1, 2, 3].map((i) => `while bob was away ${i} ${tag}`);
  for (const m of away) await send(a, 'alice', m);
  const dividersBefore = await b.locator('#messages li.divider').count();

  step('bob reconnects and re-joins with since: he sees all three in order, or is told some may be missing');
  tb.release();
  await state(b, 'connected');
  await joined(b, shared);
  const rejoin = await poll(() => tb.replyTo((m) => m.type === 'join' && m.roomId === shared), 'bob\'s re-join reply');
  expect(rejoin.req.since, `bob re-joined without since: ${JSON.stringify(rejoin.req)}`);
  if (rejoin.rep.recovered === true) {
    for (const m of away) await messages(b, 'alice', m).waitFor();
    const shown = (await b.locator('#messages .msg .content').allTextContents()).filter((c) => away.includes(c));
    expect(JSON.stringify(shown) === JSON.stringify(away), `recovered messages shown as ${JSON.stringify(shown)}`);
    expect(await b.locator('#messages li.divider').count() === dividersBefore, 'a divider after a full recovery');
  } else {
    expect(!serverHasHistory, `the server keeps history (epoch ${aJoin.rep.epoch}) but did not recover: ${JSON.stringify(rejoin.rep)}`);
    await poll(async () => (await b.locator('#messages li.divider').count()) === dividersBefore + 1,
      'a "some messages may be missing" divider');
    console.log('  (server without history: no recovery, the divider says so)');
  }

  if (hasControl) {
    step('colours: without tokens a name keeps its colour across connections (user ids change)');
    const seen = await hues(b);
    expect(seen.alice && seen.alice.ids.length >= 2 && seen.alice.hues.length === 1,
      `alice's messages in bob's page: ${JSON.stringify(seen.alice)}, want one colour for several user ids`);
    expect(seen.bob && seen.alice.hues[0] !== seen.bob.hues[0], `alice and bob share a colour: ${JSON.stringify(seen)}`);
  }

  step("final checks: alice's own room stayed hers, no error was shown");
  expect(!tb.received.some((f) => f.msg.content === aloneMsg), `bob received "${aloneMsg}"`);
  await noErrors(a, 'alice');
  await noErrors(b, 'bob');
});
