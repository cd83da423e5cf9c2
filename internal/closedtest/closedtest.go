// Package closedtest checks that a runtime type is safe after Close: a
// table with one call per exported method, which must cover the type's
// whole method set (so a new method without a case fails its package's
// test), and each call must return an error wrapping os.ErrClosed. A call
// for a method without an error result checks that the method did nothing
// and returns the type's own closed error.
package closedtest

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"
)

// Calls maps a method name to a call of it on a closed T.
type Calls[T any] map[string]func(T) error

// Cover fails t unless calls has exactly one case per exported method of T,
// apart from the names in except (methods only tests see).
func Cover[T any](t testing.TB, calls Calls[T], except ...string) {
	t.Helper()
	typ := reflect.TypeFor[T]()
	var bad []string
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		if _, ok := calls[name]; !ok && !slices.Contains(except, name) {
			bad = append(bad, name)
		}
	}
	for name := range calls {
		if _, ok := typ.MethodByName(name); !ok {
			bad = append(bad, name+" (a case for no method)")
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		t.Fatalf("exported methods of %v without an after-Close case: %v", typ, bad)
	}
}

// Run calls every case on v, in name order, and requires each to return an
// error wrapping os.ErrClosed.
func Run[T any](t testing.TB, v T, calls Calls[T]) {
	t.Helper()
	names := make([]string, 0, len(calls))
	for name := range calls {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := calls[name](v); !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s after Close: %v, want an error wrapping os.ErrClosed", name, err)
		}
	}
}

// Check returns closed when ok, else an error that does not wrap
// os.ErrClosed naming what went wrong: for the cases of methods without an
// error result.
func Check(ok bool, what string, closed error) error {
	if !ok {
		return errors.New(what)
	}
	return closed
}
