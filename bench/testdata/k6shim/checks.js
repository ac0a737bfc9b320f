// Shim fixture: check() results, __VU and __ITER, each VU's own init context, setup data, and a
// failing check failing the run (k6_shim_test.go).
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const initVU = __VU; // each VU evaluates the script itself, with its own __VU
const iters = new Counter('iters_seen');
const fromSetup = new Counter('setup_n');
const vus = new Trend('vu_seen');

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 2 } },
  summaryTrendStats: ['min', 'max', 'count'],
};

export function setup() {
  return { n: 5 };
}

export default function (data) {
  iters.add(__ITER);
  fromSetup.add(data.n);
  vus.add(__VU);
  check(__VU, { 'vu is 1': (v) => v === 1, 'init saw its own __VU': (v) => v === initVU, 'truthy value': 1 });
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY_JSON]: JSON.stringify(data) };
}
