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
	"fmt"
	"github.com/urgen/urgen/bench/internal/peer"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var servers []*peer.Server

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
			s, err := peer.Start(name, exec.Command(bin, args...))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer s.Stop()
			servers = append(servers, s)
		}
		return m.Run()
	}()
	os.Exit(code)
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
func wrk(b *testing.B, s *peer.Server, conns int, path string, dur int) result {
	threads := 2
	cpu0 := s.CPU()
	out, err := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(dur)+"s", "--latency", "http://"+s.Addr+path).CombinedOutput()
	cpu := s.CPU() - cpu0
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	if m := errRe.FindString(string(out)); m != "" {
		b.Fatalf("wrk against %s: %s\n%s", s.Name, m, out)
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
			for round := range rounds {
				for _, i := range peer.Order(round, len(servers)) {
					s := servers[i]
					b.Run(cfg+"/"+s.Name, func(b *testing.B) {
						// wrk's run is the measurement; b.N is not used.
						r := wrk(b, s, conns, size.path, dur)
						res[s.Name] = append(res[s.Name], r)
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
				return peer.Median(v)
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
