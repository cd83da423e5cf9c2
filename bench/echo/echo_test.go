// Package echo benchmarks echo servers over loopback, in one run, with the
// same Go client: 1, 16 and 256 connections, 64-byte and 16 KiB messages,
// one message in flight per connection. Every server is a separate process
// with the default GOMAXPROCS, so all get the same CPUs:
//
//   - loop: examples/echo, the raw io_uring event loop;
//
//   - gnet: the same server on github.com/panjf2000/gnet/v2 (bench/echo/gnetecho);
//
//   - net: goroutine-per-connection on Go's net package (bench/echo/netecho);
//
//   - conn: the same on runtime/uring's Listener and Conn (bench/echo/connecho).
//
//     go test -run '^$' -bench Echo ./echo
//
// Every configuration runs the servers alternately ECHO_ROUNDS times
// (default 3) and prints the medians as
//
//	BENCH conn <conns>x<size> urgen_ops=<n> net_ops=<n> vs_net=<ratio> urgen_p99_us=<n> net_p99_us=<n> ...
//	BENCH loop <conns>x<size> urgen_ops=<n> gnet_ops=<n> vs_gnet=<ratio> net_ops=<n> vs_net=<ratio> urgen_p99_us=<n> gnet_p99_us=<n> net_p99_us=<n> ...
//
// where ops are round trips per second over all connections, followed by
// each server's CPU time per round trip (*_cpu_us), which other load on the
// machine disturbs less than throughput.
// ECHO_CONFIGS (e.g. "16x64,256x64") limits the run to some configurations,
// ECHO_SERVERS (e.g. "loop,net") to some servers.
// ECHO_<NAME>_FLAGS (ECHO_LOOP_FLAGS, ECHO_GNET_FLAGS, ECHO_NET_FLAGS) pass
// flags to a server (e.g. "-workers 1", "-procs 1"). ECHO_VARIANTS adds
// servers that take turns with the others: "name=server flags...", several
// separated by ";" (e.g. "nospin=loop -spin 0;spin5=loop -spin 5us"), each
// printed as "BENCH variant <cfg> <name>_ops=..." against its server (which
// must run too) and the loop line's peers. ECHO_SERVER_CPUS (a
// taskset list, e.g. "0") confines the servers to some CPUs, to run the
// client elsewhere (taskset -c 1 go test ...). With -v each run also reports
// the machine's idle share and its context switches per round trip.
package echo

import (
	"fmt"
	"github.com/urgen/urgen/bench/internal/peer"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// servers holds the running servers, in the order they take turns.
var servers []*peer.Server

// peers are the servers the benchmark knows: the module directory (relative
// to the repository root), package to build and flags. Extra ones run
// only when ECHO_SERVERS names them.
var peers = []struct {
	name, modDir, pkg string
	args              []string
	extra             bool
}{
	{name: "loop", modDir: ".", pkg: "./examples/echo"},
	{name: "gnet", modDir: "bench", pkg: "./echo/gnetecho"},
	{name: "net", modDir: "bench", pkg: "./echo/netecho"},
	{name: "conn", modDir: "bench", pkg: "./echo/connecho"},
	// The Conn with multishot receives into provided buffers.
	{name: "connms", modDir: "bench", pkg: "./echo/connecho", args: []string{"-multishot"}, extra: true},
	// The Conn with one ring receive per Read (the default before readiness).
	{name: "connring", modDir: "bench", pkg: "./echo/connecho", args: []string{"-ringrecv"}, extra: true},
}

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "echobench")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		root, _ := filepath.Abs("../..")
		only := os.Getenv("ECHO_SERVERS")
		for _, s := range peers {
			if only != "" && !slices.Contains(strings.Split(only, ","), s.name) || only == "" && s.extra {
				continue
			}
			bin := filepath.Join(dir, s.name)
			b := exec.Command("go", "build", "-o", bin, s.pkg)
			b.Dir = filepath.Join(root, s.modDir)
			if out, err := b.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "building %s: %v\n%s", s.pkg, err, out)
				return 1
			}
			srv, err := startServer(s.name, bin, s.args)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer srv.Stop()
			servers = append(servers, srv)
			for _, v := range variants() {
				if v.base != s.name {
					continue
				}
				vs, err := startServer(v.name, bin, append(slices.Clone(s.args), v.args...))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
				defer vs.Stop()
				servers = append(servers, vs)
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// variant is a server of ECHO_VARIANTS: base's binary with more flags.
type variant struct {
	name, base string
	args       []string
}

func variants() []variant {
	var vs []variant
	for _, spec := range strings.Split(os.Getenv("ECHO_VARIANTS"), ";") {
		name, rest, ok := strings.Cut(strings.TrimSpace(spec), "=")
		if f := strings.Fields(rest); ok && name != "" && len(f) > 0 {
			vs = append(vs, variant{name: name, base: f[0], args: f[1:]})
		}
	}
	return vs
}

func startServer(name, bin string, extra []string) (*peer.Server, error) {
	args := append([]string{"-addr", "127.0.0.1:0"}, extra...)
	args = append(args, strings.Fields(os.Getenv("ECHO_"+strings.ToUpper(name)+"_FLAGS"))...)
	cmd := exec.Command(bin, args...)
	if c := os.Getenv("ECHO_SERVER_CPUS"); c != "" {
		cmd = exec.Command("taskset", append([]string{"-c", c, bin}, args...)...)
	}
	return peer.Start(name, cmd)
}

// result is one measured run.
type result struct {
	ops      float64 // round trips per second
	p50, p99 float64 // microseconds
	cpu      float64 // server CPU time (user+system) per round trip, microseconds
}

// machine returns the machine's idle CPU time and its context switch count
// so far, from /proc/stat.
func machine() (idle time.Duration, ctxt int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 5 && f[0] == "cpu":
			// user nice system idle iowait ...: idle plus iowait.
			i, _ := strconv.ParseInt(f[4], 10, 64)
			w, _ := strconv.ParseInt(f[5], 10, 64)
			idle = time.Duration(i+w) * time.Second / 100
		case len(f) == 2 && f[0] == "ctxt":
			ctxt, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return idle, ctxt
}

// run drives b.N round trips over conns connections to addr.
func run(b *testing.B, srv *peer.Server, conns, size int) result {
	addr := srv.Addr
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		cs[i] = c
	}
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	lat := make([][]time.Duration, conns)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.SetBytes(int64(2 * size))
	b.ResetTimer()
	cpu0 := srv.CPU()
	idle0, ctxt0 := machine()
	start := time.Now()
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := make([]byte, size)
			for j := range msg {
				msg[j] = byte(i + j)
			}
			got := make([]byte, size)
			l := make([]time.Duration, 0, b.N/conns+1)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if _, err := c.Write(msg); err != nil {
					failed.Store(err)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					failed.Store(err)
					return
				}
				l = append(l, time.Since(t0))
			}
			if len(l) > 0 && (got[0] != msg[0] || got[size-1] != msg[size-1]) {
				failed.Store(fmt.Errorf("connection %d: echo differs", i))
			}
			lat[i] = l
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := srv.CPU() - cpu0
	idle1, ctxt1 := machine()
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	us := func(q float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(q*float64(len(all))))]) / 1e3
	}
	r := result{ops: float64(b.N) / elapsed.Seconds(), p50: us(0.50), p99: us(0.99), cpu: float64(cpu) / 1e3 / float64(b.N)}
	b.ReportMetric(r.ops, "roundtrips/s")
	b.ReportMetric(r.cpu, "server_cpu_us/op")
	b.ReportMetric(r.p50, "p50_us")
	b.ReportMetric(r.p99, "p99_us")
	// Diagnostics: how much of the machine sat idle, and how often it
	// switched threads, per round trip.
	b.ReportMetric(float64(idle1-idle0)/float64(elapsed)/float64(runtime.NumCPU())*100, "idle_%")
	b.ReportMetric(float64(ctxt1-ctxt0)/float64(b.N), "ctxsw/op")
	return r
}

func BenchmarkEcho(b *testing.B) {
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("ECHO_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	for _, conns := range []int{1, 16, 256} {
		for _, size := range []int{64, 16384} {
			cfg := fmt.Sprintf("%dx%d", conns, size)
			if only := os.Getenv("ECHO_CONFIGS"); only != "" && !slices.Contains(strings.Split(only, ","), cfg) {
				continue
			}
			m := medians{}
			for round := range rounds {
				for _, i := range peer.Order(round, len(servers)) {
					s := servers[i]
					var last result
					b.Run(cfg+"/"+s.Name, func(b *testing.B) {
						// The last (largest) run of the sub-benchmark counts.
						last = run(b, s, conns, size)
					})
					m.add(s.Name, last)
				}
			}
			lines := []string{
				m.line("conn", cfg, "urgen", "conn", "net"),
				m.line("conn", cfg, "urgen_multishot", "connms", "net"),
				m.line("conn", cfg, "urgen_ringrecv", "connring", "net"),
				m.line("loop", cfg, "urgen", "loop", "gnet", "net"),
			}
			for _, v := range variants() {
				lines = append(lines, m.line("variant", cfg, v.name, v.name, v.base, "gnet", "net"))
			}
			for _, line := range lines {
				if line != "" {
					fmt.Println(line)
				}
			}
		}
	}
}

// medians collects each server's results over the rounds.
type medians map[string][]result

func (m medians) add(name string, r result) { m[name] = append(m[name], r) }

func (m medians) med(name string, f func(result) float64) float64 {
	v := make([]float64, len(m[name]))
	for i, r := range m[name] {
		v[i] = f(r)
	}
	return peer.Median(v)
}

// line formats "BENCH <kind> <cfg>" for server us (reported as label)
// against the peers, or "" when us or the first peer did not run: ops and
// the ratio to each peer, then p99 latencies, then CPU per round trip.
func (m medians) line(kind, cfg, label, us string, peers ...string) string {
	if m[us] == nil || m[peers[0]] == nil {
		return ""
	}
	ops := func(r result) float64 { return r.ops }
	p99 := func(r result) float64 { return r.p99 }
	cpu := func(r result) float64 { return r.cpu }
	u := m.med(us, ops)
	var b strings.Builder
	fmt.Fprintf(&b, "BENCH %s %s %s_ops=%.0f", kind, cfg, label, u)
	ran := []string{}
	for _, p := range peers {
		if m[p] == nil {
			continue
		}
		ran = append(ran, p)
		n := m.med(p, ops)
		ratio := 0.0
		if n > 0 {
			ratio = u / n
		}
		fmt.Fprintf(&b, " %s_ops=%.0f vs_%s=%.2f", p, n, p, ratio)
	}
	fmt.Fprintf(&b, " %s_p99_us=%.0f", label, m.med(us, p99))
	for _, p := range ran {
		fmt.Fprintf(&b, " %s_p99_us=%.0f", p, m.med(p, p99))
	}
	fmt.Fprintf(&b, " %s_cpu_us=%.2f", label, m.med(us, cpu))
	for _, p := range ran {
		fmt.Fprintf(&b, " %s_cpu_us=%.2f", p, m.med(p, cpu))
	}
	return b.String()
}
