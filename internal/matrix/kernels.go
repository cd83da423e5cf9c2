package matrix

import (
	_ "embed"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/urgen/urgen/internal/matrix/feature"
)

//go:embed kernels.txt
var kernelsTxt string

// Kernel is one row of kernels.txt: a Debian kernel the matrix boots.
type Kernel struct {
	Name     string   // column name in reports and cache dir name
	Package  string   // Debian package=version carrying the image
	Path     string   // path of the vmlinuz inside the package
	LastOp   int      // the io_uring probe's last_op on this kernel
	Features []string // io_uring features the kernel has (feature.Names)
}

// Has reports whether the kernel is known to have the feature.
func (k Kernel) Has(feature string) bool { return slices.Contains(k.Features, feature) }

// Kernels returns the kernel table compiled into the runner from kernels.txt.
func Kernels() ([]Kernel, error) { return parseKernels(kernelsTxt) }

// parseKernels parses the kernel table format described in kernels.txt.
func parseKernels(text string) ([]Kernel, error) {
	var ks []Kernel
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 4 || !strings.Contains(f[1], "=") {
			return nil, fmt.Errorf("kernels.txt:%d: want: name package=version vmlinuz-path last_op [features...]", i+1)
		}
		lastOp, err := strconv.ParseUint(f[3], 10, 8)
		if err != nil {
			return nil, fmt.Errorf("kernels.txt:%d: last_op %q: want a number 0-255", i+1, f[3])
		}
		if seen[f[0]] {
			return nil, fmt.Errorf("kernels.txt:%d: duplicate kernel %q", i+1, f[0])
		}
		seen[f[0]] = true
		for _, name := range f[4:] {
			if !feature.Known(name) {
				return nil, fmt.Errorf("kernels.txt:%d: unknown feature %q (known: %s)", i+1, name, strings.Join(feature.Names, " "))
			}
		}
		ks = append(ks, Kernel{Name: f[0], Package: f[1], Path: f[2], LastOp: int(lastOp), Features: f[4:]})
	}
	return ks, nil
}

// bzImageRelease returns the kernel release (what uname -r prints) that an
// x86 bzImage announces in its setup header: the kernel_version field at
// 0x20e points, less 0x200, at "<release> (<builder>) #<n> ...".
func bzImageRelease(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hdr := make([]byte, 0x8000)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		return "", fmt.Errorf("%s: not a bzImage", path)
	}
	off := int(binary.LittleEndian.Uint16(hdr[0x20e:])) + 0x200
	if off >= len(hdr) {
		return "", fmt.Errorf("%s: kernel_version offset %#x out of range", path, off)
	}
	rel, _, _ := strings.Cut(string(hdr[off:]), " ")
	return rel, nil
}
