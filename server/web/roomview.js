// chatd web client: the DOM of one room (its message list and what the sidebar shows of it).
//
// No protocol here: the room's messages, gaps and typing come from the TypeScript client
// (chatd-client.js), which keeps them in order, once, and says when some are missing. This file
// turns them into list items. All user-provided text goes through textContent, never innerHTML.

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

// A stable colour per key (the user id, or the name when ids change at every connection).
export function hue(s) {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h % 360;
}

const offsetOf = (m) => (typeof m.offset === 'number' && m.offset > 0 ? m.offset : 0);

export class RoomView {
  // room: the client's Room; look: {isOwn(userId), colourKey(message)}.
  constructor(room, name, look) {
    this.room = room;
    this.id = room.id;
    this.name = name || '';
    this.look = look;
    this.unread = 0;
    this.everJoined = false;
    this.restoring = false;   // a join with a saved position is on its way: what it brings is not news
    this.scrollTop = null;    // kept while another room is shown; null: stick to the bottom
    this.members = new Map(); // userId -> name
    this.membersTruncated = false;
    this.presenceFresh = false;
    this.loadingOlder = false;
    this.shown = new Set();   // offsets shown in the current epoch
    this.epoch = null;
    this.oldest = null;       // {offset, li}: older pages go before li; null: nothing older to offer
    this.log = el('ol', 'log');
    this.log.dataset.roomId = this.id;
    this.olderItem = el('li', 'load-older');
    this.olderButton = el('button', 'link-btn', 'Load older messages');
    this.olderButton.type = 'button';
    this.olderItem.appendChild(this.olderButton);
    this.olderItem.hidden = true;
    this.log.appendChild(this.olderItem);
  }

  get title() { return this.name || this.id; }

  // The sidebar's word for the room's state (data-state): joining | joined | offline | error.
  get entryState() {
    const s = this.room.state;
    return s === 'failed' ? 'error' : s === 'idle' || s === 'left' ? 'joining' : s;
  }

  // follow tracks the epoch of what is shown: offsets of another epoch say nothing about these.
  follow(epoch) {
    if (typeof epoch !== 'string' || !epoch || epoch === this.epoch) return;
    if (this.epoch !== null) this.shown.clear();
    this.epoch = epoch;
  }

  // append adds a message at the end; null when its offset is shown already.
  append(m) {
    this.follow(m.epoch);
    const o = offsetOf(m);
    if (o) {
      if (this.shown.has(o)) return null;
      this.shown.add(o);
    }
    const li = this.item(m, this.look.isOwn(m.userId));
    this.log.appendChild(li);
    return li;
  }

  // showMessages appends the messages of a join (or of a gap) and offers older pages before them.
  showMessages(msgs, epoch) {
    this.follow(epoch);
    const before = this.log.lastElementChild;
    for (const m of msgs) this.append(m);
    this.resetOldest(before);
  }

  // resetOldest: older pages go before the first message after `after` (or the first of all).
  resetOldest(after) {
    let li = after ? after.nextElementSibling : this.olderItem.nextElementSibling;
    while (li && !li.dataset.offset) li = li.nextElementSibling;
    const o = li ? Number(li.dataset.offset) : 0;
    this.oldest = o > 1 ? { offset: o, li } : null;
    this.olderItem.hidden = !this.oldest;
  }

  // prependOlder inserts a history page (oldest first) before the oldest message shown; returns
  // whether more may be older. `full` says the page was as long as asked.
  prependOlder(msgs, full) {
    if (!this.oldest) return false;
    let anchor = this.oldest.li;
    let min = this.oldest.offset;
    for (let i = msgs.length - 1; i >= 0; i--) {
      const o = offsetOf(msgs[i]);
      if (!o || o >= this.oldest.offset) continue;
      min = Math.min(min, o);
      if (this.shown.has(o)) continue;
      this.shown.add(o);
      const li = this.item(msgs[i], this.look.isOwn(msgs[i].userId));
      this.log.insertBefore(li, anchor);
      anchor = li;
    }
    const more = full && min > 1 && min < this.oldest.offset;
    this.oldest = more ? { offset: min, li: anchor } : null;
    this.olderItem.hidden = !this.oldest;
    return more;
  }

  // context shows, above what a restored room brought, the page of messages up to where it was.
  context(msgs) {
    const first = this.log.querySelector('li.msg[data-offset]');
    const before = first ? first.previousElementSibling : this.log.lastElementChild;
    for (const m of msgs) {
      const o = offsetOf(m);
      if (!o || this.shown.has(o)) continue;
      this.shown.add(o);
      this.log.insertBefore(this.item(m, this.look.isOwn(m.userId)), first); // null: at the end
    }
    this.resetOldest(before);
  }

  // gap: the client says messages between the last shown and the newest are not coming.
  gap(ev) {
    const divider = this.divider(MISSING_TEXT);
    if (ev.position.epoch !== this.epoch) { this.shown.clear(); this.epoch = null; }
    this.showMessages(ev.messages, ev.position.epoch);
    this.resetOldest(divider);
  }

  // Our own message, shown at once and confirmed by the publish result.
  appendOwn(content, me) {
    const li = this.item({ content, userId: me.userId, name: me.name }, true);
    li.classList.add('pending');
    li.querySelector('.time').textContent = 'sending…';
    this.log.appendChild(li);
    return li;
  }

  confirmOwn(li, res) {
    li.classList.remove('pending');
    const o = offsetOf(res);
    if (o) { li.dataset.offset = String(o); this.shown.add(o); }
    setTime(li.querySelector('.time'), res.timestamp);
  }

  failOwn(li, err) {
    li.classList.remove('pending');
    li.classList.add('failed');
    li.querySelector('.time').textContent = 'not sent: ' + (err.message || err.code || 'error');
  }

  // A message of ours that a recovery brought back (its publish result was lost with the
  // connection): it went out after all, so its "not sent" copy goes.
  dropFailedCopy(m) {
    for (const li of this.log.querySelectorAll('li.msg.own.failed')) {
      if (li.querySelector('.content').textContent === m.content) { li.remove(); return; }
    }
  }

  notice(text, event, m) {
    const li = el('li', 'notice', text);
    li.dataset.event = event;
    if (m && m.userId !== undefined) li.dataset.userId = m.userId;
    if (m && m.name !== undefined) li.dataset.name = m.name;
    this.log.appendChild(li);
    return li;
  }

  divider(text) {
    const li = el('li', 'divider');
    li.setAttribute('role', 'separator');
    li.appendChild(el('span', null, text));
    this.log.appendChild(li);
    return li;
  }

  setMembers(list, truncated) {
    this.members.clear();
    for (const m of list) this.members.set(m.userId, m.name);
    this.membersTruncated = !!truncated;
    this.presenceFresh = true;
  }

  memberJoined(m) { this.members.set(m.userId, m.name); }
  memberLeft(m) { this.members.delete(m.userId); }

  offline() {
    this.presenceFresh = false;
    this.loadingOlder = false;
  }

  // One chat message: sender, text, time; data attributes for scripts and tests.
  item(m, own) {
    const li = el('li', 'msg');
    if (own) li.classList.add('own');
    li.dataset.userId = m.userId || '';
    const o = offsetOf(m);
    if (o) li.dataset.offset = String(o);
    const head = el('div', 'msg-head');
    const sender = el('span', 'sender', m.name);
    sender.style.setProperty('--hue', String(hue(this.look.colourKey(m))));
    head.appendChild(sender);
    const t = el('time', 'time');
    setTime(t, m.timestamp);
    head.appendChild(t);
    li.appendChild(head);
    li.appendChild(el('div', 'content', m.content));
    return li;
  }
}

function setTime(t, ts) {
  t.textContent = formatTime(ts);
  if (typeof ts === 'string') t.dateTime = ts;
}
