// The 'k6/metrics' module: Counter and Trend (the scripts import no Rate or Gauge).
import { rt } from '../runtime.mjs';

// k6's rule for metric names.
const NAME = /^[\p{L}\p{N}._ !?/&#()<>%-]{1,128}$/u;

class Metric {
  constructor(name, type, isTime) {
    if (rt.phase !== 'init') {
      throw new Error('metrics must be declared in the init context');
    }
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    }
    this.name = name;
    rt.declare(name, type, isTime ? 'time' : 'default');
  }

  // add records one sample; tags are accepted and not kept. Booleans count as 1/0, as in k6. A
  // value that is not a finite number throws: it is a bug in the script's own accounting.
  add(value, tags) {
    void tags;
    if (rt.phase === 'init') {
      throw new Error(`${this.name}: metrics cannot be added in the init context`);
    }
    const v = typeof value === 'boolean' ? Number(value) : value;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new Error(`'${value}' is an invalid value for metric '${this.name}', a number or a boolean value is expected`);
    }
    rt.emit(this.name, v);
  }
}

export class Counter extends Metric {
  constructor(name, isTime) {
    super(name, 'counter', isTime);
  }
}

export class Trend extends Metric {
  constructor(name, isTime) {
    super(name, 'trend', isTime);
  }
}
