package matrix

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

//go:embed modules.txt
var modulesTxt string

// ModulesLoad is where /init finds the modules to load in a VM: one line
// per module, its file name under ModulesDir and its parameters, in
// dependency order.
const (
	ModulesDir  = "lib/modules"
	ModulesLoad = ModulesDir + "/load"
)

// moduleParams returns the parameters modules.txt gives each module, by
// name with "-" spelled "_" (as the kernel compares module names).
func moduleParams() map[string]string {
	params := map[string]string{}
	for _, line := range strings.Split(modulesTxt, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		params[modName(f[0])] = strings.Join(f[1:], " ")
	}
	return params
}

// modName is a module's name from its name or file name: no .ko or
// .ko.xz, "_" for "-".
func modName(s string) string {
	s = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(s), ".xz"), ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// writeKernelInitrd writes the VM's initramfs for one kernel: the shared
// archive (init and tests) followed by a second newc archive with the
// kernel's modules from cacheDir/modules (fetched by
// scripts/fetch-kernels.sh; none when the kernel has no modules
// directory) and ModulesLoad. The kernel unpacks concatenated archives in
// turn.
func writeKernelInitrd(path, shared, cacheDir string) error {
	base, err := os.ReadFile(shared)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(base); err != nil {
		return err
	}
	order, err := os.ReadFile(filepath.Join(cacheDir, "modules", "order"))
	if os.IsNotExist(err) {
		return f.Close()
	}
	if err != nil {
		return err
	}
	params := moduleParams()
	w := newCPIO(f)
	w.Dir("lib")
	w.Dir(ModulesDir)
	var load strings.Builder
	for _, file := range strings.Fields(string(order)) {
		b, err := os.ReadFile(filepath.Join(cacheDir, "modules", file))
		if err != nil {
			return err
		}
		w.File(ModulesDir+"/"+file, 0o644, b)
		fmt.Fprintf(&load, "%s %s\n", file, params[modName(file)])
	}
	w.File(ModulesLoad, 0o644, []byte(load.String()))
	if err := w.Close(); err != nil {
		return err
	}
	return f.Close()
}

// Emulated devices: an NVMe controller with two namespaces, nsid 1 plain
// (512-byte blocks) and nsid 2 with 8 bytes of metadata per block holding
// protection information type 1 (T10-DIF-TYPE1-CRC), each backed by a
// sparse image file of NVMeImageSize bytes.
const (
	NVMeSerial    = "urgen-matrix"
	NVMeImageSize = 64 << 20
)

// deviceArgs creates the image files in dir and returns the qemu arguments
// for the emulated devices.
func deviceArgs(dir string) ([]string, error) {
	args := []string{"-device", "nvme,id=nvme0,serial=" + NVMeSerial}
	for i, extra := range []string{"", ",ms=8,pi=1"} {
		img := filepath.Join(dir, fmt.Sprintf("nvme-ns%d.img", i+1))
		f, err := os.Create(img)
		if err != nil {
			return nil, err
		}
		err = f.Truncate(NVMeImageSize)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		id := fmt.Sprintf("ns%d", i+1)
		args = append(args, "-drive", "file="+img+",if=none,id="+id+",format=raw",
			"-device", fmt.Sprintf("nvme-ns,drive=%s,bus=nvme0,nsid=%d%s", id, i+1, extra))
	}
	return args, nil
}
