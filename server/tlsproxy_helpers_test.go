package server_test

import (
	"crypto/tls"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
	"github.com/gorilla/websocket"
)

// requireTools skips the test when a tool is missing, or fails it when one
// of the env variables is "1" (CI sets them: a missing tool is a failure).
func requireTools(t *testing.T, envs []string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			for _, e := range envs {
				if os.Getenv(e) == "1" {
					t.Fatalf("%s is required (%s=1) but not installed", tool, e)
				}
			}
			t.Skipf("%s not installed (set %s=1 to fail instead)", tool, strings.Join(envs, " or "))
		}
	}
}

// startProxiedNode starts a cluster node on rs that trusts the proxy on
// 127.0.0.1 and allows maxPerIP connections per client address.
func startProxiedNode(t *testing.T, rs *redistest.Server, name string, maxPerIP int) *server.Server {
	t.Helper()
	log := testLogger(t, name)
	o := redisbroker.Options{URL: rs.URL(), NodeID: name, Logger: log}
	fastCluster(&o)
	b, err := redisbroker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, func(c *server.Config) {
		c.Broker = b
		c.NodeID = name
		c.Logger = log
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.MaxConnsPerIP = maxPerIP
	})
}

// startProxy runs scripts/deploy/proxy.sh (kind: nginx or haproxy) with a
// throw-away certificate on a free loopback port in front of the nodes, and
// stops it when the test ends. It returns the proxy's host:port.
func startProxy(t *testing.T, kind string, nodes ...*server.Server) string {
	t.Helper()
	script, _ := filepath.Abs("../scripts/deploy/proxy.sh")
	var ups []string
	for _, n := range nodes {
		ups = append(ups, n.Addr())
	}
	port := strconv.Itoa(proxyPort(t))
	dir := t.TempDir()
	env := append(os.Environ(), "PROXY="+kind, "PROXY_DIR="+dir, "UPSTREAMS="+strings.Join(ups, " "))
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command(script, args...)
		cmd.Env = env
		return cmd.CombinedOutput()
	}
	out, err := run("start", port)
	t.Logf("proxy.sh start:\n%s", out)
	if err != nil {
		t.Fatalf("proxy.sh start: %v", err)
	}
	t.Cleanup(func() {
		if out, err := run("stop"); err != nil {
			t.Errorf("proxy.sh stop: %v\n%s", err, out)
		}
	})
	t.Cleanup(func() { logProxyFiles(t, dir) }) // (runs before the stop)
	return "127.0.0.1:" + port
}

// logProxyFiles logs the proxy's own logs (nginx's access and error logs)
// when t failed: which requests got which status, which upstream was taken
// out, what the proxy retried.
func logProxyFiles(t *testing.T, dir string) {
	if !t.Failed() {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range logs {
		if !strings.Contains(filepath.Base(f), "access") && !strings.Contains(filepath.Base(f), "error") {
			continue // (openssl's key generation)
		}
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		const max = 64 << 10
		if len(b) > max {
			b = b[len(b)-max:]
		}
		t.Logf("%s (the proxy's, last %d bytes):\n%s", filepath.Base(f), len(b), b)
	}
}

// proxyPort returns a loopback port, free a moment ago together with the
// next one (nginx.conf's plain-HTTP server takes it), below the kernel's
// ephemeral range: the proxy binds it from another process, after this
// returns, and a port from the ephemeral range can be taken meanwhile as the
// local port of any outgoing connection (other tests open thousands).
func proxyPort(t *testing.T) int {
	t.Helper()
	for try := 0; try < 100; try++ {
		p := 20000 + rand.IntN(12000) // ip_local_port_range starts at 32768 by default
		a, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p
	}
	t.Fatal("no free pair of loopback ports in 20000-32000")
	return 0
}

// dialTLS upgrades through the proxy from the loopback source address src
// (so that the client is not at the trusted proxy's address), as a browser
// on the proxy's page would: with its Origin. Extra headers are the
// client's own (e.g. a spoofed X-Forwarded-For). It returns the status.
func dialTLS(t *testing.T, proxy, src string, hdr ...string) (int, *websocket.Conn) {
	t.Helper()
	nd := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	d := websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 10 * time.Second,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // the proxy's throw-away certificate
	h := http.Header{"Origin": {"https://" + proxy}}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Add(hdr[i], hdr[i+1])
	}
	ws, resp, err := d.Dial("wss://"+proxy+"/ws", h)
	if err != nil {
		if resp == nil {
			t.Fatalf("dial through the proxy: %v", err)
		}
		return resp.StatusCode, nil
	}
	t.Cleanup(func() { ws.Close() })
	return 101, ws
}
