/*
Package uring is the goroutine layer over the rings: io_uring for ordinary
Go code, where any goroutine calls Read or Write and a completion wakes
exactly the goroutine that waits for it.

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
