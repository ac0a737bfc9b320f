// Shim fixture: Trend percentiles as k6 computes them, and a failing threshold (k6_shim_test.go).
import { Trend } from 'k6/metrics';

const t = new Trend('t');

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 1, iterations: 1 } },
  thresholds: { t: ['p(90)>90.09', 'p(90)<90.11', 'med<50'] },
  summaryTrendStats: ['med', 'p(90)', 'count'],
};

export default function () {
  for (let i = 100; i >= 1; i--) {
    t.add(i);
  }
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY_JSON]: JSON.stringify(data) };
}
