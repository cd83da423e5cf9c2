/* C side of the ring benchmark: whole workload loops in C over liburing,
 * so no cgo call sits inside the measured loop. */
#ifndef URGEN_BENCH_LIBURING_H
#define URGEN_BENCH_LIBURING_H
int lu_init(unsigned entries);
void lu_exit(void);
long long lu_nop(unsigned batch, long long ops);
long long lu_read(int fd, unsigned qd, long long ops, const unsigned long long *offs, unsigned noffs);
long long lu_read_threads(int fd, unsigned threads, unsigned qd, long long ops,
			  const unsigned long long *offs, unsigned noffs);
#endif
