#!/usr/bin/env node
// A small stand-in for `k6 run`, enough to run chatd's k6 scripts (bench/k6/*.js) in the test
// suite, where k6 cannot be installed. It emulates only the k6 APIs and options those scripts use
// and refuses the rest by name; bench/README.md lists both.
//
//   node bench/k6/shim/k6.mjs run [-e KEY=VALUE]... script.js
//
// Exit status: 0 pass; 99 a threshold failed (as k6); 104 options the shim cannot run; 107 the
// script threw in init, setup or handleSummary; 1 a check failed, an iteration threw or was
// interrupted (k6 itself would exit 0 there; the shim is a test, so it fails); 2 usage.
import { register } from 'node:module';
import { writeFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { rt } from './runtime.mjs';
import { plan, OptionsError } from './options.mjs';
import { Registry } from './sinks.mjs';
import * as thresholds from './thresholds.mjs';
import { VUHost } from './host.mjs';

const EXIT = { strict: 1, usage: 2, thresholds: 99, config: 104, script: 107 };

class Exit extends Error {
  constructor(code, msg) {
    super(msg);
    this.code = code;
  }
}

function parseArgs(argv) {
  if (argv[0] !== 'run') {
    throw new Exit(EXIT.usage, 'usage: k6.mjs run [-e KEY=VALUE]... script.js');
  }
  // k6 run puts the process environment in __ENV too (--include-system-env-vars defaults to on).
  const env = { ...process.env };
  let script = null;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-e' || a === '--env') {
      const kv = argv[++i] || '';
      const eq = kv.indexOf('=');
      if (eq <= 0) {
        throw new Exit(EXIT.usage, `-e wants KEY=VALUE, got ${JSON.stringify(kv)}`);
      }
      env[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (a.startsWith('-')) {
      throw new Exit(EXIT.usage, `flag ${a} is not emulated by the shim`);
    } else if (script === null) {
      script = a;
    } else {
      throw new Exit(EXIT.usage, `one script, got ${script} and ${a}`);
    }
  }
  if (script === null) {
    throw new Exit(EXIT.usage, 'no script given');
  }
  return { env, script: pathToFileURL(resolvePath(script)).href };
}

// defaultSummary stands in for k6's text summary when the script has no handleSummary: one
// line per metric with its summary values.
function defaultSummary(data) {
  const lines = Object.entries(data.metrics).map(([name, m]) => {
    const vals = Object.entries(m.values).map(([k, v]) => `${k}=${Math.round(v * 1000) / 1000}`);
    return `${name}: ${vals.join(' ')}`;
  });
  return lines.join('\n') + '\n';
}

function writeOutputs(outputs) {
  for (const [dest, content] of Object.entries(outputs || {})) {
    const text = typeof content === 'string' ? content : JSON.stringify(content);
    if (dest === 'stdout') {
      process.stdout.write(text);
    } else if (dest === 'stderr') {
      process.stderr.write(text);
    } else {
      writeFileSync(dest, text);
    }
  }
}

// scheduleStop: at maxDuration no VU starts another iteration; gracefulStop later the VUs still
// in one are interrupted (their blocking call returns at once); a VU stuck in its own code
// past that is terminated.
function scheduleStop(hosts, p) {
  const timers = [
    setTimeout(() => hosts.forEach((h) => h.noMoreIterations()), p.maxDurationMs),
    setTimeout(() => hosts.forEach((h) => h.interrupt()), p.maxDurationMs + p.gracefulStopMs),
    setTimeout(() => hosts.forEach((h) => h.worker.terminate()), p.maxDurationMs + p.gracefulStopMs + 5000),
  ];
  return () => timers.forEach(clearTimeout);
}

async function run(argv) {
  const { env, script } = parseArgs(argv);
  // k6 logs console output to stderr; stdout is the summary's.
  console.log = console.info = console.debug = console.error;
  register('./hooks.mjs', import.meta.url);
  const registry = new Registry();
  rt.declare = (name, type, contains) => registry.declare(name, type, contains);
  rt.emit = (name, value, check) => registry.add(name, value, check);

  // VU 0's init context gives the options, as in k6.
  globalThis.__ENV = env;
  globalThis.__VU = 0;
  globalThis.__ITER = 0;
  let mod;
  try {
    mod = await import(script);
  } catch (e) {
    throw new Exit(EXIT.script, `init: ${e.stack || e}`);
  }
  let p;
  let parsed;
  try {
    p = plan(mod.options);
    if (typeof mod.teardown === 'function') {
      throw new OptionsError('teardown() (not emulated by the shim)');
    }
    parsed = thresholds.parse(p.thresholds, registry);
  } catch (e) {
    throw new Exit(e instanceof OptionsError ? EXIT.config : EXIT.script, e.message);
  }

  // Every VU is initialised before setup() runs and before any starts, as in k6.
  const hosts = [];
  for (let vu = 1; vu <= p.vus; vu++) {
    hosts.push(new VUHost({ vu, script, env, registry }));
  }
  try {
    await Promise.all(hosts.map((h) => h.ready));
  } catch (e) {
    hosts.forEach((h) => h.worker.terminate());
    throw new Exit(EXIT.script, e.message);
  }

  rt.phase = 'setup';
  let setupJSON;
  if (typeof mod.setup === 'function') {
    try {
      const r = mod.setup();
      setupJSON = r === undefined ? undefined : JSON.stringify(r); // VUs get a copy, as in k6
    } catch (e) {
      hosts.forEach((h) => h.worker.terminate());
      throw new Exit(EXIT.script, `setup: ${e.stack || e}`);
    }
  }

  const t0 = Date.now();
  hosts.forEach((h) => h.start(setupJSON, p.iterations));
  const cancelStop = scheduleStop(hosts, p);
  const results = await Promise.all(hosts.map((h) => h.done));
  cancelStop();
  const durationMs = Date.now() - t0;
  // Let the close handshakes the scripts started finish (a second at most), so the servers see
  // close frames, not resets, at the end.
  await Promise.all(hosts.flatMap((h) => [...h.closing]));

  const { results: thr, failed } = thresholds.evaluate(parsed, registry, durationMs);
  rt.phase = 'summary';
  const data = registry.summaryData({
    trendStats: p.trendStats,
    durationMs,
    thresholdResults: thr,
    setupData: setupJSON === undefined ? undefined : JSON.parse(setupJSON),
  });
  try {
    writeOutputs(typeof mod.handleSummary === 'function' ? mod.handleSummary(data) : { stdout: defaultSummary(data) });
  } catch (e) {
    throw new Exit(EXIT.script, `handleSummary: ${e.stack || e}`);
  }

  // The verdict.
  const problems = [];
  for (const r of results) {
    if (r.fatal) problems.push(r.fatal);
  }
  const errors = results.reduce((n, r) => n + (r.errors || 0), 0);
  const interrupted = results.reduce((n, r) => n + (r.interrupted || 0), 0);
  const iterations = results.reduce((n, r) => n + (r.iterations || 0), 0);
  if (errors) problems.push(`${errors} iterations threw`);
  if (interrupted) problems.push(`${interrupted} iterations interrupted`);
  for (const [name, c] of registry.checks) {
    if (c.fails) problems.push(`check "${name}" failed ${c.fails} of ${c.passes + c.fails}`);
  }
  for (const f of failed) problems.push(`threshold ${f} failed`);
  const checks = [...registry.checks.values()].reduce((a, c) => [a[0] + c.passes, a[1] + c.passes + c.fails], [0, 0]);
  process.stderr.write(
    `shim: ${p.vus} VUs, ${iterations} iterations in ${(durationMs / 1000).toFixed(1)}s, ` +
      `checks ${checks[0]}/${checks[1]} passed, ${parsed.length - failed.length}/${parsed.length} thresholds passed` +
      (problems.length ? `\nshim: FAIL\n  ${problems.join('\n  ')}\n` : '\nshim: PASS\n'),
  );
  if (failed.length) return EXIT.thresholds;
  return problems.length ? EXIT.strict : 0;
}

let code;
try {
  code = await run(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof Exit)) throw e;
  process.stderr.write(`shim: ${e.message}\n`);
  code = e.code;
}
// Sockets the server has not finished closing must not hold the exit.
process.exit(code);
