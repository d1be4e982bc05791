/*
 * tools-peer.c: the peer "tools" of the benchmark (see ../README.md): the lxc-* command
 * line tools, run with posix_spawnp and reaped with waitpid.
 *
 *   cc -O2 -Wall -Wextra -o tools-peer tools-peer.c peer-common.c -lpthread
 *
 * With --concurrency C > 1, C threads each keep one operation (one tool, or the chain of
 * tools of a lifecycle/reads operation) in flight; latency is from spawn to reap.
 * The tools' stdin, stdout and stderr are /dev/null, except stdout where it is read.
 */
#define _GNU_SOURCE
#include "peer-common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>

extern char **environ;

static struct peer_opts opts;
static int devnull_fd = -1;
static struct phases phases;
static struct read_values values;
static pthread_mutex_t values_lock = PTHREAD_MUTEX_INITIALIZER;

struct ctx {
	char *buf; /* read buffer */
};

#define READ_BUF (128 * 1024)

/* "lxc-attach -P ... -- head ..." for messages. */
static void describe_cmd(char *const argv[], char *out, size_t n)
{
	size_t used = 0;
	out[0] = '\0';
	for (int i = 0; argv[i] && used + 1 < n; i++) {
		int w = snprintf(out + used, n - used, i ? " %s" : "%s", argv[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

static __attribute__((noreturn)) void die_status(char *const argv[], int st)
{
	char cmd[512];
	describe_cmd(argv, cmd, sizeof(cmd));
	if (WIFEXITED(st))
		die("%s: exited with status %d", cmd, WEXITSTATUS(st));
	if (WIFSIGNALED(st))
		die("%s: killed by signal %d", cmd, WTERMSIG(st));
	die("%s: wait status 0x%x", cmd, (unsigned)st);
}

/* Start argv[0] (from PATH) with stdin and stderr on /dev/null and stdout on out_fd. */
static pid_t spawn(char *const argv[], int out_fd)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int err = posix_spawn_file_actions_init(&fa);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, devnull_fd, 0);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, devnull_fd, 2);
	if (err)
		die("posix_spawn_file_actions: %s", strerror(err));
	err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		die("posix_spawnp %s: %s", argv[0], strerror(err));
	return pid;
}

static int reap(pid_t pid, char *const argv[])
{
	int st;
	pid_t w;
	while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	if (w < 0) {
		char cmd[512];
		describe_cmd(argv, cmd, sizeof(cmd));
		die("waitpid for %s: %s", cmd, strerror(errno));
	}
	return st;
}

/* Run argv with stdout on /dev/null; the raw wait status. */
static int run_quiet(char *const argv[])
{
	return reap(spawn(argv, devnull_fd), argv);
}

static void run_ok(char *const argv[])
{
	int st = run_quiet(argv);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die_status(argv, st);
}

/* Run argv with stdout on a pipe; read it all. If keep is set, the output is returned
 * NUL-terminated in *keep (malloc'd); else it is only counted, with buf as scratch.
 * Returns the raw wait status; *count gets the number of bytes. */
static int run_read(char *const argv[], char *buf, char **keep, long long *count)
{
	int p[2];
	make_pipe(p);
	pid_t pid = spawn(argv, p[1]);
	close(p[1]);

	size_t cap = 0, len = 0;
	char *out = NULL;
	long long total = 0;
	for (;;) {
		if (keep && cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			char *nout = realloc(out, cap);
			if (!nout)
				die("out of memory");
			out = nout;
		}
		ssize_t n = keep ? read(p[0], out + len, cap - len - 1) : read(p[0], buf, READ_BUF);
		if (n > 0) {
			total += n;
			if (keep)
				len += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		die("read from %s's stdout: %s", argv[0], strerror(errno));
	}
	close(p[0]);
	int st = reap(pid, argv);
	if (keep) {
		out[len] = '\0';
		*keep = out;
	}
	*count = total;
	return st;
}

/* run_read that requires exit status 0; the output. */
static char *run_output_ok(char *const argv[])
{
	char *out;
	long long n;
	int st = run_read(argv, NULL, &out, &n);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		free(out);
		die_status(argv, st);
	}
	return out;
}

/* ------------------------------------------------------------- workloads */

static void op_exec(void *vctx, long idx, int timed)
{
	(void)vctx;
	(void)idx;
	(void)timed;
	char *argv[] = {"lxc-attach", "-P", (char *)opts.lxcpath, "-n", (char *)opts.name,
			"--", "/bin/true", NULL};
	run_ok(argv);
}

static void op_exec_output(void *vctx, long idx, int timed)
{
	(void)idx;
	(void)timed;
	struct ctx *x = vctx;
	char bytes[32];
	snprintf(bytes, sizeof(bytes), "%lld", opts.bytes);
	char *argv[] = {"lxc-attach", "-P", (char *)opts.lxcpath, "-n", (char *)opts.name,
			"--", "head", "-c", bytes, "/dev/zero", NULL};
	long long n;
	int st = run_read(argv, x->buf, NULL, &n);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die_status(argv, st);
	if (n != opts.bytes)
		die("lxc-attach ... head -c %s /dev/zero: read %lld bytes", bytes, n);
}

static void op_lifecycle(void *vctx, long idx, int timed)
{
	(void)vctx;
	char name[512];
	snprintf(name, sizeof(name), "%s-%ld", opts.prefix, idx);
	char *P = (char *)opts.lxcpath;

	char *copy[] = {"lxc-copy", "-P", P, "-n", (char *)opts.name, "-N", name, "-s", "-B",
			"overlay", NULL};
	char *start[] = {"lxc-start", "-P", P, "-n", name, NULL};
	char *stop[] = {"lxc-stop", "-P", P, "-n", name, "-k", NULL};
	char *destroy[] = {"lxc-destroy", "-P", P, "-n", name, NULL};

	double t0 = now_ms();
	run_ok(copy);
	double t1 = now_ms();
	run_ok(start);
	double t2 = now_ms();
	run_ok(stop);
	double t3 = now_ms();
	run_ok(destroy);
	double t4 = now_ms();

	if (timed) {
		series_add(&phases.s[0], t1 - t0);
		series_add(&phases.s[1], t2 - t1);
		series_add(&phases.s[2], t3 - t2);
		series_add(&phases.s[3], t4 - t3);
	}
}

/* lxc-cgroup -P P -n N key: 0 and the output in *out if it exited 0, else -1. */
static int cgroup_item(const char *key, char **out)
{
	char *argv[] = {"lxc-cgroup", "-P", (char *)opts.lxcpath, "-n", (char *)opts.name,
			(char *)key, NULL};
	long long n;
	int st = run_read(argv, NULL, out, &n);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	free(*out);
	*out = NULL;
	return -1;
}

static unsigned long long cpu_ns(void)
{
	char *out = NULL;
	unsigned long long v, usec;
	if (!cgroup_item("cpuacct.usage", &out) && !parse_u64(out, &v)) {
		free(out);
		return v;
	}
	free(out);
	out = NULL;
	if (!cgroup_item("cpu.stat", &out) && !parse_usage_usec(out, &usec)) {
		free(out);
		return usec * 1000;
	}
	free(out);
	die("CPU usage of %s: lxc-cgroup gave neither cpuacct.usage nor cpu.stat usage_usec",
	    opts.name);
}

static unsigned long long memory_bytes(void)
{
	char *out = NULL;
	unsigned long long v;
	if (!cgroup_item("memory.usage_in_bytes", &out) && !parse_u64(out, &v)) {
		free(out);
		return v;
	}
	free(out);
	out = NULL;
	if (!cgroup_item("memory.current", &out) && !parse_u64(out, &v)) {
		free(out);
		return v;
	}
	free(out);
	die("memory usage of %s: lxc-cgroup gave neither memory.usage_in_bytes nor memory.current",
	    opts.name);
}

/* Lines of text that are IPv4 addresses, as a new array; *n their number. */
static char **ipv4_lines(char *text, long *n)
{
	long cap = 4, cnt = 0;
	char **ips = xcalloc((size_t)cap, sizeof(char *));
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		while (*line == ' ' || *line == '\t')
			line++;
		size_t len = strlen(line);
		while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
			line[--len] = '\0';
		struct in_addr a;
		if (inet_pton(AF_INET, line, &a) != 1)
			continue;
		if (cnt == cap) {
			cap *= 2;
			char **nips = realloc(ips, (size_t)cap * sizeof(char *));
			if (!nips)
				die("out of memory");
			ips = nips;
		}
		ips[cnt++] = xstrdup(line);
	}
	*n = cnt;
	return ips;
}

static void op_reads(void *vctx, long idx, int timed)
{
	(void)vctx;
	(void)idx;
	char *P = (char *)opts.lxcpath, *N = (char *)opts.name;
	char *state_argv[] = {"lxc-info", "-P", P, "-n", N, "-s", "-H", NULL};
	char *ips_argv[] = {"lxc-info", "-P", P, "-n", N, "-i", "-H", NULL};

	double t0 = now_ms();
	char *state = run_output_ok(state_argv);
	double t1 = now_ms();
	char *ips_text = run_output_ok(ips_argv);
	double t2 = now_ms();
	unsigned long long cpu = cpu_ns();
	double t3 = now_ms();
	unsigned long long mem = memory_bytes();
	double t4 = now_ms();

	state[strcspn(state, " \t\r\n")] = '\0';
	if (!*state)
		die("lxc-info -s -H for %s printed no state", N);
	long nips;
	char **ips = ipv4_lines(ips_text, &nips);
	free(ips_text);

	if (timed) {
		series_add(&phases.s[0], t1 - t0);
		series_add(&phases.s[1], t2 - t1);
		series_add(&phases.s[2], t3 - t2);
		series_add(&phases.s[3], t4 - t3);
		pthread_mutex_lock(&values_lock);
		read_values_clear(&values);
		values.state = state;
		values.ips = ips;
		values.nips = nips;
		values.cpu_ns = cpu;
		values.memory_bytes = mem;
		pthread_mutex_unlock(&values_lock);
	} else {
		free(state);
		for (long i = 0; i < nips; i++)
			free(ips[i]);
		free(ips);
	}
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	parse_opts(argc, argv, &opts);
	if (opts.workload == W_MEMORY) {
		printf("{\"unsupported\": \"the tools peer is a process per call; its own RSS says nothing\"}\n");
		return fflush(stdout) ? 1 : 0;
	}
	devnull_fd = open_devnull();

	const struct peer_ops ops = {op_exec, op_exec_output, op_lifecycle, op_reads};
	op_fn fn = choose_op(&opts, &ops, &phases);

	long C = opts.concurrency;
	struct ctx *ctxs = xcalloc((size_t)C, sizeof(*ctxs));
	void **ptrs = xcalloc((size_t)C, sizeof(void *));
	for (long i = 0; i < C; i++) {
		if (opts.workload == W_EXEC_OUTPUT)
			ctxs[i].buf = xcalloc(1, READ_BUF);
		ptrs[i] = &ctxs[i];
	}

	struct run_result res;
	run_workload(&opts, ptrs, fn, &res);

	for (long i = 0; i < C; i++)
		free(ctxs[i].buf);
	free(ctxs);
	free(ptrs);

	print_result(&opts, &res, &phases, &values);
	close(devnull_fd);
	return 0;
}
