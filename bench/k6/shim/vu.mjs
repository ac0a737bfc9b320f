// One VU, in its own worker thread: evaluates the script in its own module graph (k6's init
// context, with __ENV and __VU set), reports the metrics it declared, waits for the start, runs
// its iterations of the default function synchronously and reports how they ended.
import { workerData } from 'node:worker_threads';
import { register } from 'node:module';
import { format } from 'node:util';
import { rt } from './runtime.mjs';
import * as ch from './channel.mjs';

function describe(e) {
  return e && e.stack ? e.stack : String(e);
}

// Node's own globals, which k6 does not have: a script that used one would pass here and fail
// under k6, so the script does not see them either.
const NODE_ONLY = ['process', 'Buffer', 'global', 'setImmediate', 'clearImmediate', 'fetch', 'require'];

function hideNodeGlobals() {
  for (const name of NODE_ONLY) {
    delete globalThis[name];
  }
}

// routeConsole sends the script's console output through the VU's port, in order with its other
// messages: a worker's own stdout reaches the main thread asynchronously and may be lost at exit.
// Like k6, every level goes to stderr.
function routeConsole() {
  for (const level of ['log', 'info', 'debug', 'warn', 'error']) {
    console[level] = (...args) => ch.post({ t: 'log', level, text: format(...args) });
  }
}

// waitStart blocks until the main thread says start (with setup()'s data), or the run stops.
function waitStart() {
  for (;;) {
    const m = ch.next(Infinity);
    if (m === ch.STOP) {
      return null;
    }
    if (m.t === 'start') {
      return m;
    }
  }
}

async function main() {
  register('./hooks.mjs', import.meta.url);
  ch.attach(workerData.port, workerData.ctl);
  globalThis.__ENV = workerData.env;
  globalThis.__VU = workerData.vu;
  globalThis.__ITER = 0;
  const declared = [];
  rt.declare = (name, type, contains) => declared.push([name, type, contains]);
  rt.emit = ch.sample;
  routeConsole();
  hideNodeGlobals();
  let mod;
  try {
    mod = await import(workerData.script);
    if (typeof mod.default !== 'function') {
      throw new Error('the script has no default function');
    }
  } catch (e) {
    ch.post({ t: 'initError', error: describe(e) });
    ch.close();
    return;
  }
  ch.post({ t: 'ready', declared });
  const start = waitStart();
  let errors = 0;
  let interrupted = 0;
  let iterations = 0;
  if (start) {
    const data = start.data === undefined ? undefined : JSON.parse(start.data);
    rt.phase = 'vu';
    for (let i = 0; i < start.iterations && !ch.noMoreIterations(); i++) {
      globalThis.__ITER = i;
      const t0 = Date.now();
      try {
        const r = mod.default(data);
        if (r && typeof r.then === 'function') {
          throw new Error('an async default function is not emulated by the shim');
        }
      } catch (e) {
        if (e instanceof ch.Interrupted) {
          interrupted++;
          break;
        }
        errors++;
        console.error(`iteration ${i}: ${describe(e)}`);
      }
      iterations++;
      rt.emit('iterations', 1);
      rt.emit('iteration_duration', Date.now() - t0);
    }
  }
  ch.post({ t: 'done', errors, interrupted, iterations });
  ch.close();
}

await main();
