package peer

import (
	"slices"
	"testing"
)

func TestOrder(t *testing.T) {
	for n := 1; n <= 4; n++ {
		firsts := map[int]bool{}
		for round := range 2 * n {
			got := Order(round, n)
			sorted := slices.Sorted(slices.Values(got))
			for i, v := range sorted {
				if v != i {
					t.Fatalf("Order(%d, %d) = %v: not each peer once", round, n, got)
				}
			}
			firsts[got[0]] = true
		}
		if len(firsts) != n {
			t.Errorf("n=%d: only peers %v ever ran first", n, firsts)
		}
	}
}
