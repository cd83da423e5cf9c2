// Package http benchmarks net/http's server on runtime/uring's Listener
// against the same server on package net's, driven by wrk (a load
// generator we did not write; Debian package wrk) with --latency: "hello"
// and 16 KiB responses at 16 and 256 connections, keep-alive. Both servers
// are separate processes of bench/http/httpserver with the default
// GOMAXPROCS; wrk runs on the same machine (loopback).
//
//	go test -run '^$' -bench HTTP ./http
//
// Every configuration runs the servers alternately HTTP_ROUNDS times
// (default 3, HTTP_DURATION seconds each, default 3) and prints the
// medians as
//
//	BENCH http <conns>x<size> urgen_rps=<n> net_rps=<n> vs_net=<ratio> urgen_p99_us=<n> net_p99_us=<n> urgen_cpu_us=<n> net_cpu_us=<n>
//
// where size is hello or 16k and cpu_us is the server's CPU time per
// request. HTTP_CONFIGS (e.g. "16xhello") limits the run; HTTP_URGEN_FLAGS
// passes flags to the urgen server (e.g. "-multishot").
package http

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

type server struct {
	name string
	cmd  *exec.Cmd
	addr string
}

var servers []*server

func TestMain(m *testing.M) {
	code := func() int {
		if _, err := exec.LookPath("wrk"); err != nil {
			fmt.Fprintln(os.Stderr, "needs wrk (Debian package wrk; make bench installs it)")
			return 1
		}
		dir, err := os.MkdirTemp("", "httpbench")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "httpserver")
		if out, err := exec.Command("go", "build", "-o", bin, "./httpserver").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building httpserver: %v\n%s", err, out)
			return 1
		}
		for _, name := range []string{"urgen", "net"} {
			args := []string{"-addr", "127.0.0.1:0", "-listener", name}
			args = append(args, strings.Fields(os.Getenv("HTTP_"+strings.ToUpper(name)+"_FLAGS"))...)
			s, err := start(name, bin, args)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer s.stop()
			servers = append(servers, s)
		}
		return m.Run()
	}()
	os.Exit(code)
}

func start(name, bin string, args []string) (*server, error) {
	cmd := exec.Command(bin, args...)
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
		return nil, fmt.Errorf("%s server did not start: %q %v", name, line, err)
	}
	go io.Copy(io.Discard, out)
	return &server{name: name, cmd: cmd, addr: addr}, nil
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// cpuTime returns the CPU time process pid has used, from /proc/<pid>/stat.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * time.Second / 100
}

type result struct {
	rps, p99, cpu float64 // requests per second, p99 latency (us), server CPU per request (us)
}

var (
	rpsRe   = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99Re   = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)\s*$`)
	totalRe = regexp.MustCompile(`(\d+) requests in`)
	errRe   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: .*`)
)

// wrk runs one wrk measurement against s.
func wrk(b *testing.B, s *server, conns int, path string, dur int) result {
	threads := 2
	cpu0 := cpuTime(s.cmd.Process.Pid)
	out, err := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(dur)+"s", "--latency", "http://"+s.addr+path).CombinedOutput()
	cpu := cpuTime(s.cmd.Process.Pid) - cpu0
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	if m := errRe.FindString(string(out)); m != "" {
		b.Fatalf("wrk against %s: %s\n%s", s.name, m, out)
	}
	var r result
	if m := rpsRe.FindSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := p99Re.FindSubmatch(out); m != nil {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		switch string(m[2]) {
		case "ms":
			v *= 1e3
		case "s":
			v *= 1e6
		}
		r.p99 = v
	}
	if m := totalRe.FindSubmatch(out); m != nil {
		if n, _ := strconv.ParseFloat(string(m[1]), 64); n > 0 {
			r.cpu = float64(cpu.Microseconds()) / n
		}
	}
	if r.rps == 0 {
		b.Fatalf("wrk output not understood:\n%s", out)
	}
	return r
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func BenchmarkHTTP(b *testing.B) {
	rounds, dur := 3, 3
	if v, err := strconv.Atoi(os.Getenv("HTTP_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	if v, err := strconv.Atoi(os.Getenv("HTTP_DURATION")); err == nil && v > 0 {
		dur = v
	}
	for _, conns := range []int{16, 256} {
		for _, size := range []struct{ name, path string }{{"hello", "/hello"}, {"16k", "/16k"}} {
			cfg := fmt.Sprintf("%dx%s", conns, size.name)
			if only := os.Getenv("HTTP_CONFIGS"); only != "" && !slices.Contains(strings.Split(only, ","), cfg) {
				continue
			}
			res := map[string][]result{}
			for range rounds {
				for _, s := range servers {
					b.Run(cfg+"/"+s.name, func(b *testing.B) {
						// wrk's run is the measurement; b.N is not used.
						r := wrk(b, s, conns, size.path, dur)
						res[s.name] = append(res[s.name], r)
						b.ReportMetric(r.rps, "req/s")
						b.ReportMetric(r.p99, "p99_us")
						b.ReportMetric(r.cpu, "server_cpu_us/req")
					})
				}
			}
			med := func(name string, f func(result) float64) float64 {
				var v []float64
				for _, r := range res[name] {
					v = append(v, f(r))
				}
				return median(v)
			}
			rps := func(r result) float64 { return r.rps }
			p99 := func(r result) float64 { return r.p99 }
			cpu := func(r result) float64 { return r.cpu }
			u, n := med("urgen", rps), med("net", rps)
			fmt.Printf("BENCH http %s urgen_rps=%.0f net_rps=%.0f vs_net=%.2f urgen_p99_us=%.0f net_p99_us=%.0f urgen_cpu_us=%.2f net_cpu_us=%.2f\n",
				cfg, u, n, u/n, med("urgen", p99), med("net", p99), med("urgen", cpu), med("net", cpu))
		}
	}
}
