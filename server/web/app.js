// chatd web client: plain JS modules, no build step, no network resources besides our own /ws.
// Wire protocol: README.md, section "Protocol v2 (chatd's own)".
// All user-provided text goes through textContent, never innerHTML.
//
// Scripting contract, kept stable for scripts/browser/*.mjs and for other tests that drive this
// page (through a proxy, say). Prefer data-* attributes over visible text, which may change.
//   /?name=alice[&token=JWT][&room=a,b]  signs in at once (and joins the rooms); without it the
//                                  sign-in form: #username, #token, #connect (#loginForm)
//   #loginError                    why the server refused hello (e.g. unauthorized); no retry then
//   #status[data-state]            disconnected | connecting | connected | reconnecting
//   #me, #signOut                  the signed-in name; signing out forgets the rooms
//   #roomId, #roomName, #join      join a room (#joinForm); joining a joined room switches to it
//   #joinedRooms li[data-room-id]  one per room: data-state joining|joined|offline|error and
//                                  data-unread; its button.room-btn shows the room (aria-current)
//   #browseRooms                   opens #roomBrowser and only then asks the server for rooms;
//                                  #roomPrefix + #roomFilterGo filter, #moreRooms pages,
//                                  #roomList li[data-room-id] button joins
//   #currentRoom, #memberCount (the number; also data-count), #leave
//   #members li[data-user-id]      the current room's members
//   #messages > ol.log[data-room-id]  the current room only: li.msg[data-user-id][data-offset]
//                                  (.sender, .content, .time; .own, .pending, .failed),
//                                  li.notice[data-event=joined|left], li.divider ("Some messages
//                                  may be missing"), li.load-older button
//   #typing[data-count]            "alice is typing…"
//   #message, #send                the composer (Enter sends, Shift+Enter is a new line)
//   #errors .error[data-code]      error toasts; #errors[data-total] counts every one shown
//   #menuToggle, #membersToggle    open the sidebar / member list on a narrow screen
import { Connection, defaultURL } from './conn.js';
import { Room, el, myIds, HISTORY_PAGE, MISSING_TEXT } from './room.js';

const $ = (id) => document.getElementById(id);
const ui = {};
for (const id of ['status', 'me', 'signOut', 'menuToggle', 'loginForm', 'username', 'token',
  'loginError', 'connect', 'sidebar', 'joinedRooms', 'noRooms', 'joinForm', 'roomId', 'roomName',
  'browseRooms', 'roomBrowser', 'roomFilter', 'roomPrefix', 'roomListStatus', 'roomList',
  'moreRooms', 'currentRoom', 'memberCount', 'memberCountBox', 'memberCountUnit', 'membersToggle',
  'leave', 'emptyChat', 'messages', 'typing', 'sendForm', 'message', 'send', 'members', 'errors',
  'scrim']) ui[id] = $(id);

const TYPING_SEND_EVERY_MS = 1000; // tell the room at most this often while the user types
const TYPING_SHOW_MS = 5000;       // someone else's "is typing" lasts this long without news
const ERROR_SHOW_MS = 8000;
const MAX_ERRORS_SHOWN = 4;
const ROOM_LIST_PAGE = 50;
const RATE_RETRY_MS = 1100;        // rate limits refill per second (requests, the room list)
const MAX_RATE_RETRIES = 5;
// Larger messages would make the server close the socket (-max-message-bytes, 64 KiB).
const MAX_CONTENT_BYTES = 60000;
const NAME_KEY = 'chatd.name';

const rooms = new Map(); // roomId -> Room, in sidebar order
let active = null;       // the Room on screen
let me = null;           // {userId, name} of the current connection
let rejoinRun = 0;       // each connection's re-join loop supersedes the previous one
let errorsShown = 0;
const browse = { prefix: '', next: null, loading: false };

const conn = new Connection(defaultURL(), { onState, onReady, onPush, onFatal });

// ---- connection events ----------------------------------------------------------------------

// Lower case, as the v1 page had it: scripts that waited for the text "connected" keep working.
const STATE_TEXT = { disconnected: 'offline', connecting: 'connecting…', connected: 'connected',
  reconnecting: 'reconnecting…' };

function onState(state, detail) {
  ui.status.dataset.state = state;
  ui.status.textContent = STATE_TEXT[state] || state;
  ui.status.title = detail.delay ? `next attempt in ${Math.ceil(detail.delay / 1000)} s` : '';
  if (state === 'connected') return;
  rejoinRun++; // stop a re-join loop of the lost connection
  for (const room of rooms.values()) { room.goOffline(); renderEntry(room); }
  renderRoom();
}

function onReady(hello) {
  me = { userId: hello.userId, name: hello.name };
  myIds.add(hello.userId);
  if (conn.creds && conn.creds.name) {
    try { localStorage.setItem(NAME_KEY, conn.creds.name); } catch (e) { /* private mode */ }
  }
  document.body.classList.replace('signed-out', 'signed-in');
  ui.me.textContent = me.name;
  ui.me.hidden = ui.signOut.hidden = false;
  rejoinAll();
}

// A hello that retrying cannot fix (a bad token, a bad name): back to the form, with the reason.
function onFatal(err) {
  document.body.classList.replace('signed-in', 'signed-out');
  ui.loginError.textContent = err.code === 'unauthorized'
    ? `The server did not accept your token: ${err.message || 'unauthorized'}`
    : `The server refused to sign you in: ${err.message || err.code}`;
  ui.loginError.dataset.code = err.code || '';
  ui.loginError.hidden = false;
  (err.code === 'unauthorized' ? ui.token : ui.username).focus();
}

function onPush(m) {
  const room = typeof m.roomId === 'string' ? rooms.get(m.roomId) : undefined;
  switch (m.type) {
    case 'message': if (room) onMessage(room, m); break;
    case 'joined': if (room) onMember(room, m, true); break;
    case 'left': if (room) onMember(room, m, false); break;
    case 'typing': if (room && !myIds.has(m.userId)) onTyping(room, m); break;
    case 'resync': if (room) recover(room); break;
    case 'error': toast(m); break; // an error of a request sent without id (typing)
    default: // unknown pushes are ignored: the server may add types later
  }
}

// ---- joining ----------------------------------------------------------------------------------

// After every (re)connect: join every room again, the one on screen first. One at a time, so
// that a user in many rooms stays under the server's request rate.
async function rejoinAll() {
  const run = ++rejoinRun;
  const list = [...rooms.values()].sort((a, b) => (b === active) - (a === active));
  for (const room of list) {
    if (run !== rejoinRun) return;
    if (rooms.get(room.id) === room) await joinRoom(room);
  }
}

// joinRoom joins (or re-joins, with `since`) one room. Resolves true when joined.
async function joinRoom(room) {
  if (room.joinPending) return false;
  room.joinPending = true;
  room.state = 'joining';
  renderEntry(room);
  const rejoin = room.epoch !== null;
  try {
    onJoined(room, await callPatiently(room.joinRequest()), rejoin);
    return true;
  } catch (err) {
    if (err.code !== 'disconnected') joinFailed(room, err);
    return false;
  } finally {
    room.joinPending = false;
  }
}

function onJoined(room, ok, rejoin) {
  if (rooms.get(room.id) !== room) {
    // Left while the join was on its way: leave on the server too.
    conn.call({ type: 'leave', roomId: room.id }).catch(() => {});
    return;
  }
  room.state = 'joined';
  const added = pinned(room, () => room.applyJoin(ok, rejoin));
  // What a re-join recovered is news; the history shown on a first join is not.
  if (rejoin && room !== active) room.unread += added;
  renderEntry(room);
  renderTitle();
  if (room === active) {
    requestPresence(room);
    renderRoom();
  }
}

function joinFailed(room, err) {
  toast(err);
  if (!room.everJoined) { removeRoom(room); return; }
  room.state = 'error';
  pinned(room, () => room.addNotice(`Could not re-join: ${err.message || err.code}`, 'rejoinFailed'));
  renderEntry(room);
  if (room === active) renderRoom();
}

// A resync push: the server cannot vouch for the room's continuity, so join it again in place
// with `since`; the server answers with what we missed or with recovered: false.
async function recover(room) {
  if (room.state !== 'joined' || room.joinPending) return;
  room.joinPending = true;
  try {
    const ok = await conn.call(room.joinRequest());
    pinned(room, () => room.applyJoin(ok, true));
  } catch (err) {
    if (err.code === 'already_in_room') pinned(room, () => room.addDivider(MISSING_TEXT));
    else if (err.code !== 'disconnected') toast(err);
  } finally {
    room.joinPending = false;
  }
}

// openRoom shows a room, joining it first if needed (at once, or on the next connect).
function openRoom(id, name) {
  let room = rooms.get(id);
  if (!room) {
    room = new Room(id, name);
    rooms.set(id, room);
    if (conn.isReady) joinRoom(room); else room.state = 'offline';
    renderEntry(room);
  }
  showRoom(room);
}

function leaveRoom(room) {
  const wasJoined = room.state === 'joined';
  removeRoom(room);
  if (!wasJoined || !conn.isReady) return; // a pending join leaves when it lands (onJoined)
  conn.call({ type: 'leave', roomId: room.id }).catch((err) => {
    if (err.code !== 'disconnected' && err.code !== 'not_in_room') toast(err);
  });
}

function removeRoom(room) {
  rooms.delete(room.id);
  room.goOffline();
  if (room.entry) room.entry.remove();
  if (active === room) showRoom(rooms.values().next().value || null);
  renderSidebar();
}

// ---- messages -------------------------------------------------------------------------------

function onMessage(room, m) {
  let li = null;
  pinned(room, () => { li = room.push(m); });
  if (!li) return;
  if (room !== active) {
    room.unread++;
    renderEntry(room);
    renderTitle();
  } else {
    renderTyping();
  }
}

function sendMessage() {
  const content = ui.message.value.trim();
  const room = active;
  if (!content || !room || room.state !== 'joined' || !conn.isReady) return;
  if (new TextEncoder().encode(content).length > MAX_CONTENT_BYTES) {
    toast({ code: 'too_long', message: `Message too long (at most ${MAX_CONTENT_BYTES} bytes)` });
    return;
  }
  ui.message.value = '';
  autosize();
  // The server does not echo our message back to us: show it now, confirm it with the reply.
  const li = room.appendOwn(content, me);
  scrollToBottom();
  conn.call({ type: 'publish', roomId: room.id, content })
    .then((ok) => room.confirmOwn(li, ok))
    .catch((err) => {
      room.failOwn(li, err);
      if (err.code !== 'disconnected') toast(err);
    });
}

// Scrolling to the top of a room (or its button) loads the page of history before it.
async function loadOlder(room) {
  if (!room || !room.oldest || room.loadingOlder || room.state !== 'joined' || !conn.isReady) return;
  if (room.olderRetryAt && Date.now() < room.olderRetryAt) return;
  room.loadingOlder = true;
  room.olderButton.textContent = 'Loading…';
  try {
    const ok = await conn.call({ type: 'history', roomId: room.id, before: room.oldest.offset,
      limit: HISTORY_PAGE });
    const msgs = Array.isArray(ok.messages) ? ok.messages : [];
    if (room === active) {
      // Keep what the user is reading in place while the page grows above it.
      const box = ui.messages;
      const fromBottom = box.scrollHeight - box.scrollTop;
      room.prependOlder(msgs);
      box.scrollTop = box.scrollHeight - fromBottom;
    } else {
      room.prependOlder(msgs);
    }
  } catch (err) {
    if (err.code === 'disconnected') return;
    toast(err);
    if (err.code === 'rate_limited' || err.code === 'timeout') {
      room.olderRetryAt = Date.now() + 2000;
    } else {
      room.oldest = null; // e.g. a server without history: stop offering it
      room.olderItem.hidden = true;
    }
  } finally {
    room.loadingOlder = false;
    room.olderButton.textContent = 'Load older messages';
  }
}

// pinned runs fn, which adds to room's log, and keeps the view at the bottom if it was there.
function pinned(room, fn) {
  if (room !== active) return fn();
  const box = ui.messages;
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  const r = fn();
  if (atBottom) box.scrollTop = box.scrollHeight;
  return r;
}

function scrollToBottom() { ui.messages.scrollTop = ui.messages.scrollHeight; }

// ---- members and typing ---------------------------------------------------------------------

function requestPresence(room) {
  if (room.presencePending || room.state !== 'joined') return;
  room.presencePending = true;
  conn.call({ type: 'presence', roomId: room.id })
    .then((ok) => {
      room.setMembers(Array.isArray(ok.members) ? ok.members : [], ok.memberCount, ok.truncated);
      if (room === active) renderRoom();
    })
    .catch((err) => { if (err.code !== 'disconnected') toast(err); })
    .finally(() => { room.presencePending = false; });
}

function onMember(room, m, joined) {
  if (joined) room.memberJoined(m); else room.memberLeft(m);
  pinned(room, () => room.addNotice(`${m.name} ${joined ? 'joined' : 'left'}`, joined ? 'joined' : 'left', m));
  if (room === active) renderRoom();
}

function onTyping(room, m) {
  room.stopTyping(m.userId);
  const timer = setTimeout(() => {
    room.typers.delete(m.userId);
    if (room === active) renderTyping();
  }, TYPING_SHOW_MS);
  room.typers.set(m.userId, { name: m.name, timer });
  if (room === active) renderTyping();
}

// Tell the room we are typing, at most once per TYPING_SEND_EVERY_MS (sent without id).
function typed() {
  autosize();
  const room = active;
  if (!room || room.state !== 'joined' || !ui.message.value.trim()) return;
  const now = Date.now();
  if (now - room.lastTypingSent < TYPING_SEND_EVERY_MS) return;
  if (conn.notify({ type: 'typing', roomId: room.id })) room.lastTypingSent = now;
}

// ---- rendering ------------------------------------------------------------------------------

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function showRoom(room) {
  if (active) {
    const box = ui.messages;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    active.scrollTop = atBottom ? null : box.scrollTop;
  }
  active = room;
  // A switched-in room is not news: keep screen readers from reading its whole log out.
  ui.messages.setAttribute('aria-live', 'off');
  setTimeout(() => ui.messages.setAttribute('aria-live', 'polite'), 100);
  clear(ui.messages);
  if (room) {
    ui.messages.appendChild(room.log);
    room.unread = 0;
    ui.messages.scrollTop = room.scrollTop === null ? ui.messages.scrollHeight : room.scrollTop;
    if (room.state === 'joined' && !room.presenceFresh) requestPresence(room);
  }
  closeDrawers();
  renderSidebar();
  renderRoom();
}

function renderSidebar() {
  for (const room of rooms.values()) renderEntry(room);
  ui.noRooms.hidden = rooms.size > 0;
  renderTitle();
}

// renderEntry creates or updates a room's item in the sidebar.
function renderEntry(room) {
  if (!room.entry) {
    const li = el('li', 'room-entry');
    li.dataset.roomId = room.id;
    const btn = el('button', 'room-btn');
    btn.type = 'button';
    btn.appendChild(el('span', 'room-name', room.title));
    btn.appendChild(el('span', 'unread'));
    btn.addEventListener('click', () => showRoom(room));
    li.appendChild(btn);
    room.entry = li;
    room.entryButton = btn;
    room.entryUnread = btn.lastChild;
    if (rooms.get(room.id) === room) ui.joinedRooms.appendChild(li);
    ui.noRooms.hidden = true;
  }
  const li = room.entry;
  li.dataset.state = room.state;
  li.dataset.unread = String(room.unread);
  room.entryButton.title = `${room.id} (${room.state})`;
  if (room === active) room.entryButton.setAttribute('aria-current', 'true');
  else room.entryButton.removeAttribute('aria-current');
  room.entryUnread.textContent = room.unread ? String(room.unread) : '';
  room.entryUnread.hidden = !room.unread;
  room.entryButton.setAttribute('aria-label',
    room.title + (room.unread ? `, ${room.unread} unread` : '') + (room.state === 'joined' ? '' : `, ${room.state}`));
}

// renderRoom updates everything about the room on screen but its messages.
function renderRoom() {
  const room = active;
  ui.currentRoom.textContent = room ? room.title : 'No room selected';
  ui.currentRoom.title = room ? room.id : '';
  ui.emptyChat.hidden = !!room;
  ui.messages.hidden = !room;
  const n = room ? room.memberCount : 0;
  ui.memberCount.dataset.count = String(n);
  ui.memberCount.textContent = String(n); // the number alone, as on the v1 page
  ui.memberCountUnit.textContent = n === 1 ? 'member' : 'members';
  ui.memberCountBox.hidden = !room;
  ui.leave.disabled = !room;
  const canSend = !!room && room.state === 'joined' && conn.isReady;
  ui.message.disabled = ui.send.disabled = !canSend;
  renderMembers();
  renderTyping();
}

function renderMembers() {
  clear(ui.members);
  const room = active;
  if (!room) return;
  const list = [...room.members].sort((a, b) => a[1].localeCompare(b[1]));
  for (const [userId, name] of list) {
    const li = el('li', 'member', name);
    li.dataset.userId = userId;
    if (myIds.has(userId)) { li.classList.add('self'); li.appendChild(el('span', 'hint', ' (you)')); }
    ui.members.appendChild(li);
  }
  const more = room.memberCount - room.members.size;
  if (room.membersTruncated && more > 0) ui.members.appendChild(el('li', 'hint', `and ${more} more`));
}

function renderTyping() {
  const names = active ? [...active.typers.values()].map((t) => t.name) : [];
  ui.typing.dataset.count = String(names.length);
  ui.typing.textContent = names.length === 0 ? ''
    : names.length === 1 ? `${names[0]} is typing…`
      : names.length === 2 ? `${names[0]} and ${names[1]} are typing…`
        : 'Several people are typing…';
}

function renderTitle() {
  let n = 0;
  for (const r of rooms.values()) n += r.unread;
  document.title = n ? `(${n}) chatd` : 'chatd';
}

// Errors are shown for a while in a corner, never in a modal: the user keeps chatting.
function toast(err) {
  const div = el('div', 'error');
  div.setAttribute('role', 'status');
  div.dataset.code = err.code || '';
  div.appendChild(el('span', 'error-text', err.message || 'Error'));
  if (err.code) div.appendChild(el('code', 'error-code', err.code));
  const close = el('button', 'icon-btn', '×');
  close.type = 'button';
  close.setAttribute('aria-label', 'Dismiss');
  close.addEventListener('click', () => div.remove());
  div.appendChild(close);
  ui.errors.appendChild(div);
  ui.errors.dataset.total = String(++errorsShown);
  setTimeout(() => div.remove(), ERROR_SHOW_MS);
  while (ui.errors.childElementCount > MAX_ERRORS_SHOWN) ui.errors.firstChild.remove();
}

// The composer grows with its text, up to a few lines (CSS caps it).
function autosize() {
  ui.message.style.height = 'auto';
  ui.message.style.height = ui.message.scrollHeight + 'px';
}

// ---- the room list (asked for only when the user opens it) ----------------------------------

async function loadRoomList(fresh) {
  if (browse.loading) return;
  if (!conn.isReady) { ui.roomListStatus.textContent = 'Not connected'; return; }
  if (fresh) { browse.prefix = ui.roomPrefix.value.trim(); browse.next = null; }
  const req = { type: 'rooms', limit: ROOM_LIST_PAGE };
  if (browse.prefix) req.prefix = browse.prefix;
  if (!fresh && browse.next) req.after = browse.next;
  browse.loading = true;
  ui.roomListStatus.textContent = 'Loading…';
  try {
    const ok = await callPatiently(req);
    if (fresh) clear(ui.roomList);
    for (const r of Array.isArray(ok.rooms) ? ok.rooms : []) ui.roomList.appendChild(roomListItem(r));
    browse.next = typeof ok.next === 'string' && ok.next ? ok.next : null;
    ui.moreRooms.hidden = !browse.next;
    const n = ui.roomList.childElementCount;
    ui.roomListStatus.textContent = n ? `${n}${browse.next ? '+' : ''} ${n === 1 ? 'room' : 'rooms'}`
      : browse.prefix ? 'No room id starts with that' : 'No rooms yet';
  } catch (err) {
    ui.roomListStatus.textContent = `${err.message || 'Error'} (${err.code})`;
  } finally {
    browse.loading = false;
  }
}

// callPatiently retries a request the server refused as too frequent (the room list may be asked
// for about once a second), a few times, a second apart.
// A retry never crosses a reconnect: the new connection's own re-join covers it.
async function callPatiently(req) {
  const session = conn.session;
  for (let tries = 0; ; tries++) {
    try {
      return await conn.call(req);
    } catch (err) {
      if (err.code !== 'rate_limited' || tries >= MAX_RATE_RETRIES) throw err;
      await sleep(RATE_RETRY_MS);
      if (conn.session !== session || !conn.isReady) throw { code: 'disconnected', message: 'Connection lost' };
    }
  }
}

function roomListItem(r) {
  const li = el('li', 'room-pick');
  li.dataset.roomId = r.roomId;
  const btn = el('button');
  btn.type = 'button';
  btn.appendChild(el('span', 'room-name', r.name || r.roomId));
  if (r.name && r.name !== r.roomId) btn.appendChild(el('span', 'room-id', r.roomId));
  const n = Number(r.memberCount) || 0;
  btn.appendChild(el('span', 'count', `${n} ${n === 1 ? 'member' : 'members'}`));
  btn.title = `Join ${r.roomId}` + (r.createdAt ? `, created ${r.createdAt}` : '');
  btn.addEventListener('click', () => openRoom(r.roomId, r.name && r.name !== r.roomId ? r.name : ''));
  li.appendChild(btn);
  return li;
}

function toggleBrowser() {
  const open = ui.roomBrowser.hidden;
  ui.roomBrowser.hidden = !open;
  ui.browseRooms.setAttribute('aria-expanded', String(open));
  if (open) loadRoomList(true);
}

// ---- narrow screens: the sidebar and the member list are drawers ----------------------------

function toggleDrawer(name, button) {
  const open = !document.body.classList.contains(name);
  closeDrawers();
  document.body.classList.toggle(name, open);
  button.setAttribute('aria-expanded', String(open));
}

function closeDrawers() {
  document.body.classList.remove('show-sidebar', 'show-members');
  ui.menuToggle.setAttribute('aria-expanded', 'false');
  ui.membersToggle.setAttribute('aria-expanded', 'false');
}

// ---- sign in / out ----------------------------------------------------------------------------

function signIn(creds) {
  ui.loginError.hidden = true;
  conn.stop();
  conn.start(creds);
}

function signOut() {
  conn.stop();
  for (const room of [...rooms.values()]) removeRoom(room);
  me = null;
  ui.me.hidden = ui.signOut.hidden = true;
  document.body.classList.replace('signed-in', 'signed-out');
  ui.username.focus();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- wiring -----------------------------------------------------------------------------------

ui.loginForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const creds = { name: ui.username.value.trim(), token: ui.token.value.trim() };
  if (!creds.name && !creds.token) {
    ui.loginError.textContent = 'Enter your name (or a token).';
    ui.loginError.hidden = false;
    ui.username.focus();
    return;
  }
  signIn(creds);
});
ui.signOut.addEventListener('click', signOut);
ui.joinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const id = ui.roomId.value.trim();
  if (!id) { ui.roomId.focus(); return; }
  openRoom(id, ui.roomName.value.trim());
  ui.roomId.value = ui.roomName.value = '';
});
ui.leave.addEventListener('click', () => { if (active) leaveRoom(active); });
ui.browseRooms.addEventListener('click', toggleBrowser);
ui.roomFilter.addEventListener('submit', (ev) => { ev.preventDefault(); loadRoomList(true); });
ui.moreRooms.addEventListener('click', () => loadRoomList(false));
ui.sendForm.addEventListener('submit', (ev) => { ev.preventDefault(); sendMessage(); });
ui.message.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendMessage(); }
});
ui.message.addEventListener('input', typed);
ui.messages.addEventListener('scroll', () => { if (ui.messages.scrollTop < 80) loadOlder(active); });
ui.messages.addEventListener('click', (ev) => {
  if (active && ev.target === active.olderButton) loadOlder(active);
});
ui.menuToggle.addEventListener('click', () => toggleDrawer('show-sidebar', ui.menuToggle));
ui.membersToggle.addEventListener('click', () => toggleDrawer('show-members', ui.membersToggle));
ui.scrim.addEventListener('click', closeDrawers);
document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeDrawers(); });

// Start: ?name= / ?token= sign in at once (for links and scripts); else the form, prefilled.
(function start() {
  const q = new URLSearchParams(location.search);
  const name = q.get('name') || '';
  const token = q.get('token') || '';
  let saved = '';
  try { saved = localStorage.getItem(NAME_KEY) || ''; } catch (e) { /* private mode */ }
  ui.username.value = name || saved;
  ui.token.value = token;
  renderSidebar();
  renderRoom();
  if (!name && !token) { ui.username.focus(); return; }
  for (const id of (q.get('room') || '').split(',').map((s) => s.trim()).filter(Boolean)) openRoom(id, '');
  signIn({ name, token });
})();
