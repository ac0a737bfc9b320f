#!/usr/bin/env node
// Builds the package.
//
//   node scripts/build.mjs dist          dist/: ES modules (esbuild, one per source file) and type
//                                         declarations (tsc, which type-checks): what npm ships
//   node scripts/build.mjs js            dist/*.js only, in a blink: what the unit tests import
//   node scripts/build.mjs web [--out F]  the browser bundle that chatd serves (esbuild): one ES module,
//                                         ../../server/web/chatd-client.js unless --out says where
//
// The web bundle is committed (chatd embeds server/web with go:embed); server/sdk_typescript_test.go
// fails when it differs from what this script builds from src/.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const [what, ...rest] = process.argv.slice(2);

async function js() {
  fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  const { build } = await import('esbuild');
  const src = path.join(root, 'src');
  await build({
    entryPoints: fs.readdirSync(src).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => path.join(src, f)),
    outdir: path.join(root, 'dist'),
    format: 'esm',
    target: 'es2020',
    platform: 'neutral',
    bundle: false,
    sourcemap: false,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'warning',
  });
}

function declarations() {
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json'),
    '--emitDeclarationOnly'], { stdio: 'inherit' });
}

async function web() {
  const i = rest.indexOf('--out');
  const out = i >= 0 ? path.resolve(rest[i + 1]) : path.resolve(root, '..', '..', 'server', 'web', 'chatd-client.js');
  const { build } = await import('esbuild');
  await build({
    entryPoints: [path.join(root, 'src', 'index.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2020',
    platform: 'browser',
    outfile: out,
    legalComments: 'none',
    charset: 'utf8',
    banner: { js: `// @chatd/client ${pkg.version}: generated from clients/js/src by "npm run build:web" (esbuild); do not edit.` },
    logLevel: 'warning',
  });
}

if (what === 'dist') {
  await js();
  declarations();
} else if (what === 'js') {
  await js();
} else if (what === 'web') {
  await web();
} else {
  console.error('usage: node scripts/build.mjs dist | js | web [--out FILE]');
  process.exit(2);
}
