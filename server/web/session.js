// chatd web client: what a tab remembers across a reload (sessionStorage: per tab, gone with it).
//
// The sign-in (name, or token), the rooms joined with their place in each room's history, the room
// on screen, and the user ids this tab had (ids are random per connection without a token, and
// mark our own messages in history). A reload signs in again and re-joins every room with `since`
// from its saved place, so the room shows where it was. Signing out forgets it all.

const KEY = 'chatd.session';
const MAX_IDS = 20;

export function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    if (!s || typeof s !== 'object' || (!s.name && !s.token)) return null;
    return {
      name: typeof s.name === 'string' ? s.name : '',
      token: typeof s.token === 'string' ? s.token : '',
      rooms: Array.isArray(s.rooms) ? s.rooms.filter((r) => r && typeof r.id === 'string' && r.id) : [],
      active: typeof s.active === 'string' ? s.active : '',
      ids: Array.isArray(s.ids) ? s.ids.filter((x) => typeof x === 'string').slice(-MAX_IDS) : [],
    };
  } catch (e) {
    return null; // storage off (private mode) or damaged: start afresh
  }
}

// saveSession writes s: {name, token, rooms: [{id, name, position}], active, ids}.
export function saveSession(s) {
  try {
    sessionStorage.setItem(KEY, JSON.stringify({ ...s, ids: s.ids.slice(-MAX_IDS) }));
  } catch (e) { /* storage off or full: a reload then starts afresh */ }
}

export function clearSession() {
  try { sessionStorage.removeItem(KEY); } catch (e) { /* storage off */ }
}
