package uring

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// httpClient dials through our Dialer, with keep-alive.
func httpClient() (*http.Client, *http.Transport) {
	var d Dialer
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 16,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, tr
}

// testHTTP: net/http's server on our Listener and its client on our
// Dialer: keep-alive, chunked bodies both ways, 16 MiB bodies both ways,
// concurrent clients, and Server.Shutdown with requests in flight.
func testHTTP(t *testing.T) {
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, sized(16<<20, 4<<20))
	rand.Read(big)
	bigSum := sha256.Sum256(big)
	var conns atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(big) })
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		f := w.(http.Flusher)
		for i := range 100 {
			fmt.Fprintf(w, "chunk %d\n", i)
			f.Flush()
		}
	})
	mux.HandleFunc("/sum", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	})
	slow := make(chan struct{})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(slow)
		time.Sleep(200 * time.Millisecond)
		io.WriteString(w, "done")
	})
	srv := &http.Server{Handler: mux, ConnState: func(c net.Conn, s http.ConnState) {
		if _, ok := c.(*Conn); !ok {
			t.Errorf("server connection is a %T", c)
		}
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	client, tr := httpClient()
	defer tr.CloseIdleConnections()

	get := func(path string) []byte {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Keep-alive: 50 sequential requests on one connection.
	before := conns.Load()
	for range 50 {
		if got := get("/hello"); string(got) != "hello" {
			t.Fatalf("hello: %q", got)
		}
	}
	if n := conns.Load() - before; n != 1 {
		t.Errorf("50 keep-alive requests used %d connections, want 1", n)
	}
	// Chunked response.
	if got := get("/chunked"); !strings.HasPrefix(string(got), "chunk 0\n") || !strings.HasSuffix(string(got), "chunk 99\n") {
		t.Errorf("chunked body: %d bytes", len(got))
	}
	// 16 MiB response (4 MiB with -short).
	if got := get("/big"); sha256.Sum256(got) != bigSum {
		t.Errorf("big body corrupted (%d bytes)", len(got))
	}
	// 16 MiB request body (4 MiB with -short), sent chunked (unknown length).
	resp, err := client.Post(base+"/sum", "application/octet-stream", io.MultiReader(bytes.NewReader(big[:len(big)/3]), bytes.NewReader(big[len(big)/3:])))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("%d %x", len(big), bigSum); string(b) != want {
		t.Errorf("upload: %q, want %q", b, want)
	}
	// Concurrent clients.
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				resp, err := client.Get(base + "/hello")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	// Shutdown waits for the request in flight, then Serve returns.
	slowDone := make(chan string, 1)
	go func() {
		resp, err := client.Get(base + "/slow")
		if err != nil {
			slowDone <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slowDone <- string(b)
	}()
	<-slow
	// Connections the client dialled and never used are StateNew on the
	// server, which Shutdown waits 5 s for: close them first.
	tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := <-slowDone; got != "done" {
		t.Errorf("request in flight during Shutdown: %q", got)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	tr.CloseIdleConnections()
}

// testHTTPClientAgainstNet: our client against net's own server.
func testHTTPClientAgainstNet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An HTTP/1 handler reads the body before it answers (once the
		// response starts, the server may close the body).
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	defer srv.Close()
	client, tr := httpClient()
	defer tr.CloseIdleConnections()
	body := bytes.Repeat([]byte("0123456789"), 100_000)
	for range 10 {
		resp, err := client.Post(srv.URL, "text/plain", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("echo through net's server: %d bytes, %v", len(got), err)
		}
	}
}

// testTLS: crypto/tls over our Conns, both ends, with net/http on top.
func testTLS(t *testing.T) {
	// httptest's certificate for 127.0.0.1, served from our listener.
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			t.Error("request without TLS")
		}
		// An HTTP/1 handler reads the body before it answers (once the
		// response starts, the server may close the body).
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs.Listener.Close()
	hs.Listener = ln
	hs.StartTLS()
	defer hs.Close()
	var d Dialer
	tr := hs.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	tr.DialTLSContext = nil
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	body := make([]byte, sized(4<<20, 256<<10))
	rand.Read(body)
	for range 3 {
		resp, err := client.Post(hs.URL, "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("TLS echo: %d bytes, %v: %q", len(got), err, got[:min(len(got), 200)])
		}
		if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
			t.Errorf("TLS state %+v", resp.TLS)
		}
	}
	// Plain tls.Client/Server pair over one of our connection pairs.
	c1, c2, stop := pipe(t, "tcp", "127.0.0.1:0")
	defer stop()
	cfg := hs.TLS.Clone()
	srv := tls.Server(c1, cfg)
	cli := tls.Client(c2, &tls.Config{InsecureSkipVerify: true})
	go func() {
		io.Copy(srv, srv)
		srv.Close()
	}()
	msg := []byte("over tls over io_uring")
	if _, err := cli.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(cli, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("tls pair: %q %v", got, err)
	}
	cli.Close()
}
