//go:build race

package eventloop

// RaceEnabled shrinks the largest tests under the race detector, which slows
// everything several times and caps live goroutines at 8128. (Exported for
// the black-box tests; it exists only in test builds.)
const RaceEnabled = true
