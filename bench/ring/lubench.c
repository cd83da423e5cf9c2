#include <liburing.h>
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

/* reap takes every available completion, waiting for one when none is
 * there; it returns how many it took. */
static unsigned reap(struct io_uring_cqe **cqes, unsigned max)
{
	unsigned n = io_uring_peek_batch_cqe(&ring, cqes, max);
	if (n == 0) {
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(&ring, &cqe) < 0)
			return 0;
		n = io_uring_peek_batch_cqe(&ring, cqes, max);
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
			unsigned n = reap(cqes, batch - got);
			if (n == 0)
				return -1;
			io_uring_cq_advance(&ring, n);
			got += n;
		}
		done += batch;
	}
	return done;
}

long long lu_read(int fd, unsigned qd, long long ops, const unsigned long long *offs, unsigned noffs)
{
	struct io_uring_cqe *cqes[256];
	long long issued = 0, done = 0;
	unsigned k = 0;
	if (posix_memalign((void **)&bufs, 4096, (size_t)qd * 4096))
		return -1;
	for (unsigned i = 0; i < qd && issued < ops; i++, issued++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		io_uring_prep_read(sqe, fd, bufs + (size_t)i * 4096, 4096, offs[k++ % noffs]);
		sqe->user_data = i;
	}
	while (done < ops) {
		io_uring_submit(&ring);
		unsigned n = reap(cqes, 256);
		if (n == 0)
			return -1;
		for (unsigned j = 0; j < n; j++) {
			if (cqes[j]->res != 4096)
				return -2;
			unsigned slot = (unsigned)cqes[j]->user_data;
			done++;
			if (issued < ops) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
				io_uring_prep_read(sqe, fd, bufs + (size_t)slot * 4096, 4096, offs[k++ % noffs]);
				sqe->user_data = slot;
				issued++;
			}
		}
		io_uring_cq_advance(&ring, n);
	}
	return done;
}
