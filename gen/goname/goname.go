// Package goname is urgen's one rule for naming C identifiers in Go.
//
// The rule, applied to every struct tag, member, enum tag, enumerator and
// macro:
//
//  1. Split the C name at underscores into lower-case words; leading
//     underscores (reserved-name markers such as __pad1, __kernel_) vanish.
//  2. Drop the namespace prefix of the header family: for io_uring a
//     leading "io" "uring", "ioring" or "io" word, and "iosqe" (the IOSQE_
//     flags) becomes "sqe"; other families name theirs in their
//     templates (family.txt: "namespace ublksrv", "namespace ublk"), and
//     Namer applies them.
//  3. Spell each word from the Words table (initialisms such as SQE, CQE,
//     FD, BPF, ZCRX) or else with its first letter in upper case.
//  4. Join the words.
//
// So io_uring_sqe is SQE, user_data is UserData, IORING_SETUP_SQPOLL is
// SetupSQPoll, IOSQE_IO_LINK is SQEIOLink and __kernel_timespec is
// KernelTimespec. Constants of a typed set declared in templates/ with
// "as PREFIX" have the set's C prefix replaced by PREFIX before the rule
// applies; the generator fails on any two C names that map to one Go name.
package goname

import "strings"

// Words spells words that are not simply capitalized: initialisms and
// run-together words whose parts readers know separately.
var Words = map[string]string{
	"bpf": "BPF", "cpu": "CPU", "cq": "CQ", "cqe": "CQE", "cqes": "CQEs", "cqring": "CQRing",
	"dmabuf": "DMABuf", "fd": "FD", "fds": "FDs", "id": "ID", "ids": "IDs", "ifq": "IFQ",
	"io": "IO", "iopoll": "IOPoll", "iowq": "IOWQ", "napi": "NAPI", "pbuf": "PBuf", "pi": "PI",
	"rqe": "RQE", "rqes": "RQEs", "rq": "RQ", "rx": "RX", "sq": "SQ", "sqe": "SQE", "sqes": "SQEs",
	"sqpoll": "SQPoll", "sqring": "SQRing", "siocinq": "SIOCINQ", "siocoutq": "SIOCOUTQ",
	"tx": "TX", "uaddr": "UAddr", "wq": "WQ", "zc": "ZC", "zcrx": "ZCRX", "scq": "SCQ",
	"mmap": "MMap", "tw": "TW", "hw": "HW", "uptr": "UPtr", "pdu": "PDU",
	"nsid": "NSID", "pid": "PID", "uid": "UID", "gid": "GID", "dma": "DMA", "fua": "FUA",
}

// Go returns the Go name of a C identifier under the io_uring namespace.
func Go(c string) string { return IOUring.Go(c) }

// WithPrefix names a constant of a typed set whose C prefix (for example
// "IO_URING_QUERY_") is spelled goPrefix (for example "QueryOp").
func WithPrefix(c, cPrefix, goPrefix string) string { return IOUring.WithPrefix(c, cPrefix, goPrefix) }

// Namer applies the rule with one family's namespace prefixes.
type Namer struct {
	// Namespace lists the leading word sequences step 2 drops, tried in
	// order; the first that matches (and leaves a word) is dropped. Nil
	// means the io_uring namespace.
	Namespace [][]string
}

// IOUring is the Namer of the io_uring headers.
var IOUring = Namer{}

// Go returns the Go name of a C identifier.
func (n Namer) Go(c string) string { return join(n.words(c)) }

// WithPrefix names a constant of a typed set whose C prefix is spelled
// goPrefix.
func (n Namer) WithPrefix(c, cPrefix, goPrefix string) string {
	if goPrefix == "" || !strings.HasPrefix(c, cPrefix) {
		return n.Go(c)
	}
	return goPrefix + join(split(strings.TrimPrefix(c, cPrefix)))
}

func (n Namer) words(c string) []string {
	if n.Namespace == nil {
		return words(c)
	}
	w := split(c)
	for _, ns := range n.Namespace {
		if len(w) > len(ns) && equalWords(w[:len(ns)], ns) {
			return w[len(ns):]
		}
	}
	return w
}

func equalWords(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func split(c string) []string {
	var w []string
	for _, p := range strings.Split(strings.ToLower(c), "_") {
		if p != "" {
			w = append(w, p)
		}
	}
	return w
}

func words(c string) []string {
	w := split(c)
	switch {
	case len(w) > 2 && w[0] == "io" && w[1] == "uring":
		w = w[2:]
	case len(w) > 1 && w[0] == "ioring":
		w = w[1:]
	case len(w) > 1 && w[0] == "iosqe":
		w[0] = "sqe"
	case len(w) > 1 && w[0] == "io":
		w = w[1:]
	}
	return w
}

func join(w []string) string {
	var b strings.Builder
	for _, s := range w {
		if sp, ok := Words[s]; ok {
			b.WriteString(sp)
			continue
		}
		b.WriteString(strings.ToUpper(s[:1]) + s[1:])
	}
	return b.String()
}
