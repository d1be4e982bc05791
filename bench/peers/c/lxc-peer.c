/*
 * lxc-peer.c: the peer "c" of the benchmark (see ../README.md): liblxc called directly.
 *
 *   cc -O2 -Wall -Wextra -o lxc-peer lxc-peer.c peer-common.c $(pkg-config --cflags --libs lxc) -lpthread
 *
 * One lxc_container handle per worker (liblxc's objects are not safe to share between
 * threads that fork: see /work/shared/LXC-NOTES.md).
 */
#define _GNU_SOURCE
#include "peer-common.h"

#include <errno.h>
#include <lxc/attach_options.h>
#include <lxc/lxccontainer.h>
#include <sys/types.h>
#include <sys/wait.h>

static struct peer_opts opts;
static int devnull_fd = -1;
static struct phases phases;
static struct read_values values;
static pthread_mutex_t values_lock = PTHREAD_MUTEX_INITIALIZER;

struct ctx {
	struct lxc_container *c;
	char *buf; /* exec-output read buffer */
};

#define READ_BUF (128 * 1024)

static void describe_status(int st, char *out, size_t n)
{
	if (WIFEXITED(st))
		snprintf(out, n, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(out, n, "killed by signal %d", WTERMSIG(st));
	else
		snprintf(out, n, "wait status 0x%x", (unsigned)st);
}

/* Attach options: the defaults, but never fd 0 as stdin (liblxc then sets SIGINT and
 * SIGQUIT to SIG_IGN in this process). */
static lxc_attach_options_t attach_options(void)
{
	lxc_attach_options_t ao = LXC_ATTACH_OPTIONS_DEFAULT;
	ao.stdin_fd = devnull_fd;
	return ao;
}

/* ------------------------------------------------------------- workloads */

static void op_exec(void *vctx, long idx, int timed)
{
	(void)idx;
	(void)timed;
	struct ctx *x = vctx;
	lxc_attach_options_t ao = attach_options();
	const char *argv[] = {"/bin/true", NULL};
	int st = x->c->attach_run_wait(x->c, &ao, "/bin/true", argv);
	if (st == -1)
		die("attach_run_wait(/bin/true) in %s failed", opts.name);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char d[64];
		describe_status(st, d, sizeof(d));
		die("/bin/true in %s %s", opts.name, d);
	}
}

static void op_exec_output(void *vctx, long idx, int timed)
{
	(void)idx;
	(void)timed;
	struct ctx *x = vctx;
	char bytes[32];
	snprintf(bytes, sizeof(bytes), "%lld", opts.bytes);
	char *argv[] = {"head", "-c", bytes, "/dev/zero", NULL};
	lxc_attach_command_t cmd = {.program = "head", .argv = argv};

	int p[2];
	make_pipe(p);
	lxc_attach_options_t ao = attach_options();
	ao.stdout_fd = p[1];
	pid_t pid = -1;
	int ret = x->c->attach(x->c, lxc_attach_run_command, &cmd, &ao, &pid);
	close(p[1]); /* the child has its copy: EOF comes when head exits */
	if (ret < 0 || pid <= 0)
		die("attach(head -c %s /dev/zero) in %s failed", bytes, opts.name);

	long long total = 0;
	for (;;) {
		ssize_t n = read(p[0], x->buf, READ_BUF);
		if (n > 0) {
			total += n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		die("read from head's stdout: %s", strerror(errno));
	}
	close(p[0]);

	int st;
	pid_t w;
	while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	if (w < 0)
		die("waitpid(%d) for head: %s", (int)pid, strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char d[64];
		describe_status(st, d, sizeof(d));
		die("head -c %s /dev/zero in %s %s", bytes, opts.name, d);
	}
	if (total != opts.bytes)
		die("head -c %s /dev/zero in %s: read %lld bytes", bytes, opts.name, total);
}

static void op_lifecycle(void *vctx, long idx, int timed)
{
	struct ctx *x = vctx;
	char name[512];
	snprintf(name, sizeof(name), "%s-%ld", opts.prefix, idx);

	double t0 = now_ms();
	struct lxc_container *n =
		x->c->clone(x->c, name, opts.lxcpath, LXC_CLONE_SNAPSHOT, "overlay", NULL, 0, NULL);
	if (!n)
		die("clone %s -> %s (snapshot, overlay) failed", opts.name, name);
	double t1 = now_ms();
	if (!n->start(n, 0, NULL))
		die("start %s failed", name);
	double t2 = now_ms();
	if (!n->stop(n))
		die("stop %s failed", name);
	double t3 = now_ms();
	if (!n->destroy(n))
		die("destroy %s failed", name);
	double t4 = now_ms();
	lxc_container_put(n);

	if (timed) {
		series_add(&phases.s[0], t1 - t0);
		series_add(&phases.s[1], t2 - t1);
		series_add(&phases.s[2], t3 - t2);
		series_add(&phases.s[3], t4 - t3);
	}
}

/* get_cgroup_item into buf (NUL-terminated); -1 if the key does not exist or the call
 * fails. */
static int cgroup_item(struct lxc_container *c, const char *key, char *buf, int len)
{
	int n = c->get_cgroup_item(c, key, buf, len);
	if (n < 0)
		return -1;
	if (n >= len)
		n = len - 1;
	buf[n] = '\0';
	return 0;
}

static unsigned long long cpu_ns(struct lxc_container *c, char *buf, int len)
{
	unsigned long long v, usec;
	if (!cgroup_item(c, "cpuacct.usage", buf, len) && !parse_u64(buf, &v))
		return v;
	if (!cgroup_item(c, "cpu.stat", buf, len) && !parse_usage_usec(buf, &usec))
		return usec * 1000;
	die("CPU usage of %s: neither cpuacct.usage nor cpu.stat usage_usec", opts.name);
}

static unsigned long long memory_bytes(struct lxc_container *c, char *buf, int len)
{
	unsigned long long v;
	if (!cgroup_item(c, "memory.usage_in_bytes", buf, len) && !parse_u64(buf, &v))
		return v;
	if (!cgroup_item(c, "memory.current", buf, len) && !parse_u64(buf, &v))
		return v;
	die("memory usage of %s: neither memory.usage_in_bytes nor memory.current", opts.name);
}

static void op_reads(void *vctx, long idx, int timed)
{
	(void)idx;
	struct ctx *x = vctx;
	struct lxc_container *c = x->c;
	char buf[4096];

	double t0 = now_ms();
	const char *state = c->state(c); /* static string: not freed */
	if (!state)
		die("state of %s failed", opts.name);
	double t1 = now_ms();
	char **ips = c->get_ips(c, NULL, "inet", 0); /* NULL: failure or no address */
	double t2 = now_ms();
	unsigned long long cpu = cpu_ns(c, buf, sizeof(buf));
	double t3 = now_ms();
	unsigned long long mem = memory_bytes(c, buf, sizeof(buf));
	double t4 = now_ms();

	if (timed) {
		series_add(&phases.s[0], t1 - t0);
		series_add(&phases.s[1], t2 - t1);
		series_add(&phases.s[2], t3 - t2);
		series_add(&phases.s[3], t4 - t3);
		pthread_mutex_lock(&values_lock);
		read_values_clear(&values);
		values.state = xstrdup(state);
		long n = 0;
		while (ips && ips[n])
			n++;
		values.ips = xcalloc((size_t)n, sizeof(char *));
		for (long i = 0; i < n; i++)
			values.ips[i] = xstrdup(ips[i]);
		values.nips = n;
		values.cpu_ns = cpu;
		values.memory_bytes = mem;
		pthread_mutex_unlock(&values_lock);
	}
	for (long i = 0; ips && ips[i]; i++)
		free(ips[i]);
	free(ips);
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	parse_opts(argc, argv, &opts);
	devnull_fd = open_devnull();

	const struct peer_ops ops = {op_exec, op_exec_output, op_lifecycle, op_reads};
	op_fn fn = choose_op(&opts, &ops, &phases);

	long C = opts.concurrency;
	struct ctx *ctxs = xcalloc((size_t)C, sizeof(*ctxs));
	void **ptrs = xcalloc((size_t)C, sizeof(void *));
	for (long i = 0; i < C; i++) {
		struct lxc_container *c = lxc_container_new(opts.name, opts.lxcpath);
		if (!c)
			die("lxc_container_new(%s, %s) failed", opts.name, opts.lxcpath);
		ctxs[i].c = c;
		if (!c->is_defined(c))
			die("container %s is not defined in %s", opts.name, opts.lxcpath);
		if (opts.workload == W_EXEC_OUTPUT)
			ctxs[i].buf = xcalloc(1, READ_BUF);
		ptrs[i] = &ctxs[i];
	}
	if (opts.workload == W_LIFECYCLE) {
		if (ctxs[0].c->is_running(ctxs[0].c))
			die("container %s must be stopped for lifecycle", opts.name);
	} else if (!ctxs[0].c->is_running(ctxs[0].c)) {
		die("container %s is not running", opts.name);
	}

	struct run_result res;
	run_workload(&opts, ptrs, fn, &res);

	for (long i = 0; i < C; i++) {
		lxc_container_put(ctxs[i].c);
		free(ctxs[i].buf);
	}
	free(ctxs);
	free(ptrs);

	print_result(&opts, &res, &phases, &values);
	close(devnull_fd);
	return 0;
}
