// k6 durations in options: a string of number+unit parts ("1m30s", "500ms", "1.5s", "2h", "1d"),
// or a plain number of milliseconds. Returns milliseconds.
const UNIT_MS = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000 };

export function parseDuration(v, what) {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) {
    return v;
  }
  const s = String(v).trim();
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/y;
  let ms = 0;
  let i = 0;
  while (i < s.length) {
    part.lastIndex = i;
    const m = part.exec(s);
    if (!m) {
      throw new Error(`${what}: bad duration ${JSON.stringify(v)}`);
    }
    ms += parseFloat(m[1]) * UNIT_MS[m[2]];
    i = part.lastIndex;
  }
  if (s.length === 0) {
    throw new Error(`${what}: empty duration`);
  }
  return ms;
}
