/*
 * peer-common.c: what the C peers (lxc-peer.c, tools-peer.c) share. See peer-common.h
 * and ../README.md (the protocol).
 */
#define _GNU_SOURCE
#include "peer-common.h"

#include <dirent.h>
#include <getopt.h>
#include <stdarg.h>
#include <time.h>

/* ---------------------------------------------------------------- failure */

void die(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *p = line; *p; p++)
		if (*p == '\n')
			*p = ' ';
	fprintf(stderr, "%s\n", line);
	_exit(1);
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die("out of memory");
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		die("out of memory");
	return p;
}

double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------- command line */

static long long parse_num(const char *opt, const char *s, long long min, long long max)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		die("invalid value for --%s: '%s' (want an integer in %lld..%lld)", opt, s, min, max);
	return v;
}

static __attribute__((noreturn)) void usage_die(const char *prog, const char *why)
{
	die("%s; usage: %s exec|exec-output|lifecycle|reads|memory --lxcpath PATH --name NAME "
	    "[--iterations K] [--warmup W] [--concurrency C] [--bytes BYTES] [--prefix PREFIX]",
	    why, prog);
}

void parse_opts(int argc, char **argv, struct peer_opts *o)
{
	static const struct option longopts[] = {
		{"lxcpath", required_argument, NULL, 'P'},
		{"name", required_argument, NULL, 'n'},
		{"iterations", required_argument, NULL, 'k'},
		{"warmup", required_argument, NULL, 'w'},
		{"concurrency", required_argument, NULL, 'c'},
		{"bytes", required_argument, NULL, 'b'},
		{"prefix", required_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->iterations = 100;
	o->warmup = 3;
	o->concurrency = 1;
	o->bytes = -1;

	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (ch) {
		case 'P': o->lxcpath = optarg; break;
		case 'n': o->name = optarg; break;
		case 'k': o->iterations = (long)parse_num("iterations", optarg, 1, 100000000); break;
		case 'w': o->warmup = (long)parse_num("warmup", optarg, 0, 100000000); break;
		case 'c': o->concurrency = (long)parse_num("concurrency", optarg, 1, 4096); break;
		case 'b': o->bytes = parse_num("bytes", optarg, 0, (long long)1 << 50); break;
		case 'p': o->prefix = optarg; break;
		case ':': usage_die(argv[0], "missing option argument");
		default: usage_die(argv[0], "unknown option");
		}
	}
	if (optind != argc - 1)
		usage_die(argv[0], "exactly one workload expected");
	const char *w = argv[optind];
	o->workload_name = w;
	if (!strcmp(w, "exec"))
		o->workload = W_EXEC;
	else if (!strcmp(w, "exec-output"))
		o->workload = W_EXEC_OUTPUT;
	else if (!strcmp(w, "lifecycle"))
		o->workload = W_LIFECYCLE;
	else if (!strcmp(w, "reads"))
		o->workload = W_READS;
	else if (!strcmp(w, "memory"))
		o->workload = W_MEMORY;
	else
		usage_die(argv[0], "unknown workload");
	if (!o->lxcpath || !*o->lxcpath)
		usage_die(argv[0], "--lxcpath is required");
	if (!o->name || !*o->name)
		usage_die(argv[0], "--name is required");
	if (o->workload == W_EXEC_OUTPUT && o->bytes < 0)
		usage_die(argv[0], "exec-output needs --bytes");
	if (o->workload == W_LIFECYCLE && (!o->prefix || !*o->prefix))
		usage_die(argv[0], "lifecycle needs --prefix");
}

/* ------------------------------------------------------------ fd helpers */

int fd_above_stdio(int fd)
{
	if (fd > 2)
		return fd;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		die("fcntl(F_DUPFD_CLOEXEC): %s", strerror(errno));
	close(fd);
	return nfd;
}

void make_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe2: %s", strerror(errno));
	p[0] = fd_above_stdio(p[0]);
	p[1] = fd_above_stdio(p[1]);
}

int open_devnull(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open /dev/null: %s", strerror(errno));
	return fd_above_stdio(fd);
}

/* --------------------------------------------------------- /proc readers */

long read_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		die("open /proc/self/status: %s", strerror(errno));
	char line[256];
	long kb = -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6)) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	if (kb < 0)
		die("no VmRSS in /proc/self/status");
	return kb;
}

long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		die("opendir /proc/self/fd: %s", strerror(errno));
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* ----------------------------------------------------------------- series */

void series_init(struct series *s, long cap)
{
	s->v = xcalloc((size_t)cap, sizeof(double));
	s->cap = cap;
	atomic_init(&s->n, 0);
}

void series_add(struct series *s, double ms)
{
	long i = atomic_fetch_add(&s->n, 1);
	if (i >= s->cap)
		die("internal: series overflow");
	s->v[i] = ms;
}

void series_free(struct series *s)
{
	free(s->v);
	s->v = NULL;
}

void phases_init(struct phases *ph, long cap, const char *a, const char *b, const char *c,
		 const char *d)
{
	const char *names[4] = {a, b, c, d};
	for (int i = 0; i < 4; i++) {
		ph->names[i] = names[i];
		series_init(&ph->s[i], cap);
	}
}

void phases_free(struct phases *ph)
{
	for (int i = 0; i < 4; i++)
		series_free(&ph->s[i]);
}

/* ----------------------------------------------------------------- runner */

struct runner;

struct worker {
	struct runner *r;
	void *ctx;
	double first_start, last_end; /* of this worker's timed operations */
	int did_timed;
};

struct runner {
	const struct peer_opts *o;
	op_fn fn;
	atomic_long next;
	pthread_barrier_t barrier; /* around the measurement after the warm-up */
	struct run_result *res;
};

/* Take operation numbers from the shared counter until it reaches end. */
static void worker_phase(struct worker *w, long end, int timed)
{
	struct runner *r = w->r;
	for (;;) {
		long idx = atomic_fetch_add(&r->next, 1);
		if (idx >= end)
			break;
		if (!timed) {
			r->fn(w->ctx, idx, 0);
			continue;
		}
		double t0 = now_ms();
		r->fn(w->ctx, idx, 1);
		double t1 = now_ms();
		series_add(&r->res->samples, t1 - t0);
		if (!w->did_timed || t0 < w->first_start)
			w->first_start = t0;
		if (!w->did_timed || t1 > w->last_end)
			w->last_end = t1;
		w->did_timed = 1;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct runner *r = w->r;
	worker_phase(w, r->o->warmup, 0);
	pthread_barrier_wait(&r->barrier); /* warm-up done */
	pthread_barrier_wait(&r->barrier); /* main thread has measured and reset the counter */
	worker_phase(w, r->o->warmup + r->o->iterations, 1);
	return NULL;
}

void run_workload(const struct peer_opts *o, void **ctxs, op_fn fn, struct run_result *res)
{
	long C = o->concurrency;
	struct runner r = {.o = o, .fn = fn, .res = res};
	struct worker *ws = xcalloc((size_t)C, sizeof(*ws));

	memset(res, 0, sizeof(*res));
	series_init(&res->samples, o->iterations);
	atomic_init(&r.next, 0);
	for (long i = 0; i < C; i++) {
		ws[i].r = &r;
		ws[i].ctx = ctxs[i];
	}

	if (C == 1) {
		worker_phase(&ws[0], o->warmup, 0);
		res->rss_before_kb = read_rss_kb();
		res->fds_before = count_fds();
		atomic_store(&r.next, o->warmup);
		worker_phase(&ws[0], o->warmup + o->iterations, 1);
	} else {
		pthread_t *tids = xcalloc((size_t)C, sizeof(*tids));
		if (pthread_barrier_init(&r.barrier, NULL, (unsigned)C + 1))
			die("pthread_barrier_init failed");
		for (long i = 0; i < C; i++) {
			int err = pthread_create(&tids[i], NULL, worker_main, &ws[i]);
			if (err)
				die("pthread_create: %s", strerror(err));
		}
		pthread_barrier_wait(&r.barrier);
		res->rss_before_kb = read_rss_kb();
		res->fds_before = count_fds();
		atomic_store(&r.next, o->warmup);
		pthread_barrier_wait(&r.barrier);
		for (long i = 0; i < C; i++)
			pthread_join(tids[i], NULL);
		pthread_barrier_destroy(&r.barrier);
		free(tids);
	}
	res->rss_after_kb = read_rss_kb();
	res->fds_after = count_fds();

	double first = 0, last = 0;
	int any = 0;
	for (long i = 0; i < C; i++) {
		if (!ws[i].did_timed)
			continue;
		if (!any || ws[i].first_start < first)
			first = ws[i].first_start;
		if (!any || ws[i].last_end > last)
			last = ws[i].last_end;
		any = 1;
	}
	res->wall_ms = any ? last - first : 0;
	free(ws);
}

/* ------------------------------------------------------------ JSON output */

static void print_series(const struct series *s)
{
	long n = atomic_load(&s->n);
	putchar('[');
	for (long i = 0; i < n; i++)
		printf(i ? ",%.4f" : "%.4f", s->v[i]);
	putchar(']');
}

/* The strings printed are container states and IP addresses, but escape anyway. */
static void print_json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void print_phases(const struct phases *ph)
{
	printf("\"phases\": {");
	for (int i = 0; i < 4; i++) {
		printf(i ? ", \"%s\": " : "\"%s\": ", ph->names[i]);
		print_series(&ph->s[i]);
	}
	printf("}");
}

/* {"samples": [...], "wallMs": ms   (the caller adds the rest and closes) */
static void print_samples_head(const struct run_result *res)
{
	printf("{\"samples\": ");
	print_series(&res->samples);
	printf(", \"wallMs\": %.4f", res->wall_ms);
}

void print_exec_json(const struct run_result *res)
{
	print_samples_head(res);
	printf("}\n");
}

void print_memory_json(const struct run_result *res)
{
	print_samples_head(res);
	printf(", \"rssBeforeKb\": %ld, \"rssAfterKb\": %ld, \"fdsBefore\": %ld, \"fdsAfter\": %ld}\n",
	       res->rss_before_kb, res->rss_after_kb, res->fds_before, res->fds_after);
}

void print_lifecycle_json(const struct run_result *res, const struct phases *ph)
{
	print_samples_head(res);
	printf(", ");
	print_phases(ph);
	printf("}\n");
}

void read_values_clear(struct read_values *v)
{
	free(v->state);
	for (long i = 0; i < v->nips; i++)
		free(v->ips[i]);
	free(v->ips);
	memset(v, 0, sizeof(*v));
}

void print_reads_json(const struct run_result *res, const struct phases *ph,
		      const struct read_values *v)
{
	printf("{\"wallMs\": %.4f, ", res->wall_ms);
	print_phases(ph);
	printf(", \"values\": {\"state\": ");
	print_json_string(v->state ? v->state : "");
	printf(", \"ips\": [");
	for (long i = 0; i < v->nips; i++) {
		if (i)
			printf(", ");
		print_json_string(v->ips[i]);
	}
	printf("], \"cpuNs\": %llu, \"memoryBytes\": %llu}}\n", v->cpu_ns, v->memory_bytes);
}

/* ----------------------------------------------------------- text parsing */

int parse_u64(const char *s, unsigned long long *out)
{
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || (*end && *end != '\n' && *end != ' '))
		return -1;
	*out = v;
	return 0;
}

int parse_usage_usec(const char *stat, unsigned long long *out)
{
	const char *p = stat;
	while (p && *p) {
		if (!strncmp(p, "usage_usec ", 11))
			return parse_u64(p + 11, out);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

op_fn choose_op(const struct peer_opts *o, const struct peer_ops *ops, struct phases *ph)
{
	switch (o->workload) {
	case W_EXEC:
	case W_MEMORY: return ops->exec;
	case W_EXEC_OUTPUT: return ops->exec_output;
	case W_LIFECYCLE:
		phases_init(ph, o->iterations, "clone", "start", "stop", "destroy");
		return ops->lifecycle;
	case W_READS:
		phases_init(ph, o->iterations, "state", "ips", "cpu", "memory");
		return ops->reads;
	}
	die("unknown workload");
	return NULL;
}

void print_result(const struct peer_opts *o, struct run_result *res, struct phases *ph,
		  struct read_values *v)
{
	switch (o->workload) {
	case W_EXEC:
	case W_EXEC_OUTPUT: print_exec_json(res); break;
	case W_MEMORY: print_memory_json(res); break;
	case W_LIFECYCLE: print_lifecycle_json(res, ph); break;
	case W_READS: print_reads_json(res, ph, v); break;
	}
	if (fflush(stdout) != 0)
		die("write to stdout failed");
	series_free(&res->samples);
	if (o->workload == W_LIFECYCLE || o->workload == W_READS)
		phases_free(ph);
	read_values_clear(v);
}
