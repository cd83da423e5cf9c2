// Package peer runs the peers of the bench/ benchmarks: the server
// processes (each prints "listening on <addr>" once ready and stops on an
// interrupt) and the order of each round.
package peer

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Server is a running server process.
type Server struct {
	Name string
	Cmd  *exec.Cmd
	Addr string // what it printed after "listening on "
}

// Start runs cmd and waits for its "listening on" line.
func Start(name string, cmd *exec.Cmd) (*Server, error) {
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s server: %w", name, err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%s server did not start: said %q (%v)", name, line, err)
	}
	go io.Copy(io.Discard, out)
	return &Server{Name: name, Cmd: cmd, Addr: addr}, nil
}

// Stop interrupts the server, which lets it shut down cleanly (and write a
// profile when asked to), and kills it if it does not exit in time.
func (s *Server) Stop() {
	s.Cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.Cmd.Process.Kill()
		<-done
	}
}

// CPU returns the CPU time (user+system, all threads) the server has used,
// from /proc/<pid>/stat.
func (s *Server) CPU() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.Cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the ")" that closes the command name: state is field 3,
	// utime field 14, stime field 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(u+st) * time.Second / hz
}

// Median returns the median of v (0 for none).
func Median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// Order returns the order in which round (from 0) runs n peers: each round
// starts one peer later than the one before, so that no peer always runs
// first, right after the previous workload, whose leftovers (writeback,
// journal commits, sockets in TIME_WAIT, a cold cache) land on that run.
func Order(round, n int) []int {
	order := make([]int, n)
	for k := range order {
		order[k] = (round + k) % n
	}
	return order
}
