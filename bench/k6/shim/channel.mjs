// The VU worker's side of its link to the main thread. k6 runs a VU's JavaScript synchronously:
// ws.connect blocks until the socket closes while its event handlers run. So a VU never yields to
// Node's event loop; it blocks on a shared counter instead (Atomics.wait) and pulls the main
// thread's messages synchronously (receiveMessageOnPort). The sockets themselves live in the
// main thread.
//
// ctl (Int32Array over a SharedArrayBuffer): [0] counts messages posted to this VU (the main
// thread adds 1 and notifies after each post); [1] is 1 once the VU must stop (interrupt); [2] is
// 1 once it must not start another iteration.
import { receiveMessageOnPort } from 'node:worker_threads';

let port;
let ctl;
let samples = [];

// STOP is what next() returns once the run interrupts this VU.
export const STOP = Symbol('stop');

// Interrupted is thrown out of a blocking call when the run interrupts the VU (maxDuration plus
// gracefulStop passed), ending the iteration as k6 does.
export class Interrupted extends Error {
  constructor() {
    super('iteration interrupted: maxDuration + gracefulStop passed');
  }
}

export function attach(p, sab) {
  port = p;
  ctl = new Int32Array(sab);
}

// post sends msg after the buffered samples, so the main thread sees them in the order they
// happened (a VU's samples are all in before its 'done').
export function post(msg) {
  flush();
  port.postMessage(msg);
}

// sample buffers one metric sample; buffers go to the main thread before the VU blocks, and at
// the end of the iteration.
export function sample(name, value, check) {
  samples.push(check === undefined ? [name, value] : [name, value, check]);
  if (samples.length >= 1024) {
    flush();
  }
}

export function flush() {
  if (samples.length > 0) {
    port.postMessage({ t: 'samples', list: samples });
    samples = [];
  }
}

export function noMoreIterations() {
  return Atomics.load(ctl, 2) === 1;
}

// next returns the next message from the main thread, null once `deadline` (ms since the epoch;
// Infinity for none) has passed without one, or STOP. The counter is read before the queue is
// polled, so a message posted after the poll changes it and Atomics.wait returns at once: no
// wake-up is lost.
export function next(deadline) {
  flush();
  for (;;) {
    const seen = Atomics.load(ctl, 0);
    const m = receiveMessageOnPort(port);
    if (m) {
      return m.message;
    }
    if (Atomics.load(ctl, 1) === 1) {
      return STOP;
    }
    const wait = deadline - Date.now();
    if (wait <= 0) {
      return null;
    }
    Atomics.wait(ctl, 0, seen, wait);
  }
}

export function close() {
  flush();
  port.close();
}
