package matrix

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
)

// cpioWriter writes a newc ("070701") cpio archive, the format the kernel
// unpacks as an initramfs. Parent directories must be written before their
// entries.
type cpioWriter struct {
	w   *bufio.Writer
	n   int64 // bytes written, for padding
	ino int
	err error
}

func newCPIO(w io.Writer) *cpioWriter { return &cpioWriter{w: bufio.NewWriter(w)} }

const (
	cpioDir  = 0o040000
	cpioReg  = 0o100000
	cpioChar = 0o020000
)

// entry writes one header, its name and data, each padded to 4 bytes.
func (c *cpioWriter) entry(name string, mode uint32, rdevMajor, rdevMinor uint32, data []byte) {
	if c.err != nil {
		return
	}
	c.ino++
	nlink := 1
	if mode&cpioDir != 0 {
		nlink = 2
	}
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize (with its NUL), check.
	c.write(fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0))
	c.write(name + "\x00")
	c.pad()
	if c.err == nil {
		n, err := c.w.Write(data)
		c.n += int64(n)
		c.err = err
	}
	c.pad()
}

func (c *cpioWriter) write(s string) {
	if c.err != nil {
		return
	}
	n, err := c.w.WriteString(s)
	c.n += int64(n)
	c.err = err
}

// pad writes NULs up to the next multiple of 4 bytes.
func (c *cpioWriter) pad() { c.write("\x00\x00\x00"[:(4-c.n%4)%4]) }

// Dir adds a directory with mode 0755.
func (c *cpioWriter) Dir(name string) { c.entry(name, cpioDir|0o755, 0, 0, nil) }

// File adds a regular file with the given permission bits.
func (c *cpioWriter) File(name string, perm uint32, data []byte) {
	c.entry(name, cpioReg|perm, 0, 0, data)
}

// CharDev adds a character device node.
func (c *cpioWriter) CharDev(name string, major, minor uint32) {
	c.entry(name, cpioChar|0o600, major, minor, nil)
}

// CopyTree adds the directory tree at src as dst (dst's parent must exist).
func (c *cpioWriter) CopyTree(dst, src string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	c.Dir(dst)
	for _, e := range ents {
		s, d := path.Join(src, e.Name()), path.Join(dst, e.Name())
		switch {
		case e.IsDir():
			if err := c.CopyTree(d, s); err != nil {
				return err
			}
		case e.Type().IsRegular():
			b, err := os.ReadFile(s)
			if err != nil {
				return err
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			c.File(d, uint32(info.Mode().Perm()), b)
		}
	}
	return c.err
}

// Close writes the trailer and flushes.
func (c *cpioWriter) Close() error {
	c.entry("TRAILER!!!", 0, 0, 0, nil)
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}
