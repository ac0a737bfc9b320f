package main

import (
	"strings"
	"testing"

	"github.com/chatd/chatd/server"
)

// The node-wide transport limits of issues 19 and 24: defaults, flags,
// environment, bad values.
func TestNodeTransportFlags(t *testing.T) {
	o, err := parseFlags(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c := o.cfg; c.PendingPressure != server.DefaultPendingPressure || c.MaxNodeOutboundBytes != server.DefaultMaxNodeOutboundBytes {
		t.Fatalf("defaults: pressure %d, node outbound %d", c.PendingPressure, c.MaxNodeOutboundBytes)
	}
	for _, tc := range []struct {
		args          []string
		env           map[string]string
		pressure, out int
	}{
		{[]string{"-pending-pressure", "100", "-max-node-outbound-bytes", "1048576"}, nil, 100, 1 << 20},
		{nil, map[string]string{"CHATD_PENDING_PRESSURE": "-1", "CHATD_MAX_NODE_OUTBOUND_BYTES": "-1"}, -1, -1},
		{[]string{"-pending-pressure", "7"}, map[string]string{"CHATD_PENDING_PRESSURE": "9"}, 7, server.DefaultMaxNodeOutboundBytes},
	} {
		o, err := parseFlags(tc.args, env(tc.env))
		if err != nil {
			t.Fatalf("%v %v: %v", tc.args, tc.env, err)
		}
		if c := o.cfg; c.PendingPressure != tc.pressure || c.MaxNodeOutboundBytes != tc.out {
			t.Errorf("%v %v: pressure %d, node outbound %d; want %d, %d", tc.args, tc.env, c.PendingPressure,
				c.MaxNodeOutboundBytes, tc.pressure, tc.out)
		}
	}
	for _, args := range [][]string{
		{"-pending-pressure", "0"}, {"-max-node-outbound-bytes", "0"}, {"-max-node-outbound-bytes", "1023"},
	} {
		if _, err := parseFlags(args, env(nil)); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: got %v, want an error about %s", args, err, args[0])
		}
	}
}
