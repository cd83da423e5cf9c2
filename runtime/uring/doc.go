/*
Package uring is the goroutine layer over the rings: io_uring for ordinary
Go code, where any goroutine calls Read or Write and a completion wakes
exactly the goroutine that waits for it.

# Files

Open, OpenFile, Create, Stat and DirFS do file I/O through io_uring: any
goroutine calls ReadAt, WriteAt, Sync ... as with package os, and the
requests of many goroutines share io_uring_enter calls. File has os.File's
I/O methods, semantics and errors, plus a Context form of each blocking
one; FS is a directory-rooted fs.FS.

# Files: who owns the rings and threads

An Engine owns a small set of rings, one per P (GOMAXPROCS) by default, and
no threads: there is no ring goroutine that requests are handed to (that
design costs a thread hop and a futex wake per request). A request runs on
its caller's goroutine, on the ring of the P it runs on:

  - The caller copies its SQE into the ring under a short lock. If no batch
    is open it opens one and leads it: it yields its P once (to the tail of
    that P's run queue), so the goroutines already runnable there add their
    SQEs and park, then it publishes the SQ tail and enters the kernel once
    for all of them, holding no lock.
  - Page-cache reads and writes complete inside that io_uring_enter, so the
    leader finds the batch's completions posted when it returns; it reaps
    them and wakes each owner (the scheduler's own park and ready, no
    channel).
  - Completions that come later (io-wq work such as fsync, O_DIRECT, pipes
    and other blocking files) signal the ring's eventfd, on which one reaper
    goroutine per ring sleeps in Go's netpoller. While a leader reaps its own
    batch the eventfd is switched off (IORING_CQ_EVENTFD_DISABLED), so inline
    completions wake nobody else. An idle Engine costs no CPU and no thread.
  - A goroutine that has its ring to itself (the last batches held one
    request each) makes the plain system call instead, which is cheaper
    than a ring trip of one; every 64th request probes the ring again.

Each ring has as many slots as SQ entries: more requests than that wait for
a slot (backpressure, never an error), which also keeps the CQ from
overflowing. EAGAIN and EBUSY from io_uring_enter are retried after reaping.

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
"seek", "sync", "truncate", "stat", "close") wrapping the errno (so
errors.Is(err, fs.ErrNotExist) works), os.ErrClosed for a closed File or
Engine, and context.Canceled or context.DeadlineExceeded, wrapped the same
way, when a Context form's context ends.

# Network

Listen and Dial (and ListenConfig, Dialer) give a net.Listener and
net.Conn for TCP and Unix stream sockets, drop-in for net's in
goroutine-per-connection servers such as net/http:

	ln, err := uring.Listen("tcp", ":8080")
	...
	http.Serve(ln, handler)

A few rings (NetOptions.Rings, default GOMAXPROCS) serve all connections;
each new connection goes to the ring with the fewest. No thread is parked
per ring: each ring's completions are reaped by a goroutine that waits in
Go's own netpoller on the ring's descriptor. A connection's data arrives
through one multishot receive into the ring's provided buffers, armed when
the connection opens, so a Read costs no system call: it copies what has
arrived, or the completion copies straight into the buffer of the Read
waiting for it. Writes are plain send(2) calls while the socket buffer has
room (the cheapest way to hand bytes to the kernel) and go through the ring
when it is full; a Write returns only when the kernel is done with its
buffer, also when a deadline or Close cancels it.

Use this layer for goroutine-per-connection code; use the rings
(runtime/ring, runtime/sock, runtime/bufring) directly for an event loop
that owns its connections, as examples/echo does.
*/
package uring
