package emit_test

import (
	"path/filepath"
	"testing"

	"github.com/urgen/urgen/gen/emit"
	"github.com/urgen/urgen/gen/model"
)

var (
	headers   = filepath.Join("..", "..", "headers")
	constants = filepath.Join("..", "..", "templates", "constants.txt")
)

// BenchmarkGenerate measures a whole generation: parsing the pinned headers
// for all 13 GOARCHes into the model and rendering the Go package (what
// urgen generate does before writing files).
func BenchmarkGenerate(b *testing.B) {
	cfg, err := emit.LoadConfig(constants)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		m, err := model.Load(headers, nil, model.DefaultScope)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := emit.Generate(m, cfg, emit.Options{PkgPath: "example.com/uapi", PkgName: "uapi"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad measures the parse alone, per GOARCH count.
func BenchmarkLoad(b *testing.B) {
	for _, archs := range [][]string{{"amd64"}, nil} {
		name := "amd64"
		if archs == nil {
			name = "all13"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := model.Load(headers, archs, model.DefaultScope); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEmit measures rendering alone from an already loaded model.
func BenchmarkEmit(b *testing.B) {
	cfg, err := emit.LoadConfig(constants)
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.Load(headers, nil, model.DefaultScope)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := emit.Generate(m, cfg, emit.Options{PkgPath: "example.com/uapi", PkgName: "uapi"}); err != nil {
			b.Fatal(err)
		}
	}
}
