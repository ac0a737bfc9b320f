package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Reading the cost of a run: the servers' CPU time and resident memory from /proc, and our own
// CPU time from getrusage, so that results can be given per delivery and per connection.

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; it is 100 on every Linux
// architecture Go supports (sysconf(_SC_CLK_TCK) is not reachable without cgo).
const clockTicks = 100

// procSample is one reading of a process.
type procSample struct {
	Pid    int     `json:"pid"`
	CPUSec float64 `json:"cpuSec"` // utime + stime since the process started
	RSSKB  int64   `json:"rssKB"`
	Err    string  `json:"err,omitempty"`
}

// readProc samples /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) procSample {
	s := procSample{Pid: pid}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		s.Err = err.Error()
		return s
	}
	if s.CPUSec, err = parseProcStatCPU(stat); err != nil {
		s.Err = err.Error()
		return s
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		s.Err = err.Error()
		return s
	}
	if s.RSSKB, err = parseVmRSS(status); err != nil {
		s.Err = err.Error()
	}
	return s
}

// parseProcStatCPU returns utime+stime in seconds from a /proc/<pid>/stat line. The command name
// (field 2) is in parentheses and may hold spaces and parentheses, so fields are counted from the
// last ')'.
func parseProcStatCPU(stat []byte) (float64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat: no ')' in %q", stat)
	}
	fields := bytes.Fields(stat[i+1:])
	// fields[0] is field 3 (state); utime is field 14, stime field 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(fields))
	}
	utime, err := strconv.ParseUint(string(fields[11]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: utime: %w", err)
	}
	stime, err := strconv.ParseUint(string(fields[12]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: stime: %w", err)
	}
	return float64(utime+stime) / clockTicks, nil
}

// parseVmRSS returns VmRSS in KiB from /proc/<pid>/status.
func parseVmRSS(status []byte) (int64, error) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) < 1 {
			break
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc status: VmRSS: %w", err)
		}
		return kb, nil
	}
	return 0, fmt.Errorf("proc status: no VmRSS line")
}

// selfCPU is this process's user+system CPU time in seconds.
func selfCPU() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// serverSampler samples every -pids process at the phase boundaries of a run (only the process
// that orchestrates does this: the single process, or the -procs parent), and tracks peak RSS
// from the progress ticks in between.
type serverSampler struct {
	pids     []int
	baseline []procSample // before the first connection
	start    []procSample // at the start of the send phase
	end      []procSample // after the drain
	peakKB   []int64
}

func newServerSampler(pids []int) *serverSampler {
	s := &serverSampler{pids: pids, peakKB: make([]int64, len(pids))}
	s.baseline = s.sample()
	return s
}

func (s *serverSampler) sample() []procSample {
	out := make([]procSample, len(s.pids))
	for i, pid := range s.pids {
		out[i] = readProc(pid)
		if out[i].RSSKB > s.peakKB[i] {
			s.peakKB[i] = out[i].RSSKB
		}
	}
	return out
}

// tick samples for the peak RSS and returns the summed RSS in KiB.
func (s *serverSampler) tick() int64 {
	var sum int64
	for _, p := range s.sample() {
		sum += p.RSSKB
	}
	return sum
}

// wallNow is the wall clock in Unix nanoseconds. Message timestamps use the wall clock, not the
// monotonic one, because sender and receiver may be different processes (on the same machine).
func wallNow() int64 { return time.Now().UnixNano() }
