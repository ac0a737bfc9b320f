package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestEndToEndV2FanoutAgainstChatd: protocol v2 against a real chatd, count-bounded. In one
// process every member is in 3 of 6 rooms over two URLs; in two processes one room each. Every
// message must reach every other member of its room exactly once, in order, and every publish
// must be answered ok.
func TestEndToEndV2FanoutAgainstChatd(t *testing.T) {
	longTest(t)
	addr, pid := startChatd(t)
	const clients, rooms, k, count = 60, 6, 3, 9
	args := []string{"fanout", "-proto", "v2", "-rooms-per-client", strconv.Itoa(k), "-url", fmt.Sprintf("ws://%s/ws,ws://%s", addr, addr),
		"-clients", strconv.Itoa(clients), "-rooms", strconv.Itoa(rooms), "-rate", "5", "-count", strconv.Itoa(count),
		"-warmup", "0", "-duration", "1m", "-drain", "30s", "-progress", "0", "-pids", strconv.Itoa(pid)}
	cfg, err := ParseFlags(args[0], args[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunLocal(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 180 memberships: rooms of 30; each member sends 3 messages to each of its rooms.
	sent := uint64(clients * count)
	if !res.Pass || res.Sent != sent || res.Expected != rooms*90*29 || res.Delivered != res.Expected || res.Lost != 0 ||
		res.Duplicated != 0 || res.OutOfOrder != 0 || res.Acks != sent || res.SelfPushes != 0 || res.Echoes != 0 {
		t.Fatalf("v2 fanout, %d rooms per member, against chatd:\n%s", k, summary(res))
	}
	t.Logf("\n%s", summary(res))

	// Two load processes, one room per member, through the CLI's JSON line.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pargs := append(append([]string{}, args...), "-rooms-per-client", "1", "-procs", "2", "-json")
	pcfg, err := ParseFlags(pargs[0], pargs[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	pres, err := RunParent(context.Background(), pcfg, exe, pargs, nil, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !pres.Pass || pres.Procs != 2 || pres.Sent != sent || pres.Delivered != sent*(clients/rooms-1) || pres.Acks != sent {
		t.Fatalf("v2 fanout in 2 processes against chatd:\n%s\n%s", summary(pres), errOut.String())
	}
}

// TestEndToEndRecoveryAgainstChatd runs the recovery workload against a real chatd, which keeps
// each room's history: every member that went away must come back with what it missed.
// A chatd that keeps no history (the run stops after its join phase) fails the test.
func TestEndToEndRecoveryAgainstChatd(t *testing.T) {
	longTest(t)
	addr, pid := startChatd(t)
	const clients = 40
	args := []string{"recovery", "-url", "ws://" + addr + "/ws", "-clients", strconv.Itoa(clients), "-rooms", "4",
		"-rooms-per-client", "2", "-rate", "4", "-count", "12", "-warmup", "0", "-duration", "1m", "-drain", "30s",
		"-churn-share", "0.25", "-away", "200ms-500ms", "-progress", "0", "-pids", strconv.Itoa(pid)}
	cfg, err := ParseFlags(args[0], args[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunLocal(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pass || res.Lost != 0 || res.Duplicated != 0 || res.Outages != clients/4 || res.Reconnects != res.Outages ||
		res.Recovered != 2*res.Outages || res.RecoveryFailed != 0 || !res.OffsetsJudged || res.OffsetMissing != 0 {
		t.Fatalf("recovery against chatd:\n%s", summary(res))
	}
	t.Logf("\n%s", summary(res))
}
