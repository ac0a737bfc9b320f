// Shim fixture: a socket nobody closes; maxDuration + gracefulStop must interrupt the iteration
// (closing the socket with 1001) and bound the run.
import ws from 'k6/ws';

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '1s', gracefulStop: '0s' } },
};

export default function () {
  ws.connect(`${__ENV.URL}/echo`, null, () => {});
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY_JSON]: JSON.stringify(data) };
}
