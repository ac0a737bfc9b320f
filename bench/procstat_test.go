package bench

import (
	"os"
	"testing"
)

func TestParseProcStatCPU(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	stat := []byte("4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 150 0 0 20 0 8 0 100 1000000 500 18446744073709551615\n")
	cpu, err := parseProcStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if cpu != 4.0 {
		t.Fatalf("cpu %v, want 4.0 (250+150 ticks)", cpu)
	}
	if _, err := parseProcStatCPU([]byte("1 (x) S 1 2")); err == nil {
		t.Fatal("short stat accepted")
	}
}

func TestParseVmRSS(t *testing.T) {
	status := []byte("Name:\tchatd\nVmPeak:\t  9999 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n")
	kb, err := parseVmRSS(status)
	if err != nil || kb != 12345 {
		t.Fatalf("kb %d err %v", kb, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Fatal("missing VmRSS accepted")
	}
}

func TestReadProcSelf(t *testing.T) {
	s := readProc(os.Getpid())
	if s.Err != "" || s.RSSKB <= 0 || s.CPUSec < 0 {
		t.Fatalf("sample %+v", s)
	}
	if s := readProc(1 << 30); s.Err == "" {
		t.Fatal("no error for a missing pid")
	}
	if selfCPU() <= 0 {
		t.Fatal("getrusage gave no CPU time")
	}
}
