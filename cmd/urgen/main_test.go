package main

import "testing"

// TestHelpExitsZero: -h of urgen and of every command prints usage and
// succeeds, as the flag package's commands do; bad usage does not.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"--help"}, {"help"},
		{"generate", "-h"}, {"generate", "-help"}, {"report", "-h"}, {"report", "--help"}, {"diff", "-h"},
		{"check", "-h"}, {"roundtrip", "-h"}, {"version"},
	} {
		if code := run(args); code != 0 {
			t.Errorf("urgen %v exits %d, want 0", args, code)
		}
	}
	for _, c := range []struct {
		args []string
		want int
	}{
		{nil, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"generate", "-no-such-flag"}, 1},
		{[]string{"diff", "only-one-dir"}, 1},
		{[]string{"check"}, 1},
		{[]string{"check", "/nonexistent"}, 1},
		{[]string{"roundtrip", "-arch", "s390x", "-cross", "."}, 1},
	} {
		if code := run(c.args); code != c.want {
			t.Errorf("urgen %v exits %d, want %d", c.args, code, c.want)
		}
	}
}
