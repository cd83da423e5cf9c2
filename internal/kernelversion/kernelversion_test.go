package kernelversion

import "testing"

func TestParse(t *testing.T) {
	for _, c := range []struct {
		release string
		want    Version
	}{
		{"6.1.0-57-amd64", Version{6, 1}},
		{"7.3.4+deb13-amd64", Version{7, 3}},
		{"6.18.44-fc-v657", Version{6, 18}},
		{"6.8", Version{6, 8}},
		{"10.0-rc1", Version{10, 0}},
	} {
		got, err := Parse(c.release)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.release, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "6", "x.1", "6.x", ".1"} {
		if v, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, v)
		}
	}
	v := Version{6, 8}
	for _, c := range []struct {
		major, minor int
		want         bool
	}{{6, 8, true}, {6, 7, true}, {5, 19, true}, {6, 9, false}, {7, 0, false}} {
		if got := v.AtLeast(c.major, c.minor); got != c.want {
			t.Errorf("%v.AtLeast(%d, %d) = %v", v, c.major, c.minor, got)
		}
	}
	if _, err := Current(); err != nil {
		t.Fatal(err)
	}
}
