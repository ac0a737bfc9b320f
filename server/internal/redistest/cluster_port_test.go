package redistest

import (
	"net"
	"testing"
)

// A cluster node's port leaves room for its bus port: redis-server refuses
// cluster mode above 55535 (its bus port is 10,000 higher), which the
// kernel's ephemeral ports reach (up to 60999 here), in runs of nearby
// numbers. Ports whose bus port is taken are passed over too.
func TestClusterPortFrom(t *testing.T) {
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0") // an ephemeral port: 10,000 and more
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	port := func(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }
	taken := listen()
	defer taken.Close()
	closed := listen()
	_ = closed.Close()
	busTaken, busFree := port(taken)-10000, port(closed)-10000 // nodes whose bus port is taken, free
	ports := []int{60001, 55536, 60999, busTaken, busFree}
	i := 0
	got := clusterPortFrom(t, func() int { p := ports[i]; i++; return p })
	if got != busFree || i != len(ports) {
		t.Fatalf("got %d after %d of %v; want %d, the first at most 55535 with a free bus port", got, i, ports, busFree)
	}
	for range 100 {
		if p := freeClusterPort(t); p > 55535 {
			t.Fatalf("freeClusterPort: %d", p)
		}
	}
}
