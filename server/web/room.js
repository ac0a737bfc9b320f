// chatd web client: one joined room, its place in the room's history and its message list.
//
// History bookkeeping follows protocol v2's offsets and recovery (README.md, "Protocol v2
// (chatd's own)"): stored messages carry offsets 1, 2, 3, … within an epoch. The room remembers the
// epoch of its last join and the newest offset the server delivered, so that a re-join with
// `since` gets exactly what was missed. A server without history answers epoch "" and offset 0
// and sends no offsets; then nothing here is ever deduplicated or paged.
//
// All user-provided text goes through textContent, never innerHTML.

export const HISTORY_ON_JOIN = 50;
export const HISTORY_PAGE = 50;
export const MISSING_TEXT = 'Some messages may be missing';

export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

export function formatTime(ts) {
  const d = new Date(ts);
  if (isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// Our user ids on this page (one per connection unless a token fixes it): marks our messages,
// also those that come back in history after a reconnect.
export const myIds = new Set();

const offsetOf = (m) => (typeof m.offset === 'number' && m.offset > 0 ? m.offset : 0);

export class Room {
  constructor(id, name) {
    this.id = id;
    this.name = name || '';
    this.state = 'joining';    // joining | joined | offline | error
    this.everJoined = false;
    this.epoch = null;         // null until the first join answered
    this.lastOffset = 0;       // newest offset the server delivered to us (not our own publishes)
    this.seen = new Set();     // offsets shown in this epoch, own messages included
    this.oldest = null;        // {offset, li}: where older pages go; null when there is nothing older
    this.loadingOlder = false;
    this.memberCount = 0;
    this.members = new Map();  // userId -> name
    this.membersTruncated = false;
    this.presenceFresh = false;
    this.typers = new Map();   // userId -> {name, timer}
    this.lastTypingSent = 0;
    this.unread = 0;
    this.scrollTop = null;     // kept while another room is shown; null: stick to the bottom
    this.log = el('ol', 'log');
    this.log.dataset.roomId = id;
    // The first item offers older history; it stays hidden while there is none to offer.
    this.olderItem = el('li', 'load-older');
    this.olderButton = el('button', 'link-btn', 'Load older messages');
    this.olderButton.type = 'button';
    this.olderItem.appendChild(this.olderButton);
    this.olderItem.hidden = true;
    this.log.appendChild(this.olderItem);
  }

  get title() { return this.name || this.id; }

  // The `since` of a re-join: set once the room was joined on this page.
  since() {
    return this.epoch === null ? null : { epoch: this.epoch, offset: this.lastOffset };
  }

  // joinRequest is what to send to (re)join: newest history on a first join, and on a re-join
  // `since` plus `history` (which the server uses when it cannot recover).
  joinRequest() {
    const req = { type: 'join', roomId: this.id, history: HISTORY_ON_JOIN };
    if (this.name) req.roomName = this.name;
    const since = this.since();
    if (since) req.since = since;
    return req;
  }

  // applyJoin takes a join result. Returns the number of messages it added.
  applyJoin(ok, rejoin) {
    if (typeof ok.memberCount === 'number') this.memberCount = ok.memberCount;
    const epoch = typeof ok.epoch === 'string' ? ok.epoch : '';
    const msgs = Array.isArray(ok.messages) ? ok.messages : [];
    let added = 0;
    if (rejoin && ok.recovered === true && epoch === this.epoch) {
      // Recovered: everything after our offset, in order; skip what we already show.
      for (const m of msgs) {
        const o = offsetOf(m);
        if (o && (o <= this.lastOffset || this.seen.has(o))) continue;
        if (this.append(m)) added++;
      }
    } else {
      // A first join, or a re-join the server could not (or did not say it could) recover.
      if (rejoin) this.addDivider(MISSING_TEXT);
      if (epoch !== this.epoch) { this.seen.clear(); this.lastOffset = 0; this.oldest = null; }
      const divider = rejoin ? this.log.lastElementChild : null;
      for (const m of msgs) if (this.append(m)) added++;
      this.resetOldest(divider);
    }
    this.epoch = epoch;
    this.bump(typeof ok.offset === 'number' ? ok.offset : 0);
    this.everJoined = true;
    return added;
  }

  // After a fresh set of messages, older pages go before the first of them.
  resetOldest(after) {
    let li = after ? after.nextElementSibling : this.olderItem.nextElementSibling;
    while (li && !li.dataset.offset) li = li.nextElementSibling;
    const o = li ? Number(li.dataset.offset) : 0;
    this.oldest = o > 1 ? { offset: o, li } : null;
    this.olderItem.hidden = !this.oldest;
  }

  bump(offset) {
    if (offset > this.lastOffset) this.lastOffset = offset;
  }

  // adoptEpoch follows the epoch a message push carries: a room joined before it had any history
  // learns its epoch from its first messages (so that a later `since` names it), and a new epoch
  // under a joined room (the server lost its history) restarts the numbering: offsets seen in the
  // old one say nothing about the new one.
  adoptEpoch(m) {
    const e = typeof m.epoch === 'string' ? m.epoch : '';
    if (!e || e === this.epoch) return;
    if (this.epoch) { this.seen.clear(); this.lastOffset = 0; this.oldest = null; }
    this.epoch = e;
  }

  // A message push. Returns the new item, or null for a message already shown.
  push(m) {
    this.adoptEpoch(m);
    const o = offsetOf(m);
    if (o && this.seen.has(o)) return null;
    const li = this.append(m);
    this.bump(o);
    this.stopTyping(m.userId);
    return li;
  }

  // append adds one message at the end; null if its offset is already shown.
  append(m, own) {
    const o = offsetOf(m);
    if (o) {
      if (this.seen.has(o)) return null;
      this.seen.add(o);
      this.bump(o);
    }
    const li = this.item(m, own);
    this.log.appendChild(li);
    return li;
  }

  item(m, own) {
    return messageItem(m, own || (!!m.userId && myIds.has(m.userId)));
  }

  // Our own message, shown at once and confirmed by the publish reply.
  appendOwn(content, me) {
    const li = this.item({ content, userId: me.userId, name: me.name }, true);
    li.classList.add('pending');
    li.querySelector('.time').textContent = 'sending…';
    this.log.appendChild(li);
    return li;
  }

  // confirmOwn marks a sent message with its offset and time. Own offsets count as seen (a
  // recovery must not show them twice) but do not move lastOffset: messages of others with lower
  // offsets may still be on their way to us, and `since` must not skip them.
  confirmOwn(li, ok) {
    li.classList.remove('pending');
    const o = offsetOf(ok);
    if (o) { li.dataset.offset = String(o); this.seen.add(o); }
    setTime(li.querySelector('.time'), ok.timestamp);
  }

  failOwn(li, err) {
    li.classList.remove('pending');
    li.classList.add('failed');
    li.querySelector('.time').textContent = 'not sent: ' + (err.message || err.code || 'error');
  }

  // prependOlder inserts a history page (oldest first) before the oldest message shown.
  // Returns the number of messages added.
  prependOlder(msgs) {
    if (!this.oldest) return 0;
    let anchor = this.oldest.li;
    let min = this.oldest.offset;
    let added = 0;
    for (let i = msgs.length - 1; i >= 0; i--) {
      const o = offsetOf(msgs[i]);
      if (!o || o >= this.oldest.offset) continue;
      min = Math.min(min, o);
      if (this.seen.has(o)) continue;
      this.seen.add(o);
      const li = this.item(msgs[i]);
      this.log.insertBefore(li, anchor);
      anchor = li;
      added++;
    }
    // A short page is the last one; so is one that reached offset 1.
    const more = msgs.length >= HISTORY_PAGE && min > 1 && min < this.oldest.offset;
    this.oldest = more ? { offset: min, li: anchor } : null;
    this.olderItem.hidden = !this.oldest;
    return added;
  }

  addNotice(text, event, m) {
    const li = el('li', 'notice', text);
    li.dataset.event = event;
    if (m && m.userId !== undefined) li.dataset.userId = m.userId;
    if (m && m.name !== undefined) li.dataset.name = m.name;
    this.log.appendChild(li);
    return li;
  }

  addDivider(text) {
    const li = el('li', 'divider');
    li.setAttribute('role', 'separator');
    li.appendChild(el('span', null, text));
    this.log.appendChild(li);
    return li;
  }

  stopTyping(userId) {
    const t = this.typers.get(userId);
    if (t) { clearTimeout(t.timer); this.typers.delete(userId); }
  }

  setMembers(list, count, truncated) {
    this.members.clear();
    for (const m of list) this.members.set(m.userId, m.name);
    if (typeof count === 'number') this.memberCount = count;
    this.membersTruncated = !!truncated;
    this.presenceFresh = true;
  }

  // joined / left pushes keep the member list current between presence requests.
  memberJoined(m) {
    this.members.set(m.userId, m.name);
    if (typeof m.memberCount === 'number') this.memberCount = m.memberCount;
  }

  memberLeft(m) {
    this.members.delete(m.userId);
    this.stopTyping(m.userId);
    if (typeof m.memberCount === 'number') this.memberCount = m.memberCount;
  }

  // While disconnected the server forgets us: nobody is typing, and the list may be stale.
  goOffline() {
    if (this.state !== 'error') this.state = 'offline';
    this.presenceFresh = false;
    this.loadingOlder = false;
    for (const t of this.typers.values()) clearTimeout(t.timer);
    this.typers.clear();
  }
}

function setTime(t, ts) {
  t.textContent = formatTime(ts);
  if (typeof ts === 'string') t.dateTime = ts;
}

// One chat message: sender, text, time; data attributes for scripts and tests.
function messageItem(m, own) {
  const li = el('li', 'msg');
  if (own) li.classList.add('own');
  li.dataset.userId = m.userId || '';
  const o = offsetOf(m);
  if (o) li.dataset.offset = String(o);
  const head = el('div', 'msg-head');
  const sender = el('span', 'sender', m.name);
  sender.style.setProperty('--hue', String(hue(m.userId || m.name || '')));
  head.appendChild(sender);
  const t = el('time', 'time');
  setTime(t, m.timestamp);
  head.appendChild(t);
  li.appendChild(head);
  li.appendChild(el('div', 'content', m.content));
  return li;
}

// A stable color per user, so that names are told apart at a glance.
function hue(s) {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h % 360;
}
