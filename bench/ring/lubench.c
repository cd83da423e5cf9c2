#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include "lubench.h"

static struct io_uring ring;
static char *bufs;

int lu_init(unsigned entries)
{
	return io_uring_queue_init(entries, &ring, 0);
}

void lu_exit(void)
{
	io_uring_queue_exit(&ring);
	free(bufs);
	bufs = NULL;
}

/* reap takes every available completion of r, waiting for one when none is
 * there; it returns how many it took. */
static unsigned reap(struct io_uring *r, struct io_uring_cqe **cqes, unsigned max)
{
	unsigned n = io_uring_peek_batch_cqe(r, cqes, max);
	if (n == 0) {
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(r, &cqe) < 0)
			return 0;
		n = io_uring_peek_batch_cqe(r, cqes, max);
	}
	return n;
}

long long lu_nop(unsigned batch, long long ops)
{
	struct io_uring_cqe *cqes[256];
	long long done = 0;
	while (done < ops) {
		for (unsigned i = 0; i < batch; i++)
			io_uring_prep_nop(io_uring_get_sqe(&ring));
		io_uring_submit(&ring);
		unsigned got = 0;
		while (got < batch) {
			unsigned n = reap(&ring, cqes, batch - got);
			if (n == 0)
				return -1;
			io_uring_cq_advance(&ring, n);
			got += n;
		}
		done += batch;
	}
	return done;
}

/* read_loop keeps qd 4 KiB reads of fd in flight on ring, into bufs (qd
 * blocks), until ops have completed, taking offsets from offs starting at
 * index k (cycled); it returns how many completed, negative on error. */
static long long read_loop(struct io_uring *r, char *bufs, int fd, unsigned qd, long long ops,
			   const unsigned long long *offs, unsigned noffs, unsigned k)
{
	struct io_uring_cqe *cqes[256];
	long long issued = 0, done = 0;
	for (unsigned i = 0; i < qd && issued < ops; i++, issued++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(r);
		io_uring_prep_read(sqe, fd, bufs + (size_t)i * 4096, 4096, offs[k++ % noffs]);
		sqe->user_data = i;
	}
	while (done < ops) {
		io_uring_submit(r);
		unsigned n = reap(r, cqes, 256);
		if (n == 0)
			return -1;
		for (unsigned j = 0; j < n; j++) {
			if (cqes[j]->res != 4096)
				return -2;
			unsigned slot = (unsigned)cqes[j]->user_data;
			done++;
			if (issued < ops) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(r);
				io_uring_prep_read(sqe, fd, bufs + (size_t)slot * 4096, 4096, offs[k++ % noffs]);
				sqe->user_data = slot;
				issued++;
			}
		}
		io_uring_cq_advance(r, n);
	}
	return done;
}

long long lu_read(int fd, unsigned qd, long long ops, const unsigned long long *offs, unsigned noffs)
{
	if (posix_memalign((void **)&bufs, 4096, (size_t)qd * 4096))
		return -1;
	return read_loop(&ring, bufs, fd, qd, ops, offs, noffs, 0);
}

/* One thread of lu_read_threads: its own ring and buffers. */
struct reader {
	pthread_t thread;
	int fd;
	unsigned qd, noffs, k;
	long long ops, done;
	const unsigned long long *offs;
};

static void *reader_run(void *arg)
{
	struct reader *t = arg;
	struct io_uring r;
	char *b;
	t->done = -1;
	if (io_uring_queue_init(2 * t->qd, &r, 0) < 0)
		return NULL;
	if (posix_memalign((void **)&b, 4096, (size_t)t->qd * 4096) == 0) {
		t->done = read_loop(&r, b, t->fd, t->qd, t->ops, t->offs, t->noffs, t->k);
		free(b);
	}
	io_uring_queue_exit(&r);
	return NULL;
}

long long lu_read_threads(int fd, unsigned threads, unsigned qd, long long ops,
			  const unsigned long long *offs, unsigned noffs)
{
	struct reader t[64];
	long long done = 0;
	unsigned started = 0;
	if (threads == 0 || threads > 64)
		return -3;
	for (; started < threads; started++) {
		t[started] = (struct reader){ .fd = fd, .qd = qd, .ops = ops, .offs = offs,
					      .noffs = noffs, .k = started * (noffs / threads) };
		if (pthread_create(&t[started].thread, NULL, reader_run, &t[started]))
			break;
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(t[i].thread, NULL);
		if (t[i].done < 0)
			done = -1;
		else if (done >= 0)
			done += t[i].done;
	}
	return started == threads ? done : -4;
}
