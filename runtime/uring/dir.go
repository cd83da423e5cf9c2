package uring

import (
	"encoding/binary"
	"io"
	"io/fs"

	"golang.org/x/sys/unix"
)

// dirReader is a directory File's getdents64 buffer. io_uring has no
// getdents, so ReadDir makes the system call itself.
type dirReader struct {
	buf  []byte
	r, w int
}

// ReadDir reads the directory's next entries, like os.File.ReadDir: with
// n > 0 at most n, and io.EOF at the end; with n <= 0 all the rest, and a
// nil error at the end. Entries come in directory order.
func (f *File) ReadDir(n int) ([]fs.DirEntry, error) {
	var out []fs.DirEntry
	err := f.readdir(n, func(name string, typ fs.FileMode) {
		out = append(out, &dirEntry{parent: f.name, name: name, typ: typ, e: f.e})
	})
	return out, err
}

// Readdirnames reads the next names, like os.File.Readdirnames.
func (f *File) Readdirnames(n int) ([]string, error) {
	var out []string
	err := f.readdir(n, func(name string, _ fs.FileMode) { out = append(out, name) })
	return out, err
}

// Readdir reads the next entries' FileInfos, like os.File.Readdir.
func (f *File) Readdir(n int) ([]fs.FileInfo, error) {
	ents, err := f.ReadDir(n)
	infos := make([]fs.FileInfo, 0, len(ents))
	for _, d := range ents {
		fi, ierr := d.Info()
		if ierr != nil {
			continue // removed since: os skips it too
		}
		infos = append(infos, fi)
	}
	return infos, err
}

func (f *File) readdir(n int, add func(string, fs.FileMode)) error {
	t, err := f.beginAt("readdirent")
	if err != nil {
		return err
	}
	defer f.endAt(t)
	if f.dir == nil {
		f.dir = &dirReader{buf: make([]byte, 8192)}
	}
	d := f.dir
	got := 0
	for n <= 0 || got < n {
		if d.r >= d.w {
			m, err := unix.Getdents(f.fd, d.buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return f.pathErr("readdirent", err)
			}
			if m <= 0 {
				break
			}
			d.r, d.w = 0, m
		}
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
		rec := d.buf[d.r:d.w]
		reclen := int(binary.NativeEndian.Uint16(rec[16:]))
		if reclen < 19 || reclen > len(rec) {
			return f.pathErr("readdirent", unix.EINVAL)
		}
		d.r += reclen
		name := rec[19:reclen]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		if string(name) == "." || string(name) == ".." {
			continue
		}
		typ, ok := direntType(rec[18])
		if !ok {
			// DT_UNKNOWN (some filesystems): ask.
			var st unix.Stat_t
			if unix.Fstatat(f.fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
				continue // gone
			}
			typ = fileMode(st.Mode) & fs.ModeType
		}
		add(string(name), typ)
		got++
	}
	if n > 0 && got == 0 {
		return io.EOF
	}
	return nil
}

func direntType(t byte) (fs.FileMode, bool) {
	switch t {
	case unix.DT_REG:
		return 0, true
	case unix.DT_DIR:
		return fs.ModeDir, true
	case unix.DT_LNK:
		return fs.ModeSymlink, true
	case unix.DT_FIFO:
		return fs.ModeNamedPipe, true
	case unix.DT_SOCK:
		return fs.ModeSocket, true
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice, true
	case unix.DT_BLK:
		return fs.ModeDevice, true
	}
	return 0, false
}

// dirEntry is os's unixDirent: Info stats parent/name, not following a
// final symlink.
type dirEntry struct {
	e      *Engine
	parent string
	name   string
	typ    fs.FileMode
}

func (d *dirEntry) Name() string               { return d.name }
func (d *dirEntry) IsDir() bool                { return d.typ.IsDir() }
func (d *dirEntry) Type() fs.FileMode          { return d.typ }
func (d *dirEntry) String() string             { return fs.FormatDirEntry(d) }
func (d *dirEntry) Info() (fs.FileInfo, error) { return d.e.lstat(d.parent + "/" + d.name) }
