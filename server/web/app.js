// chatd web client: the page. Plain JS modules, no build step for the page itself, nothing loaded
// from other hosts. The protocol (README.md, "Protocol v2 (chatd's own)") is the TypeScript
// client's job: chatd-client.js is its browser build (clients/js, `npm run build:web`), which
// says hello, reconnects, re-joins rooms with `since`, keeps each room's messages in order and
// once, and reports gaps. This file and roomview.js only show what it says.
// All user-provided text goes through textContent, never innerHTML.
//
// Scripting contract, kept stable for scripts/browser/*.mjs and for other tests that drive this
// page (through a proxy, say). Prefer data-* attributes over visible text, which may change.
//   /?name=alice[&token=JWT][&room=a,b]  signs in at once (and joins the rooms); without it the
//                                  sign-in form: #username, #token, #connect (#loginForm). A tab
//                                  remembers its sign-in and rooms: a reload re-joins them where
//                                  they were (sessionStorage; signing out forgets it)
//   #loginError                    why the server refused hello (e.g. unauthorized); no retry then
//   #status[data-state]            disconnected | connecting | connected | reconnecting; and
//                                  data-transport: websocket | http-stream, the carrier in use or
//                                  being tried (the client falls back to HTTP streaming by itself
//                                  where WebSockets are blocked)
//   #transport[data-transport]     the carrier of the connection, in words, while connected
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
//                                  (.sender with --hue, .content, .time; .own, .pending, .failed),
//                                  li.notice[data-event=joined|left|rejoinFailed], li.divider
//                                  ("Some messages may be missing"), li.load-older button
//   #typing[data-count]            "alice is typing…"
//   #message, #send                the composer (Enter sends, Shift+Enter is a new line)
//   #emptyChat, #openRooms         shown without a room; #openRooms opens the room drawer (phones)
//   #errors .error[data-code]      error toasts; #errors[data-total] counts every one shown
//   #menuToggle, #membersToggle    open the sidebar / member list on a narrow screen
import { ChatClient } from './chatd-client.js';
import { RoomView, el } from './roomview.js';
import { loadSession, saveSession, clearSession } from './session.js';

const $ = (id) => document.getElementById(id);
const ui = {};
for (const id of ['status', 'transport', 'me', 'signOut', 'menuToggle', 'loginForm', 'username', 'token',
  'loginError', 'connect', 'sidebar', 'joinedRooms', 'noRooms', 'joinForm', 'roomId', 'roomName',
  'browseRooms', 'roomBrowser', 'roomFilter', 'roomPrefix', 'roomListStatus', 'roomList',
  'moreRooms', 'currentRoom', 'memberCount', 'memberCountBox', 'memberCountUnit', 'membersToggle',
  'leave', 'emptyChat', 'openRooms', 'messages', 'typing', 'sendForm', 'message', 'send', 'members',
  'errors', 'scrim']) ui[id] = $(id);

const HISTORY_ON_JOIN = 50;
const HISTORY_PAGE = 50;
const ERROR_SHOW_MS = 8000;
const MAX_ERRORS_SHOWN = 4;
const ROOM_LIST_PAGE = 50;
const SAVE_DELAY_MS = 300;         // the session is written at most this often while messages flow
// Larger messages would make the server close the socket (-max-message-bytes, 64 KiB).
const MAX_CONTENT_BYTES = 60000;
const NAME_KEY = 'chatd.name';

let client = null;       // the ChatClient of the signed-in user
let creds = null;        // {name, token} it signed in with
const views = new Map(); // roomId -> RoomView, in sidebar order
let active = null;       // the RoomView on screen
let me = null;           // {userId, name} of the current connection
const myIds = new Set(); // our user ids on this tab (one per connection unless a token fixes it)
let errorsShown = 0;
let saveTimer = null;
const browse = { pages: null, loading: false };

// Colours: by user id when ids are stable (a token names the user), by name when every
// connection gets a new random id (no token), so that a name keeps its colour across sessions.
const look = {
  isOwn: (userId) => !!userId && myIds.has(userId),
  colourKey: (m) => (creds && creds.token ? m.userId || m.name || '' : m.name || m.userId || ''),
};

// The WebSocket URL of this page's server: same host, wss: when the page came over https:.
function defaultURL() {
  return (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/ws';
}

// ---- the connection ---------------------------------------------------------------------------

// Lower case, as the v1 page had it: scripts that waited for the text "connected" keep working.
const STATE_TEXT = { disconnected: 'offline', connecting: 'connecting…', connected: 'connected',
  reconnecting: 'reconnecting…' };

const TRANSPORT_TEXT = { websocket: 'via WebSocket', 'http-stream': 'via HTTP streaming' };

function onState(ev) {
  ui.status.dataset.state = ev.state;
  if (ev.transport) ui.status.dataset.transport = ev.transport;
  ui.status.textContent = STATE_TEXT[ev.state] || ev.state;
  ui.status.title = (STATE_TEXT[ev.state] || ev.state) +
    (ev.transport ? ` (${TRANSPORT_TEXT[ev.transport] || ev.transport})` : '') +
    (ev.delayMs ? `: next attempt in ${Math.ceil(ev.delayMs / 1000)} s` : '');
  ui.transport.hidden = ev.state !== 'connected';
  if (ev.state === 'connected') {
    ui.transport.dataset.transport = ev.transport || '';
    ui.transport.textContent = TRANSPORT_TEXT[ev.transport] || ev.transport || '';
  }
  if (ev.state === 'connected') {
    me = { userId: ev.user.userId, name: ev.user.name };
    myIds.add(me.userId);
    if (creds.name) {
      try { localStorage.setItem(NAME_KEY, creds.name); } catch (e) { /* private mode */ }
    }
    document.body.classList.replace('signed-out', 'signed-in');
    ui.me.textContent = me.name;
    ui.me.title = me.name;
    ui.me.hidden = ui.signOut.hidden = false;
    save();
  } else {
    for (const v of views.values()) { v.offline(); renderEntry(v); }
    if (ev.state === 'disconnected' && ev.error) onFatal(ev.error);
  }
  renderRoom();
}

// A refusal that retrying cannot fix (a bad token, a bad name): back to the form, with the reason.
function onFatal(err) {
  document.body.classList.replace('signed-in', 'signed-out');
  ui.loginError.textContent = err.code === 'unauthorized' || err.code === 'token_expired'
    ? `The server did not accept your token: ${err.message || err.code}`
    : `The server refused to sign you in: ${err.message || err.code}`;
  ui.loginError.dataset.code = err.code || '';
  ui.loginError.hidden = false;
  clearSession();
  (err.code === 'unauthorized' ? ui.token : ui.username).focus();
}

// ---- rooms --------------------------------------------------------------------------------------

// openRoom shows a room, joining it first if needed; `since` continues from a saved place.
function openRoom(id, name, since) {
  let v = views.get(id);
  if (!v) {
    v = new RoomView(client.room(id), name, look);
    views.set(id, v);
    listen(v);
    renderEntry(v);
    join(v, since);
    save();
  }
  showRoom(v);
}

function join(v, since) {
  const opts = { history: HISTORY_ON_JOIN };
  if (v.name) opts.name = v.name;
  if (since) { opts.since = since; v.restoring = true; }
  v.room.join(opts).then((res) => {
    v.restoring = false;
    if (views.get(v.id) !== v) return;
    v.everJoined = true;
    if (!since) {
      pinned(v, () => v.showMessages(res.messages, res.epoch));
    } else if (res.recovered) {
      // What was missed since the saved place came as messages; show the page up to it above.
      loadContext(v, since.offset);
    }
    renderEntry(v);
    save();
  }, (err) => {
    v.restoring = false;
    if (err.code === 'left' || err.code === 'closed' || views.get(v.id) !== v) return;
    toast(err);
    removeView(v);
  });
}

// listen shows what the client says about a room.
function listen(v) {
  const room = v.room;
  room.on('message', (m) => {
    if (look.isOwn(m.userId)) v.dropFailedCopy(m);
    let li = null;
    pinned(v, () => { li = v.append(m); });
    if (!li) return;
    if (v !== active && !v.restoring) { v.unread++; renderEntry(v); renderTitle(); }
    scheduleSave();
  });
  room.on('gap', (ev) => { pinned(v, () => v.gap(ev)); scheduleSave(); });
  room.on('recovered', () => scheduleSave());
  room.on('joined', (m) => onMember(v, m, true));
  room.on('left', (m) => onMember(v, m, false));
  room.on('typing', () => { if (v === active) renderTyping(); });
  room.on('state', (ev) => {
    renderEntry(v);
    if (ev.state === 'joined') {
      if (v === active) requestPresence(v);
    } else if (ev.state === 'failed' && v.everJoined) {
      pinned(v, () => v.notice(`Could not re-join: ${ev.error.message || ev.error.code}`, 'rejoinFailed'));
      toast(ev.error);
    }
    if (v === active) renderRoom();
  });
}

function leaveRoom(v) {
  removeView(v);
  v.room.leave().catch((err) => { if (err.code !== 'not_in_room') toast(err); });
}

function removeView(v) {
  views.delete(v.id);
  if (v.entry) v.entry.remove();
  if (active === v) showRoom(views.values().next().value || null);
  renderSidebar();
  save();
}

// ---- messages ---------------------------------------------------------------------------------

function sendMessage() {
  const content = ui.message.value.trim();
  const v = active;
  if (!content || !v || v.room.state !== 'joined' || !client || client.state !== 'connected') return;
  if (new TextEncoder().encode(content).length > MAX_CONTENT_BYTES) {
    toast({ code: 'too_long', message: `Message too long (at most ${MAX_CONTENT_BYTES} bytes)` });
    return;
  }
  ui.message.value = '';
  autosize();
  // The server does not send our message back to us: show it now, confirm it with the result.
  const li = v.appendOwn(content, me);
  scrollToBottom();
  v.room.publish(content)
    .then((res) => { v.confirmOwn(li, res); scheduleSave(); })
    .catch((err) => {
      v.failOwn(li, err);
      if (err.code !== 'disconnected') toast(err);
    });
}

// Scrolling to the top of a room (or its button) loads the page of history before it.
async function loadOlder(v) {
  if (!v || !v.oldest || v.loadingOlder || v.room.state !== 'joined') return;
  if (v.olderRetryAt && Date.now() < v.olderRetryAt) return;
  v.loadingOlder = true;
  v.olderButton.textContent = 'Loading…';
  try {
    const msgs = await v.room.history({ before: v.oldest.offset, limit: HISTORY_PAGE });
    keepPlace(v, () => v.prependOlder(msgs, msgs.length >= HISTORY_PAGE));
  } catch (err) {
    if (err.code === 'disconnected') return;
    toast(err);
    if (err.code === 'rate_limited' || err.code === 'timeout') {
      v.olderRetryAt = Date.now() + 2000;
    } else {
      v.oldest = null; // e.g. a server without history: stop offering it
      v.olderItem.hidden = true;
    }
  } finally {
    v.loadingOlder = false;
    v.olderButton.textContent = 'Load older messages';
  }
}

// loadContext shows the page of messages up to `offset` above a restored room's new ones.
async function loadContext(v, offset) {
  if (offset < 1) return;
  try {
    const msgs = await v.room.history({ before: offset + 1, limit: HISTORY_PAGE });
    keepPlace(v, () => v.context(msgs));
    if (v === active && v.scrollTop === null) scrollToBottom();
  } catch (err) {
    if (err.code !== 'disconnected') toast(err);
  }
}

// keepPlace runs fn, which adds above what the user reads, and keeps that in place.
function keepPlace(v, fn) {
  if (v !== active) return fn();
  const box = ui.messages;
  const fromBottom = box.scrollHeight - box.scrollTop;
  const r = fn();
  box.scrollTop = box.scrollHeight - fromBottom;
  return r;
}

// pinned runs fn, which adds to a room's log, and keeps the view at the bottom if it was there.
function pinned(v, fn) {
  if (v !== active) return fn();
  const box = ui.messages;
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  const r = fn();
  if (atBottom) box.scrollTop = box.scrollHeight;
  return r;
}

function scrollToBottom() { ui.messages.scrollTop = ui.messages.scrollHeight; }

// ---- members and typing -----------------------------------------------------------------------

function requestPresence(v) {
  if (v.presencePending || v.room.state !== 'joined') return;
  v.presencePending = true;
  v.room.presence()
    .then((res) => {
      v.setMembers(res.members, res.truncated);
      if (v === active) renderRoom();
    })
    .catch((err) => { if (err.code !== 'disconnected') toast(err); })
    .finally(() => { v.presencePending = false; });
}

function onMember(v, m, joined) {
  if (joined) v.memberJoined(m); else v.memberLeft(m);
  pinned(v, () => v.notice(`${m.name} ${joined ? 'joined' : 'left'}`, joined ? 'joined' : 'left', m));
  if (v === active) renderRoom();
}

// ---- rendering ----------------------------------------------------------------------------------

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function showRoom(v) {
  if (active) {
    const box = ui.messages;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    active.scrollTop = atBottom ? null : box.scrollTop;
  }
  active = v;
  // A switched-in room is not news: keep screen readers from reading its whole log out.
  ui.messages.setAttribute('aria-live', 'off');
  setTimeout(() => ui.messages.setAttribute('aria-live', 'polite'), 100);
  clear(ui.messages);
  if (v) {
    ui.messages.appendChild(v.log);
    v.unread = 0;
    ui.messages.scrollTop = v.scrollTop === null ? ui.messages.scrollHeight : v.scrollTop;
    if (v.room.state === 'joined' && !v.presenceFresh) requestPresence(v);
  }
  closeDrawers();
  renderSidebar();
  renderRoom();
  save();
}

function renderSidebar() {
  for (const v of views.values()) renderEntry(v);
  ui.noRooms.hidden = views.size > 0;
  renderTitle();
}

// renderEntry creates or updates a room's item in the sidebar.
function renderEntry(v) {
  if (!v.entry) {
    const li = el('li', 'room-entry');
    li.dataset.roomId = v.id;
    const btn = el('button', 'room-btn');
    btn.type = 'button';
    btn.appendChild(el('span', 'room-name', v.title));
    btn.appendChild(el('span', 'unread'));
    btn.addEventListener('click', () => showRoom(v));
    li.appendChild(btn);
    v.entry = li;
    v.entryButton = btn;
    v.entryUnread = btn.lastChild;
    if (views.get(v.id) === v) ui.joinedRooms.appendChild(li);
    ui.noRooms.hidden = true;
  }
  const state = v.entryState;
  v.entry.dataset.state = state;
  v.entry.dataset.unread = String(v.unread);
  v.entryButton.title = `${v.id} (${state})`;
  if (v === active) v.entryButton.setAttribute('aria-current', 'true');
  else v.entryButton.removeAttribute('aria-current');
  v.entryUnread.textContent = v.unread ? String(v.unread) : '';
  v.entryUnread.hidden = !v.unread;
  v.entryButton.setAttribute('aria-label',
    v.title + (v.unread ? `, ${v.unread} unread` : '') + (state === 'joined' ? '' : `, ${state}`));
}

// renderRoom updates everything about the room on screen but its messages.
function renderRoom() {
  const v = active;
  ui.currentRoom.textContent = v ? v.title : 'No room selected';
  ui.currentRoom.title = v ? v.id : '';
  ui.emptyChat.hidden = !!v;
  ui.messages.hidden = !v;
  const n = v ? v.room.memberCount : 0;
  ui.memberCount.dataset.count = String(n);
  ui.memberCount.textContent = String(n); // the number alone, as on the v1 page
  ui.memberCountUnit.textContent = n === 1 ? 'member' : 'members';
  ui.memberCountBox.hidden = !v;
  ui.leave.disabled = !v;
  const canSend = !!v && v.room.state === 'joined' && !!client && client.state === 'connected';
  ui.message.disabled = ui.send.disabled = !canSend;
  renderMembers();
  renderTyping();
}

function renderMembers() {
  clear(ui.members);
  const v = active;
  if (!v) return;
  const list = [...v.members].sort((a, b) => a[1].localeCompare(b[1]));
  for (const [userId, name] of list) {
    const li = el('li', 'member', name);
    li.dataset.userId = userId;
    if (myIds.has(userId)) { li.classList.add('self'); li.appendChild(el('span', 'hint', ' (you)')); }
    ui.members.appendChild(li);
  }
  const more = v.room.memberCount - v.members.size;
  if (v.membersTruncated && more > 0) ui.members.appendChild(el('li', 'hint', `and ${more} more`));
}

function renderTyping() {
  const names = active ? active.room.typers.map((t) => t.name) : [];
  ui.typing.dataset.count = String(names.length);
  ui.typing.textContent = names.length === 0 ? ''
    : names.length === 1 ? `${names[0]} is typing…`
      : names.length === 2 ? `${names[0]} and ${names[1]} are typing…`
        : 'Several people are typing…';
}

function renderTitle() {
  let n = 0;
  for (const v of views.values()) n += v.unread;
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

// ---- the room list (asked for only when the user opens it) --------------------------------------

async function loadRoomList(fresh) {
  if (browse.loading) return;
  if (!client || client.state !== 'connected') { ui.roomListStatus.textContent = 'Not connected'; return; }
  if (fresh || !browse.pages) {
    const prefix = ui.roomPrefix.value.trim();
    browse.prefix = prefix;
    browse.pages = client.roomPages({ limit: ROOM_LIST_PAGE, ...(prefix ? { prefix } : {}) });
  }
  const pages = browse.pages;
  browse.loading = true;
  ui.roomListStatus.textContent = 'Loading…';
  try {
    const { value: page, done } = await pages.next();
    if (browse.pages !== pages) return;
    if (fresh) clear(ui.roomList);
    for (const r of done ? [] : page.rooms) ui.roomList.appendChild(roomListItem(r));
    const more = !done && !!page.next;
    if (!more) browse.pages = null;
    ui.moreRooms.hidden = !more;
    const n = ui.roomList.childElementCount;
    ui.roomListStatus.textContent = n ? `${n}${more ? '+' : ''} ${n === 1 ? 'room' : 'rooms'}`
      : browse.prefix ? 'No room id starts with that' : 'No rooms yet';
  } catch (err) {
    browse.pages = null;
    ui.roomListStatus.textContent = `${err.message || 'Error'} (${err.code})`;
  } finally {
    browse.loading = false;
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

// ---- narrow screens: the sidebar and the member list are drawers --------------------------------

function toggleDrawer(name, button) {
  const open = !document.body.classList.contains(name);
  closeDrawers();
  document.body.classList.toggle(name, open);
  button.setAttribute('aria-expanded', String(open));
  if (open && name === 'show-sidebar' && views.size === 0) ui.roomId.focus();
}

function closeDrawers() {
  document.body.classList.remove('show-sidebar', 'show-members');
  ui.menuToggle.setAttribute('aria-expanded', 'false');
  ui.membersToggle.setAttribute('aria-expanded', 'false');
}

// ---- the tab's session ------------------------------------------------------------------------------

function save() {
  clearTimeout(saveTimer);
  saveTimer = null;
  if (!creds) return;
  saveSession({
    name: creds.name,
    token: creds.token,
    rooms: [...views.values()].map((v) => ({ id: v.id, name: v.name, position: v.room.position || null })),
    active: active ? active.id : '',
    ids: [...myIds],
  });
}

function scheduleSave() {
  if (!saveTimer) saveTimer = setTimeout(save, SAVE_DELAY_MS);
}

// ---- sign in / out --------------------------------------------------------------------------------

function signIn(c, rooms = [], activeId = '') {
  ui.loginError.hidden = true;
  // Rooms of an earlier attempt (a refused token, say) are kept: joined again by the new client.
  const keep = [...views.values()].map((v) => ({ id: v.id, name: v.name, position: v.room.position || null }));
  const keepActive = active ? active.id : '';
  for (const v of [...views.values()]) removeView(v);
  if (client) client.close();
  creds = c;
  const opts = { url: defaultURL() };
  if (c.name) opts.name = c.name;
  if (c.token) opts.token = c.token;
  client = new ChatClient(opts);
  client.on('state', onState);
  client.on('error', (err) => toast(err));
  client.connect();
  for (const r of [...keep, ...rooms.filter((r) => !keep.some((k) => k.id === r.id))]) {
    openRoom(r.id, r.name || '', r.position || undefined);
  }
  showRoom(views.get(activeId) || views.get(keepActive) || views.values().next().value || null);
}

function signOut() {
  if (client) client.close();
  client = null;
  creds = null;
  for (const v of [...views.values()]) removeView(v);
  me = null;
  clearSession();
  ui.me.hidden = ui.signOut.hidden = true;
  document.body.classList.replace('signed-in', 'signed-out');
  ui.username.focus();
}

// ---- wiring ---------------------------------------------------------------------------------------

ui.loginForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const c = { name: ui.username.value.trim(), token: ui.token.value.trim() };
  if (!c.name && !c.token) {
    ui.loginError.textContent = 'Enter your name (or a token).';
    ui.loginError.hidden = false;
    ui.username.focus();
    return;
  }
  signIn(c);
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
ui.message.addEventListener('input', () => {
  autosize();
  if (active && ui.message.value.trim()) active.room.typing();
});
ui.messages.addEventListener('scroll', () => { if (ui.messages.scrollTop < 80) loadOlder(active); });
ui.messages.addEventListener('click', (ev) => {
  if (active && ev.target === active.olderButton) loadOlder(active);
});
ui.menuToggle.addEventListener('click', () => toggleDrawer('show-sidebar', ui.menuToggle));
ui.openRooms.addEventListener('click', () => toggleDrawer('show-sidebar', ui.menuToggle));
ui.membersToggle.addEventListener('click', () => toggleDrawer('show-members', ui.membersToggle));
ui.scrim.addEventListener('click', closeDrawers);
document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeDrawers(); });
// A tab being closed or reloaded: keep the newest place of every room.
window.addEventListener('pagehide', save);

// Start: ?name= / ?token= sign in at once (for links and scripts); a tab that was signed in signs
// in again with its rooms; else the form, prefilled with the last name.
(function start() {
  const q = new URLSearchParams(location.search);
  const name = q.get('name') || '';
  const token = q.get('token') || '';
  const urlRooms = (q.get('room') || '').split(',').map((s) => s.trim()).filter(Boolean);
  let saved = loadSession();
  if (saved && (name || token) && (saved.name !== name || saved.token !== token)) saved = null;
  let last = '';
  try { last = localStorage.getItem(NAME_KEY) || ''; } catch (e) { /* private mode */ }
  ui.username.value = name || (saved && saved.name) || last;
  ui.token.value = token;
  renderSidebar();
  renderRoom();
  if (!name && !token && !saved) { ui.username.focus(); return; }
  const rooms = saved ? saved.rooms : [];
  for (const id of urlRooms) if (!rooms.some((r) => r.id === id)) rooms.push({ id, name: '', position: null });
  if (saved) for (const id of saved.ids) myIds.add(id);
  signIn(saved ? { name: saved.name, token: saved.token } : { name, token }, rooms, saved ? saved.active : '');
})();
