// Module hooks (node:module register): the k6 modules a script imports resolve to the shim's own,
// any other k6 module is refused by name, and the scripts' .js files load as ES modules (k6 scripts
// are ES modules; bench/k6 has no package.json to say so).
const SHIM = {
  k6: './modules/k6.mjs',
  'k6/ws': './modules/ws.mjs',
  'k6/metrics': './modules/metrics.mjs',
};

export async function resolve(specifier, context, next) {
  if (Object.hasOwn(SHIM, specifier)) {
    return { url: new URL(SHIM[specifier], import.meta.url).href, shortCircuit: true };
  }
  if (specifier === 'k6' || specifier.startsWith('k6/')) {
    throw new Error(`${specifier} is not emulated by the shim (it provides ${Object.keys(SHIM).join(', ')}; see bench/README.md)`);
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (url.startsWith('file:') && url.endsWith('.js') && !url.includes('/node_modules/')) {
    return next(url, { ...context, format: 'module' });
  }
  return next(url, context);
}
