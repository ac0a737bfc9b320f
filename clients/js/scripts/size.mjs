#!/usr/bin/env node
// Bundle size: the client as a browser app would ship it (src/index.ts bundled, minified), raw and
// gzipped (level 9). Any ES module files given after are measured the same way (minified alone,
// not bundled), e.g. another client's published build for comparison:
//
//   node scripts/size.mjs [other.mjs ...]
import { build, transform } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const gz = (s) => zlib.gzipSync(Buffer.from(s), { level: 9 }).length;
const show = (name, raw, min) => console.log(`${name}: ${raw} B source, ${Buffer.byteLength(min)} B minified, ${gz(min)} B minified+gzip`);

const ours = await build({ entryPoints: [path.join(root, 'src', 'index.ts')], bundle: true, minify: true, format: 'esm',
  target: 'es2020', write: false, logLevel: 'warning' });
const unmin = await build({ entryPoints: [path.join(root, 'src', 'index.ts')], bundle: true, format: 'esm',
  target: 'es2020', write: false, logLevel: 'warning' });
show('@chatd/client (src/index.ts, bundled)', unmin.outputFiles[0].contents.length, ours.outputFiles[0].text);
for (const f of process.argv.slice(2)) {
  const src = fs.readFileSync(f, 'utf8');
  const min = await transform(src, { minify: true, format: 'esm', target: 'es2020', logLevel: 'warning' });
  show(f, Buffer.byteLength(src), min.code);
}
