/*
Package uring is the goroutine layer over the rings: io_uring for ordinary
Go code, where any goroutine calls Read or Write and a completion wakes
exactly the goroutine that waits for it.

# Files

Open, OpenFile, Create, Stat, ReadFile, WriteFile, ReadDir and DirFS do
file I/O through io_uring from any goroutine, as package os does it with
blocking system calls; Mkdir, MkdirAll, Remove, RemoveAll, Rename, Symlink
and Link change the namespace with os's semantics and errors (through the
ring, IORING_OP_MKDIRAT, UNLINKAT, RENAMEAT, SYMLINKAT, LINKAT, when their
context can end). File has
os.File's methods, semantics and errors (Chmod, Chown and Chdir are the
plain system calls: io_uring has no opcode for them), plus a Context form
of each blocking one, WriteSync (a write linked
to an fsync) and AlignedBuffer for O_DIRECT; io.Copy to and from a File
takes the kernel's zero-copy paths that os takes (copy_file_range, sendfile,
splice). FS is a directory-rooted fs.FS (StatFS, ReadFileFS, ReadDirFS) that
passes testing/fstest and serves http.FileServer.

# Files: who owns the rings and threads

An Engine owns a small set of rings, one per P (GOMAXPROCS) by default,
and no threads: there is no ring goroutine that requests are handed to
(that design costs a thread hop and a futex wake per request, and measured
17x slower than os). A request runs on its caller's goroutine, on the ring
of the P it runs on:

  - The caller copies its SQE into the ring under a short lock. If no batch
    is open it opens one and leads it: it yields its P once (to the tail of
    that P's run queue), so the goroutines already runnable there add their
    SQEs and wait, then it publishes the SQ tail and enters the kernel once
    for all of them, holding no lock.
  - Requests that complete inside that io_uring_enter are reaped by the
    leader. Their owners yielded their P once after queueing, behind the
    leader, so when they run again their results are there: no park and
    no wake-up. An owner whose result is not there yet parks (the
    scheduler's own park and ready, no channel); requests known to
    complete later (O_DIRECT, fsync, whatever io-wq runs) park at once.
  - Completions that come later (O_DIRECT reads, fsync and the other
    requests io_uring runs in its io-wq threads, pipes) signal the ring's
    eventfd, on which one reaper goroutine per ring sleeps in Go's
    netpoller. While a leader reaps its own batch the eventfd is switched
    off (IORING_CQ_EVENTFD_DISABLED), so inline completions wake nobody
    else. An idle Engine costs no CPU and no thread.
  - A goroutine that has its ring to itself (the last batches held one
    request each) makes the plain system call instead, which is cheaper
    than a ring trip of one; every 64th request probes the ring again.

Each ring has as many request slots as SQ entries: more requests than that
wait for a slot (backpressure, never an error), which also keeps the CQ
from overflowing. EAGAIN and EBUSY from io_uring_enter are retried after
reaping; nothing queued is dropped.

# Files: when the ring wins, and when it does not

Which requests go through the ring was decided by measurement (bench/files,
make bench-files: this package against os on the same work and goroutines,
in one process, peers interleaved, medians of 5 rounds; 2-vCPU VM, kernel
6.18, ext4 on a virtio disk). Three full runs on 2 December 2026, the
machine quiet but for them (throughput vs os, CPU per operation vs os):

	random 4 KiB page-cache ReadAt, 1 goroutine      0.89-1.04x   0.97-1.11x CPU
	                                32 goroutines    1.06-1.13x   0.90-0.96x CPU
	                               256 goroutines    1.02-1.09x   0.93-1.01x CPU
	  through the ring (Options.RingOnly), 32 g.     0.76-0.99x   1.04-1.35x CPU
	                                      256 g.     0.81-0.99x   1.03-1.27x CPU
	  liburing in C, one thread, queue depth 32      0.75-0.88x   0.58-0.69x CPU
	  liburing, a thread and ring per CPU (limit)    1.32-1.63x   0.60-0.75x CPU
	random 4 KiB O_DIRECT reads, 32 goroutines       1.41-1.45x   0.53-0.60x CPU
	  into unregistered memory (no fixed buffer)     1.38-1.47x   0.58-0.59x CPU
	  without the leader's yield (NoYield)           0.92-0.97x   1.04-1.20x CPU
	  reaper spinning 50 us (Spin)                   1.41-1.50x   0.56-0.61x CPU
	4 KiB O_APPEND writes + fsync, 32 goroutines     1.37-1.64x   0.64-0.84x CPU
	  Write then Sync through this package           0.60-0.73x   1.56-1.72x CPU
	ReadFile of 10,000 files of 1-8 KiB, 32 g.       1.45-1.62x   0.65-0.69x CPU
	copy of a 2,000-file tree, 32 goroutines         0.87-1.05x   0.88-1.02x CPU
	  WriteFile through the ring (a context)         0.79-0.99x
	mkdir+remove of 10,000 directories, 32 g.        0.84-0.96x   1.09-1.13x CPU
	  through the ring (RingOnly)                    0.77-0.92x   1.15-1.57x CPU

(The mkdir+remove row is the same system calls as os's; 32 goroutines
contend for one directory's lock there, spinning in the kernel, which is
most of the 80-130 us of CPU per pair and varies from run to run: 0.95x,
1.16x and 0.95x in three later runs with the peers' order rotating.)

Why page-cache reads are the system call. Where a read's CPU goes (perf
record, 32 goroutines): the kernel's own read, its copy into the caller's
buffer (35-40% of the cycles) and the page-cache lookup (16-19%), is
about 1.1 us for os and for the ring alike. os adds about 0.5 us: the
system call's entry and exit and two reference counts on the file that
both CPUs share (poll.FD's and the kernel's fget and fput). The ring
saves the entry and exit, which a batch shares, but each request costs
its goroutine a switch and the layer's bookkeeping: a NOP through the
ring costs 270-350 ns of CPU at 32 and 256 goroutines
(BenchmarkNopTrip), more than the call's overhead it replaces. Even
perfectly batched (GOMAXPROCS=1, 32 goroutines, every io_uring_enter
carrying 32 reads) a read through the ring cost 1.53-1.70 us of CPU
against os's 1.44-1.51. With two Ps the batches are worse: a P left with
one goroutine submits batches of one while the other P's 31 goroutines
share theirs (Go's scheduler moves goroutines between Ps only when one
runs dry). liburing in C, with a thread and a ring per CPU and no
goroutines at all, is the limit: 1.32-1.63x os at 0.60-0.75x its CPU.
The RWF_NOWAIT call below does what os's ReadAt does without its
wrappers (RawSyscall6 rather than entersyscall, a per-P count instead of
poll.FD's lock): 1.06-1.13x at 32 goroutines, about as far as a
goroutine that makes its own system call can go. So:

  - Buffered reads and writes are made on the caller's thread first, with
    RWF_NOWAIT (preadv2, pwritev2) as a raw system call: a page-cache hit
    completes at once, at about os's cost (without os's entersyscall and
    descriptor locking, with preadv2's 100 ns longer kernel path, which is
    why one goroutine stays just behind os). Only a request that would
    block (EAGAIN: a cache miss, an empty or a full pipe) goes to the ring,
    where it waits without holding a thread.
  - O_DIRECT files always use the ring: os blocks a thread per read, the
    ring none, and the leader's yield batches the submissions (about 15
    reads per io_uring_enter). Where an O_DIRECT read's CPU goes (perf):
    the block layer and virtio about 45% (the mq-deadline scheduler's
    lock, which both CPUs take, among it), Go's scheduler parking and
    waking goroutines and idle threads about 25%, io_uring itself 5%; os
    spends its CPU switching between 32 blocked threads. Neither one ring
    for both CPUs (Rings: 1) nor spinning before sleeping (Spin) took
    any of the scheduler's share.
  - WriteSync links the write to its fsync: one submission per durable
    append, and concurrent ones on an O_APPEND file are not serialized, so
    the journal commits many at once. The time goes to ext4's journal
    commits; os spends it in 32 blocked threads.
  - ReadFile of a file up to 64 KiB is one trip for four requests: openat2
    into the ring's file table (registered files: a direct descriptor that
    never enters the process's descriptor table), two reads of it, close.
    os makes five or six system calls and allocates an os.File for each
    file. The latencies differ in shape, which the bench's p99 column
    (about 0.6 ms against os's 0.06 ms) shows only in part: a driver that
    timed every call (32 goroutines, 3 s, two runs each) had this package
    at a median of 85-86 us, p99 466-497 us, p99.9 0.8-1.1 ms and at most
    5-6 ms, and os at 7.5-7.8 us, 75-77 us, 52-57 ms and 0.3-0.5 s. With
    32 callers each call waits about 32 divided by the throughput (100 us
    here, against os's 170 us) on average; a batch shares that wait out
    evenly, while os's threads serve most calls at once and starve a few.
  - WriteFile is open, write and close as system calls, unless its context
    can end or the process is out of descriptors: io_uring runs every open
    that may create or truncate in an io-wq thread, never inline, and the
    same chain as ReadFile's (open, write, close) measured 0.6x the speed
    of the calls in the tree copy (WriteFileContext with a context that
    can end takes it, and can be cancelled).
  - Mkdir, Remove, Rename, Symlink and Link (and the steps of MkdirAll and
    RemoveAll) are, like Stat, the plain system calls unless their context
    can end: io_uring runs each of them in an io-wq thread, and Mkdir and
    Remove of 10,000 directories from 32 goroutines through the ring
    (RingOnly) measured 0.77-0.92x os at 1.15-1.57x its CPU per pair
    (0.79-1.32x, median 1.01x, in five earlier runs on a loaded machine),
    with a lower p99 latency (0.38-0.75x os's). Their Context forms with a
    context that can end take the ring (cancellable).
  - Stat is the plain statx system call unless its context can end
    (io_uring runs every statx in an io-wq thread, a hop that costs more than
    the call); Open and Close go through the ring when other goroutines
    share the batch, and are the plain calls for a goroutine alone.
  - Fixed buffers and registered files are used where every request goes
    through the ring, O_DIRECT: AlignedBuffer's memory is registered with
    the rings as a fixed buffer while it is reachable, and ReadAt, WriteAt,
    Read and Write into any part of it are READ_FIXED and WRITE_FIXED,
    which spare the kernel pinning and unpinning the caller's pages on
    each request (get_user_pages); an O_DIRECT File is installed in every
    ring's file table at open, so its requests spare the descriptor
    lookup and reference count (fget, fput). Together they took 6% of the
    CPU of an O_DIRECT read (perf); reads through them measured 0.93x the
    CPU per read of the same reads into unregistered memory (12 rounds,
    interleaved; 0.92-1.02x in the table's runs). Page-cache reads gain nothing from either: they are
    the RWF_NOWAIT system call, which takes the caller's buffer and
    descriptor, and the ring's page-cache read copies just as the call
    does.

# Files: memory

The kernel reads and writes a request's buffer until its completion. The
buffer, and anything else an SQE points to (paths, struct open_how,
statx), stays referenced from the request's slot until then; referencing
it from the heap also makes the compiler allocate it on the heap, where Go
never moves objects (goroutine stacks move). A call whose context ends
first cancels its request (IORING_OP_ASYNC_CANCEL) and still waits for the
request's own completion before it returns: when any call returns, the
kernel is done with its buffer.

# Files: context and errors

Errors are *fs.PathError with os's Op strings ("open", "read", "write",
"seek", "sync", "truncate", "stat", "close", "mkdir", "remove",
"unlinkat", "chmod" ...) or *os.LinkError ("rename", "symlink", "link")
wrapping the errno (so
errors.Is(err, fs.ErrNotExist) works), os.ErrClosed for a closed File or
Engine, and context.Canceled or context.DeadlineExceeded, wrapped the same
way, when a Context form's context ends. What the kernel interrupts or
cancels on its own is retried, never returned: EINTR, and the -ECANCELED
with which Linux 6.1 fails a request it punted to an io-wq thread, before
the request ran, when creating that thread was interrupted by signals.

# Network

Listen and Dial (and ListenConfig, Dialer) give a net.Listener and
net.Conn for TCP ("tcp", "tcp4", "tcp6") and Unix stream sockets, drop-in
for package net's in goroutine-per-connection servers and clients such as
net/http and crypto/tls:

	ln, err := uring.Listen("tcp", ":8080")
	...
	http.Serve(ln, handler)

	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return uring.DialContext(ctx, network, addr)
	}}

The Conn follows net's semantics: one Read and one Write at a time each,
from any goroutines; deadlines movable while a call blocks, failing it
with an error that is os.ErrDeadlineExceeded and a net.Error whose
Timeout is true; Close unblocking both with net.ErrClosed; errors are
*net.OpError. It passes golang.org/x/net/nettest.TestConn.

# Network: rings and threads

The network layer has its own small set of rings (NetOptions.Rings,
default GOMAXPROCS at first use; SetNetOptions before the first Listen or
Dial changes it); each new connection goes to the ring serving the
fewest. It parks no thread and runs no goroutine of its own. A goroutine
that must wait for a completion (a Write whose socket buffer is full,
Accept, a dial, a Read in the ring receive modes) submits its request,
then either becomes
its ring's poller, waiting in Go's netpoller on the ring's descriptor and
dispatching every completion it finds until its own is there, or, when
another goroutine polls already, sleeps on its own channel until the
poller hands it its result. A lone connection's goroutine is thus woken by
the netpoller itself, as in package net. Reads that several goroutines
submit at about the same time go to the kernel in one io_uring_enter.

Sizing: one ring per P is the default and rarely worth changing; fewer
rings (1 or 2) keep more connections on each, so more requests share a
submission and a poller. Nothing is allocated per idle connection beyond
the Conn and, in multishot mode, nothing per connection at all until
data arrives.

# Network: reads and writes

By default a Read is a recv(2) on the non-blocking socket and, when no
data has arrived, waits for the socket's readiness in Go's netpoller and
receives again, as package net does: one wake-up per arrival, from the
netpoller straight to the reading goroutine. A receive through the ring
costs more at any load measured here: a poll-armed receive completes as
task work on the thread that submitted it, so the kernel wakes that
thread to post the completion, and only then does the ring's descriptor
wake the netpoller (two context switches more per round trip than net at
one connection). The socket is registered with the netpoller when the
connection opens; Close wakes a Read waiting there with net.ErrClosed and
closes the descriptor only after a recv(2) that runs has returned.

NetOptions.RingRecv makes each Read submit one receive into the caller's
buffer through the ring instead (a single copy, as with net) and wait for
it. NetOptions.Multishot arms one multishot receive per connection into
its ring's provided buffers (NetOptions.Buffers, BufSize): data is
received before any Read asks, and a Read copies it out (the remainder
stays for the next Read);
a connection holding more than a few buffers pauses its receive, so a
slow reader keeps neither the ring's buffers nor unbounded memory. Writes
are plain send(2) calls while the socket buffer has room (a ring trip
costs more than the system call here); when it is full, a Write waits for
room in Go's netpoller by default and sends through the ring in the ring
receive modes (at 256 connections of net/http with 16 KiB responses the
ring send measured 0.71x net, the netpoller wait 0.96x). A Write returns
only when the kernel is done with its buffer, also when a deadline or
Close cancels it. In the default mode the deadlines are the os.File's,
kept by the netpoller as net's are, and every wait of a Read, Write or
ReadFrom is there: setting a deadline takes no lock or timer of the
Conn's (net/http sets them several times per request; a read and a write
deadline together measured 112 ns against net's 155), and a call that a
passed deadline fails makes no further system call (an aborted waiting
Read made a second recv(2) before: net/http aborts its background Read
on most requests). Zero-copy send does not pay over
loopback (the kernel copies anyway) and is not used. The kernel needs
multishot accept and receive (Linux 6.0); socket, bind, listen and
connect are plain system calls, so no newer opcode is needed.

# Network: when to use it

Measured on a 2-CPU machine with the load generator on the same CPUs
(make bench-echo, make bench-http; the README has the figures), this
layer in its default readiness mode is about even with package net on
goroutine-per-connection echo at 1, 16 and 256 connections (0.80x to
1.30x over four runs, 0.93x to 1.16x at 1x64 with 0.88x to 0.92x of
net's CPU per round trip) and on net/http (0.76x to 1.22x, a little
behind at 256 connections, with up to 1.2x net's CPU per request; 0.79x
to 1.05x in two later runs, hello at 256 connections at 1.07x to 1.08x
net's CPU per request; profiled there with perf, this layer's code with
os's wrappers under it took 10% to 11% of the server's samples where
net's code and wrappers took 6% to 7.5%, the rest being the same
net/http and kernel paths);
receiving through the ring (RingRecv) is behind at every load, most at 1
connection (0.6x), where each completion costs the task-work wake-up
described above. Use it
where its semantics are needed on io_uring (one ring shared with file
I/O, many idle connections in multishot mode); for raw network speed use
the rings (runtime/ring, runtime/sock, runtime/bufring) directly in an
event loop that owns its connections, as examples/echo does.
*/
package uring
