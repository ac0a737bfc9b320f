// Reads a script's exported options into the one plan the shim can run, and refuses everything
// else by name: a run that silently ignored an option would pass here and behave differently
// under k6.
import { parseDuration } from './duration.mjs';

// k6's default summaryTrendStats.
export const DEFAULT_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)'];

const TOP_LEVEL = new Set(['scenarios', 'thresholds', 'summaryTrendStats']);
const SCENARIO_KEYS = new Set(['executor', 'vus', 'iterations', 'maxDuration', 'gracefulStop']);

export class OptionsError extends Error {}

function refuse(msg) {
  throw new OptionsError(`${msg} (not emulated by the shim; see bench/README.md)`);
}

// plan returns { scenario, vus, iterations, maxDurationMs, gracefulStopMs, thresholds, trendStats }.
export function plan(options) {
  if (!options || typeof options !== 'object') {
    refuse('the script exports no options object');
  }
  for (const k of Object.keys(options)) {
    if (!TOP_LEVEL.has(k)) {
      refuse(`option ${k}`);
    }
  }
  const names = Object.keys(options.scenarios || {});
  if (names.length !== 1) {
    refuse(`${names.length} scenarios: exactly one is supported`);
  }
  const name = names[0];
  const sc = options.scenarios[name];
  if (sc.executor !== 'per-vu-iterations') {
    refuse(`scenario ${name}: executor ${sc.executor}`);
  }
  for (const k of Object.keys(sc)) {
    if (!SCENARIO_KEYS.has(k)) {
      refuse(`scenario ${name}: ${k}`);
    }
  }
  const count = (v, def, what) => {
    const n = v === undefined ? def : v;
    if (!Number.isInteger(n) || n < 1) {
      throw new OptionsError(`scenario ${name}: ${what} must be a positive integer, got ${v}`);
    }
    return n;
  };
  const trendStats = options.summaryTrendStats || DEFAULT_TREND_STATS;
  if (!Array.isArray(trendStats)) {
    throw new OptionsError('summaryTrendStats must be an array');
  }
  // k6's defaults for per-vu-iterations: 1 VU, 1 iteration, maxDuration 10m, gracefulStop 30s.
  return {
    scenario: name,
    vus: count(sc.vus, 1, 'vus'),
    iterations: count(sc.iterations, 1, 'iterations'),
    maxDurationMs: parseDuration(sc.maxDuration === undefined ? '10m' : sc.maxDuration, `scenario ${name}: maxDuration`),
    gracefulStopMs: parseDuration(sc.gracefulStop === undefined ? '30s' : sc.gracefulStop, `scenario ${name}: gracefulStop`),
    thresholds: options.thresholds || {},
    trendStats,
  };
}
