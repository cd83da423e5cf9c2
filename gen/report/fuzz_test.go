package report_test

import (
	"bytes"
	"encoding/gob"
	"strings"
	"sync"
	"testing"

	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/gen/report"
)

var diffModel = sync.OnceValues(func() ([]byte, error) {
	m, err := model.Load(headers, []string{"amd64", "386"}, model.DefaultScope)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = gob.NewEncoder(&b).Encode(m)
	return b.Bytes(), err
})

// fresh decodes a deep copy of the pinned model.
func fresh(t *testing.T) *model.Model {
	b, err := diffModel()
	if err != nil {
		t.Fatal(err)
	}
	var m model.Model
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// FuzzDiff applies a fuzzed list of edits to a copy of the pinned model
// (remove, add or resize a struct; move, resize or remove a member;
// remove, add or change a macro; renumber an enumerator) and compares the
// two both ways. Properties: nothing panics; a model compared with itself
// has no changes; what one direction adds the other removes; every
// removal and every layout or value change is an ABI break, and the diff
// has a break exactly when an edit made one; the text output names every
// change.
func FuzzDiff(f *testing.F) {
	f.Add([]byte{0, 3})
	f.Add([]byte{1, 0, 4, 2, 9, 8})
	f.Add([]byte{3, 5, 5, 7, 1, 6, 20})
	f.Add([]byte{2, 1, 3, 2, 4, 1, 0, 0, 6, 0})
	f.Fuzz(func(t *testing.T, edits []byte) {
		old, cur := fresh(t), fresh(t)
		breaking := false
		for i := 0; i+1 < len(edits) && i < 40; i += 2 {
			k, n := edits[i]%8, int(edits[i+1])
			switch k {
			case 0: // remove a struct
				if len(cur.Structs) > 0 {
					j := n % len(cur.Structs)
					cur.Structs = append(cur.Structs[:j:j], cur.Structs[j+1:]...)
					breaking = true
				}
			case 1: // grow a struct on amd64
				if len(cur.Structs) > 0 {
					s := cur.Structs[n%len(cur.Structs)]
					l := s.Layout["amd64"]
					l.Size += 8
					s.Layout["amd64"] = l
					breaking = true
				}
			case 2: // move a member on 386
				if len(cur.Structs) > 0 {
					s := cur.Structs[n%len(cur.Structs)]
					for _, fl := range s.Fields {
						if fl.Name != "" {
							fl.Offset["386"] += 4
							breaking = true
							break
						}
					}
				}
			case 3: // remove a member
				if len(cur.Structs) > 0 {
					s := cur.Structs[n%len(cur.Structs)]
					for j, fl := range s.Fields {
						if fl.Name != "" {
							s.Fields = append(s.Fields[:j:j], s.Fields[j+1:]...)
							breaking = true
							break
						}
					}
				}
			case 4: // remove a macro
				if len(cur.Macros) > 0 {
					j := n % len(cur.Macros)
					cur.Macros = append(cur.Macros[:j:j], cur.Macros[j+1:]...)
					breaking = true
				}
			case 5: // change a macro's value
				if len(cur.Macros) > 0 {
					cur.Macros[n%len(cur.Macros)].Value.Bits ^= 1 << (n % 64)
					breaking = true
				}
			case 6: // add a macro
				cur.Macros = append(cur.Macros, &model.Macro{Name: "URGEN_FUZZ_" + strings.Repeat("X", n%5+1), Value: model.Value{Bits: uint64(n)}})
			case 7: // renumber an enumerator
				for _, e := range cur.Enums {
					if len(e.Values) > 0 {
						e.Values[n%len(e.Values)].Value.Bits += uint64(n%3 + 1)
						breaking = true
						break
					}
				}
			}
		}
		if same := report.Compare(old, old); len(same.Changes) != 0 {
			t.Fatalf("a model compared with itself: %v", same.Changes)
		}
		d, back := report.Compare(old, cur), report.Compare(cur, old)
		if (d.Breaks() > 0) != breaking {
			t.Fatalf("edits %v: breaking %v, but %d ABI breaks: %v", edits, breaking, d.Breaks(), d.Changes)
		}
		how := func(d *report.Diff, h string) map[string]bool {
			r := map[string]bool{}
			for _, c := range d.Changes {
				if c.How == h {
					r[c.Kind+" "+c.Name] = true
				}
				if c.How == "removed" && !c.ABIBreak && c.Kind != "file" && c.Kind != "enum" && c.Kind != "unsupported" {
					t.Errorf("removed %s %s is no ABI break", c.Kind, c.Name)
				}
			}
			return r
		}
		added, removed := how(d, "added"), how(back, "removed")
		for k := range added {
			if !removed[k] {
				t.Errorf("%s added one way, not removed the other", k)
			}
		}
		if len(added) != len(removed) {
			t.Errorf("%d added one way, %d removed the other", len(added), len(removed))
		}
		var out bytes.Buffer
		if err := d.WriteText(&out); err != nil {
			t.Fatal(err)
		}
		for _, c := range d.Changes {
			if !strings.Contains(out.String(), c.String()) {
				t.Fatalf("the text lacks %q", c.String())
			}
		}
	})
}
