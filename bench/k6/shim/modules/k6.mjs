// The 'k6' module: check() only (the scripts import nothing else from it).
import { rt } from '../runtime.mjs';

// check runs each named predicate on val, records one `checks` sample per predicate (pass or
// fail, by name), and returns whether all passed. A predicate that throws propagates, as in k6;
// a non-function value counts by its truthiness.
export function check(val, sets, tags) {
  void tags; // tags are accepted and not kept (no sub-metrics in the shim)
  let all = true;
  for (const [name, pred] of Object.entries(sets || {})) {
    const ok = Boolean(typeof pred === 'function' ? pred(val) : pred);
    rt.emit('checks', ok ? 1 : 0, name);
    all = all && ok;
  }
  return all;
}
