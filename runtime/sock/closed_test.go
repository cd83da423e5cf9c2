package sock

import (
	"embed"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// onClosedRing calls every function of the package that queues on a ring.
var onClosedRing = map[string]func(r *ring.Ring) (*uapi.SQE, error){
	"Accept":                func(r *ring.Ring) (*uapi.SQE, error) { return Accept(r, 1, 0, new(Addr), 0) },
	"AcceptDirect":          func(r *ring.Ring) (*uapi.SQE, error) { return AcceptDirect(r, 1, 0, nil, 0, 0) },
	"AcceptMultishot":       func(r *ring.Ring) (*uapi.SQE, error) { return AcceptMultishot(r, 1, 0, 0) },
	"AcceptMultishotDirect": func(r *ring.Ring) (*uapi.SQE, error) { return AcceptMultishotDirect(r, 1, 0, 0) },
	"Bind":                  func(r *ring.Ring) (*uapi.SQE, error) { return Bind(r, 1, 0, new(Addr)) },
	"Cancel":                func(r *ring.Ring) (*uapi.SQE, error) { return Cancel(r, 1, 2) },
	"CancelFD":              func(r *ring.Ring) (*uapi.SQE, error) { return CancelFD(r, 1, 0) },
	"Close":                 func(r *ring.Ring) (*uapi.SQE, error) { return Close(r, 1, 0) },
	"CloseDirect":           func(r *ring.Ring) (*uapi.SQE, error) { return CloseDirect(r, 1, 0) },
	"Connect":               func(r *ring.Ring) (*uapi.SQE, error) { return Connect(r, 1, 0, new(Addr)) },
	"Getsockname":           func(r *ring.Ring) (*uapi.SQE, error) { return Getsockname(r, 1, 0, new(Addr), false) },
	"Getsockopt":            func(r *ring.Ring) (*uapi.SQE, error) { return Getsockopt(r, 1, 0, 0, 0, make([]byte, 4)) },
	"InQ":                   func(r *ring.Ring) (*uapi.SQE, error) { return InQ(r, 1, 0) },
	"Listen":                func(r *ring.Ring) (*uapi.SQE, error) { return Listen(r, 1, 0, 1) },
	"OutQ":                  func(r *ring.Ring) (*uapi.SQE, error) { return OutQ(r, 1, 0) },
	"Recv":                  func(r *ring.Ring) (*uapi.SQE, error) { return Recv(r, 1, 0, make([]byte, 8), 0) },
	"RecvSelect":            func(r *ring.Ring) (*uapi.SQE, error) { return RecvSelect(r, 1, 0, 1, 0, 0) },
	"Recvmsg": func(r *ring.Ring) (*uapi.SQE, error) {
		return Recvmsg(r, 1, 0, &Msg{Buffers: [][]byte{make([]byte, 8)}}, 0)
	},
	"RecvmsgMultishot": func(r *ring.Ring) (*uapi.SQE, error) { return RecvmsgMultishot(r, 1, 0, 1, 0, 0, 0) },
	"Send":             func(r *ring.Ring) (*uapi.SQE, error) { return Send(r, 1, 0, make([]byte, 8), 0) },
	"SendBundle":       func(r *ring.Ring) (*uapi.SQE, error) { return SendBundle(r, 1, 0, 1, 0) },
	"SendMapped":       func(r *ring.Ring) (*uapi.SQE, error) { return SendMapped(r, 1, 0, nil, 0, 0) },
	"SendVectorized":   func(r *ring.Ring) (*uapi.SQE, error) { return SendVectorized(r, 1, 0, [][]byte{make([]byte, 8)}, 0) },
	"SendZC":           func(r *ring.Ring) (*uapi.SQE, error) { return SendZC(r, 1, 0, make([]byte, 8), 0, 0) },
	"SendZCFixed":      func(r *ring.Ring) (*uapi.SQE, error) { return SendZCFixed(r, 1, 0, make([]byte, 8), 0, 0, 0) },
	"Sendmsg": func(r *ring.Ring) (*uapi.SQE, error) {
		return Sendmsg(r, 1, 0, &Msg{Buffers: [][]byte{make([]byte, 8)}}, 0)
	},
	"SendmsgZC": func(r *ring.Ring) (*uapi.SQE, error) {
		return SendmsgZC(r, 1, 0, &Msg{Buffers: [][]byte{make([]byte, 8)}}, 0, 0)
	},
	"Setsockopt":   func(r *ring.Ring) (*uapi.SQE, error) { return Setsockopt(r, 1, 0, 0, 0, make([]byte, 4)) },
	"Shutdown":     func(r *ring.Ring) (*uapi.SQE, error) { return Shutdown(r, 1, 0, unix.SHUT_RDWR) },
	"Socket":       func(r *ring.Ring) (*uapi.SQE, error) { return Socket(r, 1, unix.AF_INET, unix.SOCK_STREAM, 0) },
	"SocketDirect": func(r *ring.Ring) (*uapi.SQE, error) { return SocketDirect(r, 1, unix.AF_INET, unix.SOCK_STREAM, 0, 0) },
	"TxTimestamp":  func(r *ring.Ring) (*uapi.SQE, error) { return TxTimestamp(r, 1, 0) },
}

// The package's own source, built into the test binary so that the check
// below runs in the matrix VMs too, which carry no source tree.
//
//go:embed *.go
var source embed.FS

// TestOnClosedRingCoversPackage: every exported function whose first
// parameter is a *ring.Ring has a case (read from the package's source).
func TestOnClosedRingCoversPackage(t *testing.T) {
	names, err := fs.Glob(source, "*.go")
	if err != nil || len(names) == 0 {
		t.Fatalf("the package's source: %v files, %v", len(names), err)
	}
	var missing []string
	found := 0
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := source.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !fn.Name.IsExported() || len(fn.Type.Params.List) == 0 {
				continue
			}
			star, ok := fn.Type.Params.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			if sel, ok := star.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "Ring" {
				found++
				if _, ok := onClosedRing[fn.Name.Name]; !ok {
					missing = append(missing, fn.Name.Name)
				}
			}
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 || found != len(onClosedRing) {
		t.Fatalf("%d functions on a ring, %d cases; without a case: %v", found, len(onClosedRing), missing)
	}
}

// TestOnClosedRing: on a closed ring every function returns an error
// wrapping os.ErrClosed (Recv used to fault), not "submission queue full".
func TestOnClosedRing(t *testing.T) {
	r, err := ring.New(4)
	if err != nil {
		t.Skipf("needs io_uring: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for name, call := range onClosedRing {
		if s, err := call(r); s != nil || !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s on a closed ring: %v, %v; want an error wrapping os.ErrClosed", name, s, err)
		}
	}
}
