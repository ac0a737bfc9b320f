// Aggregates every VU's metric samples in the main thread, the way k6's sinks do, and builds the
// summary data object that handleSummary(data) receives.
import { createHash } from 'node:crypto';

// Built-in metrics the shim emits (a subset of k6's: no data_*, vus, http_*).
export const BUILTIN = {
  checks: { type: 'rate', contains: 'default' },
  iterations: { type: 'counter', contains: 'default' },
  iteration_duration: { type: 'trend', contains: 'time' },
  ws_sessions: { type: 'counter', contains: 'default' },
  ws_msgs_sent: { type: 'counter', contains: 'default' },
  ws_msgs_received: { type: 'counter', contains: 'default' },
  ws_connecting: { type: 'trend', contains: 'time' },
  ws_session_duration: { type: 'trend', contains: 'time' },
};

// percentile as k6's trend sink computes it: linear interpolation between the two closest ranks
// of the sorted values, at index pct * (n - 1).
export function percentile(sorted, pct) {
  const n = sorted.length;
  if (n === 0) {
    return 0;
  }
  const i = pct * (n - 1);
  const lo = sorted[Math.floor(i)];
  const hi = sorted[Math.ceil(i)];
  return lo + (hi - lo) * (i - Math.floor(i));
}

class Sink {
  constructor(type, contains) {
    this.type = type;
    this.contains = contains;
    this.n = 0; // samples
    this.sum = 0;
    this.passes = 0;
    this.values = []; // trend only
    this.sorted = true;
    this.last = 0;
    this.min = Infinity;
    this.max = -Infinity;
  }

  add(v) {
    this.n++;
    this.sum += v;
    this.last = v;
    this.min = Math.min(this.min, v);
    this.max = Math.max(this.max, v);
    if (v !== 0) {
      this.passes++;
    }
    if (this.type === 'trend') {
      if (this.values.length > 0 && v < this.values[this.values.length - 1]) {
        this.sorted = false;
      }
      this.values.push(v);
    }
  }

  // stat returns one aggregation by its k6 name (count, rate, value, avg, min, max, med, p(N)).
  stat(name, durationSec) {
    const t = this.type;
    if (t === 'counter' && name === 'count') return this.sum;
    if (t === 'counter' && name === 'rate') return durationSec > 0 ? this.sum / durationSec : 0;
    if (t === 'rate' && name === 'rate') return this.n ? this.passes / this.n : 0;
    if (t === 'rate' && name === 'passes') return this.passes;
    if (t === 'rate' && name === 'fails') return this.n - this.passes;
    if (t === 'gauge' && name === 'value') return this.last;
    if (t === 'trend') {
      if (!this.sorted) {
        this.values.sort((a, b) => a - b);
        this.sorted = true;
      }
      const p = /^p\((\d+(?:\.\d+)?)\)$/.exec(name);
      if (p) return percentile(this.values, parseFloat(p[1]) / 100);
      if (name === 'med') return percentile(this.values, 0.5);
      if (name === 'avg') return this.n ? this.sum / this.n : 0;
      if (name === 'min') return this.n ? this.min : 0;
      if (name === 'max') return this.n ? this.max : 0;
      if (name === 'count') return this.n;
    }
    throw new Error(`${name} is not an aggregation of a ${t} metric`);
  }

  summaryValues(trendStats, durationSec) {
    switch (this.type) {
      case 'counter':
        return { count: this.stat('count'), rate: this.stat('rate', durationSec) };
      case 'rate':
        return { rate: this.stat('rate'), passes: this.passes, fails: this.n - this.passes };
      case 'gauge':
        return { value: this.last, min: this.n ? this.min : 0, max: this.n ? this.max : 0 };
      default:
        return Object.fromEntries(trendStats.map((s) => [s, this.stat(s)]));
    }
  }
}

const md5 = (s) => createHash('md5').update(s).digest('hex');

export class Registry {
  constructor() {
    this.defs = new Map(Object.entries(BUILTIN));
    this.sinks = new Map();
    this.checks = new Map(); // name -> {passes, fails}, in first-seen order
  }

  // declare records a metric a script created (new Counter(...) etc.), in any thread.
  declare(name, type, contains) {
    const d = this.defs.get(name);
    if (d && (d.type !== type || d.contains !== contains)) {
      throw new Error(`metric ${name} declared as ${type}/${contains} but it is ${d.type}/${d.contains}`);
    }
    this.defs.set(name, { type, contains });
  }

  // add takes one sample; check is the check's name for samples of `checks`.
  add(name, value, check) {
    const d = this.defs.get(name);
    if (!d) {
      throw new Error(`sample for undeclared metric ${name}`);
    }
    let s = this.sinks.get(name);
    if (!s) {
      s = new Sink(d.type, d.contains);
      this.sinks.set(name, s);
    }
    s.add(value);
    if (check !== undefined) {
      let c = this.checks.get(check);
      if (!c) {
        c = { passes: 0, fails: 0 };
        this.checks.set(check, c);
      }
      if (value) c.passes++;
      else c.fails++;
    }
  }

  // sink returns the metric's sink, an empty one for a declared metric without samples.
  sink(name) {
    const d = this.defs.get(name);
    if (!d) {
      return undefined;
    }
    return this.sinks.get(name) || new Sink(d.type, d.contains);
  }

  // summaryData builds handleSummary's argument: metrics with samples (and thresholded ones),
  // root_group.checks, options and state, in k6's shape.
  summaryData({ trendStats, durationMs, thresholdResults, setupData }) {
    const metrics = {};
    const names = new Set([...this.sinks.keys(), ...Object.keys(thresholdResults)]);
    for (const name of [...names].sort()) {
      const s = this.sink(name);
      const m = { type: s.type, contains: s.contains, values: s.summaryValues(trendStats, durationMs / 1000) };
      if (thresholdResults[name]) {
        m.thresholds = thresholdResults[name];
      }
      metrics[name] = m;
    }
    const checks = [...this.checks].map(([name, c]) => ({ name, path: `::${name}`, id: md5(`::${name}`), ...c }));
    const data = {
      root_group: { name: '', path: '', id: md5(''), groups: [], checks },
      options: { summaryTrendStats: trendStats, summaryTimeUnit: '', noColor: false },
      state: { isStdOutTTY: Boolean(process.stdout.isTTY), isStdErrTTY: Boolean(process.stderr.isTTY), testRunDurationMs: durationMs },
      metrics,
    };
    if (setupData !== undefined) {
      data.setup_data = setupData;
    }
    return data;
  }
}
