// chatd web client: plain JS, no build step, no network resources besides our own /ws.
// Wire protocol: v1, as README.md's "Protocol" section describes it. All user-supplied text goes through textContent, never innerHTML.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $('status'), joinForm: $('joinForm'), username: $('username'), roomId: $('roomId'),
    roomName: $('roomName'), join: $('join'), refresh: $('refreshRooms'), roomList: $('roomList'),
    errors: $('errors'), currentRoom: $('currentRoom'), memberCount: $('memberCount'),
    leave: $('leave'), messages: $('messages'), sendForm: $('sendForm'), message: $('message'),
    send: $('send'),
  };

  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const MAX_ERRORS_SHOWN = 5;

  const state = {
    ws: null,
    userId: null,
    // What the user asked for ({roomId, username, roomName}); kept across reconnects so we can
    // re-join the same room after the server restarts. null after leaving.
    wanted: null,
    room: null,        // roomId the message list currently shows (confirmed by roomJoined)
    attempt: 0,        // reconnect attempts since the last good connection
    reconnectTimer: null,
    wasConnected: false,
  };

  // ---- connection -------------------------------------------------------------------------

  function wsURL() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return scheme + '//' + location.host + '/ws';
  }

  function connect() {
    state.reconnectTimer = null;
    let ws;
    try {
      ws = new WebSocket(wsURL());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    // The server may send binary frames carrying the same JSON; ArrayBuffer is easy to decode.
    ws.binaryType = 'arraybuffer';
    state.ws = ws;

    ws.onopen = () => {
      setStatus(true);
      state.wasConnected = true;
      // The server forgot us when the old connection dropped: join again with the same identity.
      if (state.wanted) sendJoin(state.wanted);
      updateControls();
    };
    ws.onmessage = (ev) => {
      const text = typeof ev.data === 'string' ? ev.data : new TextDecoder().decode(ev.data);
      let msg;
      try { msg = JSON.parse(text); } catch (e) { return; }
      if (msg && typeof msg === 'object') handle(msg);
    };
    ws.onclose = () => {
      if (state.ws !== ws) return;
      state.ws = null;
      // Announce the drop once, not on every failed retry.
      if (state.wasConnected && state.room) notice('Disconnected, reconnecting…', 'disconnected');
      state.wasConnected = false;
      setStatus(false);
      updateControls();
      scheduleReconnect();
    };
    // onerror is always followed by onclose, which does the work.
  }

  // Exponential backoff with "equal jitter": half the step fixed, half random, so that many clients
  // dropped by one server restart do not all come back in the same instant.
  function scheduleReconnect() {
    if (state.reconnectTimer) return;
    const step = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempt);
    state.attempt++;
    const delay = step / 2 + Math.random() * step / 2;
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function send(obj) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    state.ws.send(JSON.stringify(obj));
    return true;
  }

  function sendJoin(w) {
    const m = { type: 'join', roomId: w.roomId, username: w.username };
    if (w.roomName) m.roomName = w.roomName;
    send(m);
  }

  // The room list is asked for only when the user asks to see it (Refresh): on a node with many
  // rooms it is the largest reply there is, and the server rate-limits it per connection.
  function requestRoomList() { send({ type: 'getRoomList' }); }

  // ---- inbound messages ------------------------------------------------------------------

  function handle(msg) {
    switch (msg.type) {
      case 'connected':
        state.userId = msg.userId;
        // Only a connection the server accepted counts as good; reset the backoff here, not on
        // open, so a server that accepts and immediately closes (e.g. node full) is not hammered.
        state.attempt = 0;
        break;
      case 'roomJoined':
        if (msg.roomId === state.room) {
          notice('Rejoined room ' + msg.roomId, 'rejoined');
        } else {
          clear(ui.messages);
          state.room = msg.roomId;
          notice('You joined room ' + msg.roomId, 'roomJoined');
        }
        ui.currentRoom.textContent = msg.roomId;
        setMemberCount(msg.memberCount);
        updateControls();
        break;
      case 'userJoined':
        setMemberCount(msg.memberCount);
        notice(msg.username + ' joined', 'userJoined', msg);
        break;
      case 'userLeft':
        setMemberCount(msg.memberCount);
        notice(msg.username + ' left', 'userLeft', msg);
        break;
      case 'message':
        addMessage(msg);
        break;
      case 'roomList':
        renderRoomList(Array.isArray(msg.rooms) ? msg.rooms : []);
        break;
      case 'error':
        showError(msg.message || 'Error', msg.code);
        break;
      default:
        // Unknown types are ignored: the server may add message types later.
    }
  }

  // ---- rendering --------------------------------------------------------------------------

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // Keep the view pinned to the bottom only if the user has not scrolled up to read history.
  function append(node) {
    const box = ui.messages;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    box.appendChild(node);
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  function addMessage(m) {
    const li = el('li', 'msg');
    if (m.userId && m.userId === state.userId) li.classList.add('own');
    li.dataset.userId = m.userId || '';
    li.appendChild(el('span', 'sender', m.username));
    li.appendChild(el('span', 'content', m.content));
    const t = el('time', 'time', formatTime(m.timestamp));
    if (typeof m.timestamp === 'string') t.dateTime = m.timestamp;
    li.appendChild(t);
    append(li);
  }

  function notice(text, event, m) {
    const li = el('li', 'notice', text);
    li.dataset.event = event;
    if (m && m.username !== undefined) li.dataset.username = m.username;
    if (m && m.userId !== undefined) li.dataset.userId = m.userId;
    li.appendChild(el('time', 'time', formatTime(new Date().toISOString())));
    append(li);
  }

  function formatTime(ts) {
    const d = new Date(ts);
    return isNaN(d.getTime()) ? '' : d.toLocaleTimeString();
  }

  function setMemberCount(n) {
    if (typeof n === 'number') ui.memberCount.textContent = String(n);
  }

  function renderRoomList(rooms) {
    clear(ui.roomList);
    if (rooms.length === 0) {
      ui.roomList.appendChild(el('li', 'empty', 'No rooms yet'));
      return;
    }
    for (const r of rooms) {
      const li = el('li', 'room');
      li.dataset.roomId = r.roomId;
      li.title = 'Created ' + (r.createdAt || '');
      li.appendChild(el('span', 'name', r.name || r.roomId));
      li.appendChild(el('span', 'count', r.memberCount));
      li.addEventListener('click', () => {
        ui.roomId.value = r.roomId;
        ui.roomName.value = r.name || '';
        ui.username.focus();
      });
      ui.roomList.appendChild(li);
    }
  }

  function showError(text, code) {
    const div = el('div', 'error', text);
    if (code !== undefined) div.dataset.code = code;
    ui.errors.appendChild(div);
    while (ui.errors.childElementCount > MAX_ERRORS_SHOWN) ui.errors.removeChild(ui.errors.firstChild);
  }

  function setStatus(connected) {
    const s = connected ? 'connected' : 'disconnected';
    ui.status.textContent = s;
    ui.status.dataset.state = s;
    ui.status.className = 'status ' + s;
  }

  function updateControls() {
    const open = !!state.ws && state.ws.readyState === WebSocket.OPEN;
    const inRoom = !!state.room && !!state.wanted;
    ui.message.disabled = !(open && inRoom);
    ui.send.disabled = !(open && inRoom);
    ui.leave.disabled = !inRoom;
  }

  // ---- user actions -----------------------------------------------------------------------

  ui.joinForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const w = {
      username: ui.username.value.trim(),
      roomId: ui.roomId.value.trim(),
      roomName: ui.roomName.value.trim(),
    };
    if (!w.username || !w.roomId) { showError('Username and room id are required'); return; }
    state.wanted = w;
    // Joining a different room: forget the old one so roomJoined starts a fresh message list.
    if (w.roomId !== state.room) state.room = null;
    // If we are offline the join goes out on the next open.
    sendJoin(w);
  });

  ui.leave.addEventListener('click', () => {
    // The server does not answer leaveRoom, so update our own state right away.
    send({ type: 'leaveRoom' });
    if (state.room) notice('You left room ' + state.room, 'leftRoom');
    state.wanted = null;
    state.room = null;
    ui.currentRoom.textContent = '(none)';
    ui.memberCount.textContent = '0';
    updateControls();
  });

  // A submit handler covers both the Send button and Enter in the input.
  ui.sendForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const content = ui.message.value;
    if (!content.trim()) return;
    // No local append: the server echoes our own message back, and that echo is what we show.
    if (send({ type: 'message', content })) ui.message.value = '';
  });

  ui.refresh.addEventListener('click', requestRoomList);

  setStatus(false);
  updateControls();
  connect();
})();
