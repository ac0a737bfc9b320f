// k6 thresholds: { metric: ['p(99)<100', ...] }, each "<aggregation> <op> <number>", checked once at
// the end of the run against the metric's sink (k6 also checks them during the run, which only
// matters for abortOnFail, which the shim refuses).
import { OptionsError } from './options.mjs';

const EXPR = /^\s*(count|rate|value|avg|min|max|med|p\(\d+(?:\.\d+)?\))\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/;
const ALLOWED = {
  counter: /^(count|rate)$/,
  gauge: /^value$/,
  rate: /^rate$/,
  trend: /^(avg|min|max|med|p\(.*\))$/,
};
const OPS = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '==': (a, b) => a === b,
  '===': (a, b) => a === b,
  '!=': (a, b) => a !== b,
};

// parse validates every threshold against the declared metrics before the run starts, as k6 does.
export function parse(thresholds, registry) {
  const out = [];
  for (const [metric, list] of Object.entries(thresholds)) {
    if (metric.includes('{')) {
      throw new OptionsError(`threshold on sub-metric ${metric} (tags are not kept; not emulated by the shim)`);
    }
    const def = registry.defs.get(metric);
    if (!def) {
      throw new OptionsError(`threshold on unknown metric ${metric}`);
    }
    for (const item of Array.isArray(list) ? list : [list]) {
      let src = item;
      if (typeof item === 'object' && item !== null) {
        if (item.abortOnFail) {
          throw new OptionsError(`threshold ${metric}: abortOnFail (not emulated by the shim)`);
        }
        src = item.threshold;
      }
      const m = EXPR.exec(String(src));
      if (!m) {
        throw new OptionsError(`threshold ${metric}: cannot parse ${JSON.stringify(src)}`);
      }
      if (!ALLOWED[def.type].test(m[1])) {
        throw new OptionsError(`threshold ${metric}: ${m[1]} is not an aggregation of a ${def.type} metric`);
      }
      out.push({ metric, source: String(src), agg: m[1], op: OPS[m[2]], bound: parseFloat(m[3]) });
    }
  }
  return out;
}

// evaluate returns { metric: { source: { ok } } } and the failed thresholds as "metric: source (was v)".
export function evaluate(parsed, registry, durationMs) {
  const results = {};
  const failed = [];
  for (const t of parsed) {
    const v = registry.sink(t.metric).stat(t.agg, durationMs / 1000);
    const ok = t.op(v, t.bound);
    (results[t.metric] ||= {})[t.source] = { ok };
    if (!ok) {
      failed.push(`${t.metric}: ${t.source} (was ${v})`);
    }
  }
  return { results, failed };
}
