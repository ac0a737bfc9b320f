// Shim fixture: an executor the shim does not emulate must be refused, not run some other way.
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 1, duration: '1s' } } };

export default function () {}
