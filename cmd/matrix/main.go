// Command matrix runs the project's test binaries on every kernel of
// internal/matrix/kernels.txt under qemu, and natively on the host, and
// reports the results. See package internal/matrix for usage.
//
//	go run ./cmd/matrix [packages]
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/urgen/urgen/internal/matrix"
)

func main() {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		fmt.Fprintln(os.Stderr, "matrix: run inside the module:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg := matrix.ConfigFromEnv(filepath.Dir(strings.TrimSpace(string(gomod))), os.Args[1:])
	ok, err := matrix.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "matrix:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}
