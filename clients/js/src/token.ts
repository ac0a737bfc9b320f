import { base64Decode } from './host.js';

/**
 * @internal The `exp` of a JWT, in ms since the epoch, read without verifying the token (the
 * server verifies it; the client only needs to know when to ask for a new one). Undefined when the
 * token is not a JWT with a numeric `exp`.
 */
export function tokenExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  let b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
  while (b64.length % 4) b64 += '=';
  const json = base64Decode(b64);
  if (json === undefined) return undefined;
  try {
    const claims = JSON.parse(json) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * @internal When to refresh a token valid from `from` to `exp` (ms): a third of its life before
 * `exp`, at most 30 s and at least 1 s before it, and never before `from`.
 */
export function refreshAt(from: number, exp: number): number {
  const margin = Math.min(30000, Math.max(1000, (exp - from) / 3));
  return Math.max(from, exp - margin);
}
