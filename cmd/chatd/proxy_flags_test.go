package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestProxyFlags(t *testing.T) {
	o, err := parseFlags([]string{"-trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1,192.168.1.7/16"},
		env(map[string]string{"CHATD_MAX_CONNS_PER_IP": "50"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(o.cfg.TrustedProxies); got != "[10.0.0.0/8 127.0.0.1/32 ::1/128 192.168.0.0/16]" {
		t.Errorf("trusted proxies %s", got)
	}
	if o.cfg.MaxConnsPerIP != 50 {
		t.Errorf("max conns per ip %d, want 50 from the environment", o.cfg.MaxConnsPerIP)
	}
	o, err = parseFlags(nil, env(map[string]string{"CHATD_TRUSTED_PROXIES": "::ffff:10.1.2.3"}))
	if err != nil || fmt.Sprint(o.cfg.TrustedProxies) != "[10.1.2.3/32]" || o.cfg.MaxConnsPerIP != 0 {
		t.Errorf("from the environment: %v %v %d", err, o.cfg.TrustedProxies, o.cfg.MaxConnsPerIP)
	}
	for _, args := range [][]string{
		{"-trusted-proxies", "10.0.0.0/33"}, {"-trusted-proxies", "proxy.local"},
		{"-max-conns-per-ip", "-1"}, {"-metrics-on-main", "sometimes"},
	} {
		if _, err := parseFlags(args, env(nil)); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: got %v, want an error naming %s", args, err, args[0])
		}
	}
}

func TestMetricsOnMainFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		off  bool
	}{
		{nil, false},
		{[]string{"-admin", "127.0.0.1:9090"}, true},
		{[]string{"-admin", "127.0.0.1:9090", "-metrics-on-main", "on"}, false},
		{[]string{"-metrics-on-main", "off"}, true},
		{[]string{"-metrics-on-main", "auto"}, false},
	} {
		o, err := parseFlags(tc.args, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if o.cfg.NoMetricsOnMain != tc.off {
			t.Errorf("%v: /metrics off the main port = %v, want %v", tc.args, o.cfg.NoMetricsOnMain, tc.off)
		}
	}
}

// CHATD_HELP and CHATD_VERSION in a service's environment must not make it
// print and exit: they are ignored, with a warning.
func TestHelpAndVersionNeverFromEnv(t *testing.T) {
	o, err := parseFlags(nil, env(map[string]string{"CHATD_HELP": "1", "CHATD_VERSION": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if o.help || o.version {
		t.Fatalf("help %v version %v from the environment", o.help, o.version)
	}
	w := strings.Join(o.warnings, "\n")
	if !strings.Contains(w, "CHATD_HELP is ignored") || !strings.Contains(w, "CHATD_VERSION is ignored") {
		t.Fatalf("warnings %q", o.warnings)
	}
	var b bytes.Buffer
	printHelp(&b)
	if strings.Contains(b.String(), "CHATD_HELP") || strings.Contains(b.String(), "CHATD_VERSION") {
		t.Error("-help offers CHATD_HELP or CHATD_VERSION")
	}
}

func TestConfigWarnings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" = no warning
	}{
		{[]string{"-addr", ":8080"}, "-allowed-origins is empty"},
		{[]string{"-addr", "0.0.0.0:8080"}, "-allowed-origins is empty"},
		{[]string{"-addr", "10.0.0.5:8080"}, "-allowed-origins is empty"},
		{[]string{"-addr", "127.0.0.1:8080"}, ""},
		{[]string{"-addr", "[::1]:8080"}, ""},
		{[]string{"-addr", "localhost:8080"}, ""},
		{[]string{"-addr", ":8080", "-allowed-origins", "https://chat.example.com"}, ""},
		{[]string{"-addr", "127.0.0.1:8080", "-trusted-proxies", "0.0.0.0/0"}, "every peer is trusted"},
	} {
		o, err := parseFlags(tc.args, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(o.warnings, "\n")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%v: warnings %q, want %q", tc.args, got, tc.want)
		}
	}
}
