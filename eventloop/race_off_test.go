//go:build !race

package eventloop

// RaceEnabled shrinks the largest tests under the race detector.
const RaceEnabled = false
