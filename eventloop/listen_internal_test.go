package eventloop

import (
	"context"
	"net"
	"testing"
)

// A port picked for port 0 stays reserved until release: a plain socket
// cannot take it (nor could another server's port-0 pick), while a
// SO_REUSEPORT listener, as gnet's are, can join it. After release the port
// is free again.
func TestListenAddrReservesPortZero(t *testing.T) {
	addr, release, err := listenAddr("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		release()
		t.Fatalf("a plain listener took %s while it was reserved", addr)
	}
	lc := net.ListenConfig{Control: setReusePort}
	joined, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		release()
		t.Fatalf("a SO_REUSEPORT listener (as gnet's) could not join %s: %v", addr, err)
	}
	release()
	joined.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("%s still taken after release: %v", addr, err)
	}
	ln.Close()
}
