/*
 * peer-common.h: what the C peers (lxc-peer.c, tools-peer.c) share; see peer-common.c.
 *
 *   cc -O2 -Wall -Wextra -o lxc-peer lxc-peer.c peer-common.c $(pkg-config --cflags --libs lxc) -lpthread
 *   cc -O2 -Wall -Wextra -o tools-peer tools-peer.c peer-common.c -lpthread
 *
 * Contents: command line (../README.md), failure reporting, the monotonic clock, sample
 * series, the worker runner (warm-up, then the timed operations shared by C workers
 * through an atomic counter), /proc/self readers, cgroup value parsing, JSON printing.
 */
#ifndef PEER_COMMON_H
#define PEER_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- failure */

/* One line on stderr, exit status 1 (_exit: other threads may be inside liblxc; nothing
 * has been written to stdout yet, the JSON line is printed at the very end). */
__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);

/* Milliseconds on CLOCK_MONOTONIC. */
double now_ms(void);

/* ---------------------------------------------------------- command line */

enum workload { W_EXEC, W_EXEC_OUTPUT, W_LIFECYCLE, W_READS, W_MEMORY };

struct peer_opts {
	enum workload workload;
	const char *workload_name;
	const char *lxcpath;
	const char *name;
	const char *prefix; /* lifecycle (required there) */
	long iterations;    /* default 100 */
	long warmup;        /* default 3 */
	long concurrency;   /* default 1 */
	long long bytes;    /* exec-output (required there) */
};

/* <peer> <workload> --lxcpath PATH --name NAME [options]; dies on bad usage. */
void parse_opts(int argc, char **argv, struct peer_opts *o);

/* ------------------------------------------------------------ fd helpers */

/* fd moved (close-on-exec) above 2, so that a pipe never lands on stdin/stdout/stderr
 * (possible when the peer was started with one of them closed). */
int fd_above_stdio(int fd);
/* pipe2(O_CLOEXEC), both ends above 2. */
void make_pipe(int p[2]);
/* /dev/null, O_RDWR | O_CLOEXEC, above 2. */
int open_devnull(void);

/* --------------------------------------------------------- /proc readers */

long read_rss_kb(void); /* VmRSS of /proc/self/status */
long count_fds(void);   /* entries of /proc/self/fd, minus the one used to list it */

/* ----------------------------------------------------------------- series */

/* Fixed capacity, appended to from several threads in completion order. */
struct series {
	double *v;
	long cap;
	atomic_long n;
};

void series_init(struct series *s, long cap);
void series_add(struct series *s, double ms);
void series_free(struct series *s);

/* The four phases of lifecycle (clone, start, stop, destroy) or reads (state, ips, cpu,
 * memory). */
struct phases {
	const char *names[4];
	struct series s[4];
};

void phases_init(struct phases *ph, long cap, const char *a, const char *b, const char *c,
		 const char *d);
void phases_free(struct phases *ph);

/* ----------------------------------------------------------------- runner */

/* One operation; idx is 0 … W+K-1 (warm-up first), timed says whether it counts. It
 * dies on failure. */
typedef void (*op_fn)(void *worker_ctx, long idx, int timed);

struct run_result {
	struct series samples; /* per timed operation, completion order */
	double wall_ms;        /* first timed start to last timed end */
	long rss_before_kb, rss_after_kb, fds_before, fds_after;
};

/* W warm-up then K timed operations over C workers (ctxs[0..C-1], one per worker).
 * RSS and fds are read after the warm-up and after the last operation.
 * C == 1 runs on the calling thread: no thread is created at all. */
void run_workload(const struct peer_opts *o, void **ctxs, op_fn fn, struct run_result *res);

/* ------------------------------------------------------------ JSON output */

/* Values of the reads workload (from the last timed operation). */
struct read_values {
	char *state;
	char **ips;
	long nips;
	unsigned long long cpu_ns;
	unsigned long long memory_bytes;
};

void read_values_clear(struct read_values *v);

void print_exec_json(const struct run_result *res);
void print_memory_json(const struct run_result *res);
void print_lifecycle_json(const struct run_result *res, const struct phases *ph);
void print_reads_json(const struct run_result *res, const struct phases *ph,
		      const struct read_values *v);

/* ------------------------------------------------------ the two peers' main */

/* What each workload runs in one peer (memory runs exec). */
struct peer_ops {
	op_fn exec, exec_output, lifecycle, reads;
};

/* The operation of o->workload; names the phases of lifecycle and reads. */
op_fn choose_op(const struct peer_opts *o, const struct peer_ops *ops, struct phases *ph);

/* Prints the workload's JSON line (dies if stdout fails), then frees res, ph and v. */
void print_result(const struct peer_opts *o, struct run_result *res, struct phases *ph,
		  struct read_values *v);

/* ----------------------------------------------------------- text parsing */

/* A cgroup value: a leading integer ("12345\n"); 0 or -1. */
int parse_u64(const char *s, unsigned long long *out);
/* cgroup v2 cpu.stat: the value of its "usage_usec" line; 0 or -1 (no such line). */
int parse_usage_usec(const char *stat, unsigned long long *out);

#endif /* PEER_COMMON_H */
