#!/usr/bin/python3
"""Benchmark peer "python": drives LXC through Debian's python3-lxc.

Run it with /usr/bin/python3 (the system interpreter that has the `lxc` and
`_lxc` modules), not a pyenv python3 from PATH. Protocol: ../README.md

    peer.py <workload> --lxcpath PATH --name NAME [--iterations K] [--warmup W]
            [--concurrency C] [--bytes N] [--prefix PREFIX]

prints one JSON object on one line to stdout; any failure prints one line to
stderr and exits with status 1.

What python3-lxc 5.0.0 (lxc.c of the Debian source package) does, which the
numbers of this peer reflect:

* The GIL. Only Container.clone() and Container.create() are wrapped in
  Py_BEGIN/END_ALLOW_THREADS, plus the waitpid() at the end of attach_wait().
  Everything else runs with the GIL held: the attach itself (liblxc's fork,
  setns, cgroup/LSM hand-shake with the child; Container_attach_and_possibly_wait
  calls c->attach() with the GIL), start(), stop(), destroy(), state, get_ips(),
  get_cgroup_item(). So with C threads the attach phase of exec is serialised
  and only the wait for the command overlaps; start/stop/destroy freeze every
  other Python thread for their whole duration. Measured here (LXC 5.0.2,
  2 cores): of one exec of /bin/true, attach() with the GIL held takes about
  2.6 ms and the GIL-free waitpid() about 1.0 ms, so threads can overlap at
  most ~30% of each operation: exec throughput went from ~290-320 ops/s at
  concurrency 1 to ~400-500 at 2 and 240-470 (noisy) at 8.
* The attached child runs *Python*: python3-lxc passes liblxc the callback
  lxc_attach_python_exec, which calls PyOS_AfterFork() in the forked child and
  then calls the Python function given (lxc.attach_run_command, a Python
  wrapper that calls _lxc.attach_run_command, which execvp()s). The fork
  happens while the calling thread holds the GIL, so the child's interpreter
  state is consistent even with other threads around.
* attach_wait() returns the raw waitpid() status, except that a status with
  WIFEXITED and WEXITSTATUS == 255 is turned into -1 (as is an attach
  failure). We decode it with os.WIFEXITED/os.WEXITSTATUS and require 0.
* attach() (no wait) returns the attached pid, or a negative number on
  failure; the caller must waitpid() it.
* get_ips() returns an empty tuple both when the container has no address
  and when liblxc's get_ips() fails (NULL): a failure cannot be told apart.
* get_cgroup_item() raises KeyError("Invalid cgroup entry") when liblxc
  cannot read the key; that is what triggers the v1 -> v2 fallback here.
* liblxc 5.0.2 leaks one pidfd per attach in a single-threaded caller:
  get_attach_context() gets the init pidfd from the monitor and keeps it only
  if setns(pidfd, CLONE_NEWTIME) succeeds, which the kernel allows only for a
  single-threaded process; put_attach_context() never closes it. With
  --concurrency 1 this peer runs on the main thread alone, so the memory
  workload shows fdsAfter = fdsBefore + iterations; with worker threads the
  process is multi-threaded, liblxc closes the pidfd and uses /proc/PID/ns
  fds instead, and nothing leaks. (Not python3-lxc's fault; a C caller that
  is single-threaded sees the same; go-lxc never does, Go is always
  multi-threaded.)
* lxc.Container.__init__ sets self.network = ContainerNetworkList(self), a
  reference cycle: the underlying lxc_container is only put (freed) when the
  cyclic garbage collector runs, not when the last name goes away.
"""

import argparse
import json
import os
import sys
import threading
import time

import lxc

PEER = "python"


def fail(msg):
    sys.stderr.write("%s: %s\n" % (PEER, msg))
    sys.stderr.flush()
    # os._exit so that a failure in a worker thread ends the whole process.
    os._exit(1)


class Parser(argparse.ArgumentParser):
    def error(self, message):
        fail("usage: " + message)


def parse_args():
    p = Parser(prog="peer.py", description="python3-lxc benchmark peer")
    p.add_argument("workload", choices=["exec", "exec-output", "lifecycle", "reads", "memory"])
    p.add_argument("--lxcpath", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--prefix", default=None)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--bytes", type=int, default=1048576)
    o = p.parse_args()
    if o.iterations < 1 or o.warmup < 0 or o.concurrency < 1 or o.bytes < 0:
        fail("bad --iterations/--warmup/--concurrency/--bytes")
    if o.prefix is None:
        o.prefix = o.name + "-clone"
    return o


def ms(seconds):
    return seconds * 1000.0


def pool(workers, first, count, op):
    """Run op(w, i) for i in first..first+count-1 on `workers` threads that
    take indices from a shared counter. Returns the per-operation times (ms,
    completion order) and the time from the first start to the last end.
    With one worker everything runs on the calling thread."""
    samples = []
    if count == 0:
        return samples, 0.0
    workers = min(workers, count)
    lock = threading.Lock()
    state = {"next": 0, "first": None, "last": None}

    def worker(w):
        while True:
            with lock:
                k = state["next"]
                state["next"] = k + 1
            if k >= count:
                return
            t0 = time.perf_counter()
            try:
                op(w, first + k)
            except Exception as e:  # noqa: BLE001 - any failure ends the peer
                fail("%s: %s" % (type(e).__name__, e))
            t1 = time.perf_counter()
            with lock:
                samples.append(ms(t1 - t0))
                if state["first"] is None or t0 < state["first"]:
                    state["first"] = t0
                if state["last"] is None or t1 > state["last"]:
                    state["last"] = t1

    if workers == 1:
        worker(0)
    else:
        threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return samples, ms(state["last"] - state["first"])


def handles(o, n, want_running):
    """One lxc.Container per worker: python3-lxc does not lock a handle, and
    liblxc's per-container locks plus fork() make sharing one across threads
    unsafe (see LXC-NOTES)."""
    hs = []
    for _ in range(n):
        try:
            c = lxc.Container(o.name, config_path=o.lxcpath)
        except Exception as e:  # RuntimeError from Container_init
            fail("lxc.Container(%r, %r): %s" % (o.name, o.lxcpath, e))
        if not c.defined:
            fail("container %r is not defined in %s" % (o.name, o.lxcpath))
        if want_running and not c.running:
            fail("container %r is not running" % o.name)
        hs.append(c)
    return hs


def exec_true(c):
    st = c.attach_wait(lxc.attach_run_command, ["/bin/true"])
    # st is the raw waitpid() status (or -1: attach failure or exit 255).
    if st < 0:
        raise RuntimeError("attach_wait(/bin/true) failed (returned %d)" % st)
    if not os.WIFEXITED(st) or os.WEXITSTATUS(st) != 0:
        raise RuntimeError("/bin/true: wait status %#x" % st)


def exec_output(c, n, buf):
    r, w = os.pipe()  # O_CLOEXEC (PEP 446)
    try:
        try:
            pid = c.attach(lxc.attach_run_command, ["head", "-c", str(n), "/dev/zero"], stdout=w)
        finally:
            # Close our write end right after the fork so EOF arrives when
            # head exits.
            os.close(w)
        if pid <= 0:
            raise RuntimeError("attach(head) failed (returned %d)" % pid)
        got = 0
        view = [buf]
        while True:
            k = os.readv(r, view)
            if k == 0:
                break
            got += k
    finally:
        os.close(r)
    while True:
        try:
            _, st = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if not os.WIFEXITED(st) or os.WEXITSTATUS(st) != 0:
        raise RuntimeError("head: wait status %#x" % st)
    if got != n:
        raise RuntimeError("head: read %d bytes, want %d" % (got, n))


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail("no VmRSS in /proc/self/status")


def count_fds():
    # os.listdir's own directory fd is counted too, the same before and after.
    return len(os.listdir("/proc/self/fd"))


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def run_exec(o):
    hs = handles(o, o.concurrency, True)

    def op(w, i):
        exec_true(hs[w])

    pool(o.concurrency, 0, o.warmup, op)
    samples, wall = pool(o.concurrency, 0, o.iterations, op)
    emit({"samples": samples, "wallMs": wall})


def run_exec_output(o):
    hs = handles(o, o.concurrency, True)
    bufs = [bytearray(64 * 1024) for _ in range(o.concurrency)]

    def op(w, i):
        exec_output(hs[w], o.bytes, bufs[w])

    pool(o.concurrency, 0, o.warmup, op)
    samples, wall = pool(o.concurrency, 0, o.iterations, op)
    emit({"samples": samples, "wallMs": wall})


def run_memory(o):
    hs = handles(o, o.concurrency, True)

    def op(w, i):
        exec_true(hs[w])

    pool(o.concurrency, 0, o.warmup, op)
    rss_before, fds_before = rss_kb(), count_fds()
    samples, wall = pool(o.concurrency, 0, o.iterations, op)
    rss_after, fds_after = rss_kb(), count_fds()
    emit({"samples": samples, "wallMs": wall, "rssBeforeKb": rss_before,
          "rssAfterKb": rss_after, "fdsBefore": fds_before, "fdsAfter": fds_after})


def run_lifecycle(o):
    hs = handles(o, o.concurrency, False)
    phases = {"clone": [], "start": [], "stop": [], "destroy": []}
    lock = threading.Lock()
    recording = [False]

    def op(w, i):
        new_name = "%s-%d" % (o.prefix, i)
        t0 = time.perf_counter()
        # clone() returns a new lxc.Container for the clone, or False.
        nc = hs[w].clone(new_name, config_path=o.lxcpath,
                         flags=lxc.LXC_CLONE_SNAPSHOT, bdevtype="overlay")
        if not nc:
            raise RuntimeError("clone(%s) failed" % new_name)
        t1 = time.perf_counter()
        # start(): daemonize defaults to True; liblxc returns once RUNNING.
        if not nc.start():
            raise RuntimeError("start(%s) failed" % new_name)
        t2 = time.perf_counter()
        if not nc.stop():
            raise RuntimeError("stop(%s) failed" % new_name)
        t3 = time.perf_counter()
        if not nc.destroy():
            raise RuntimeError("destroy(%s) failed" % new_name)
        t4 = time.perf_counter()
        if recording[0]:
            with lock:
                phases["clone"].append(ms(t1 - t0))
                phases["start"].append(ms(t2 - t1))
                phases["stop"].append(ms(t3 - t2))
                phases["destroy"].append(ms(t4 - t3))

    pool(o.concurrency, 0, o.warmup, op)
    recording[0] = True
    samples, wall = pool(o.concurrency, o.warmup, o.iterations, op)
    emit({"samples": samples, "wallMs": wall, "phases": phases})


def cpu_ns(c):
    try:
        return int(c.get_cgroup_item("cpuacct.usage"))  # v1: ns
    except KeyError:
        pass
    try:
        stat = c.get_cgroup_item("cpu.stat")
    except KeyError:
        raise RuntimeError("neither cpuacct.usage nor cpu.stat readable")
    for line in stat.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == "usage_usec":  # v2: us
            return int(f[1]) * 1000
    raise RuntimeError("cpuacct.usage unreadable and cpu.stat has no usage_usec")


def memory_bytes(c):
    try:
        return int(c.get_cgroup_item("memory.usage_in_bytes"))  # v1
    except KeyError:
        pass
    try:
        return int(c.get_cgroup_item("memory.current"))  # v2
    except KeyError:
        raise RuntimeError("neither memory.usage_in_bytes nor memory.current readable")


def run_reads(o):
    hs = handles(o, o.concurrency, True)
    phases = {"state": [], "ips": [], "cpu": [], "memory": []}
    values = {}
    lock = threading.Lock()
    recording = [False]

    def op(w, i):
        c = hs[w]
        t0 = time.perf_counter()
        st = c.state
        t1 = time.perf_counter()
        ips = c.get_ips(family="inet")
        t2 = time.perf_counter()
        cpu = cpu_ns(c)
        t3 = time.perf_counter()
        mem = memory_bytes(c)
        t4 = time.perf_counter()
        if st != "RUNNING":
            raise RuntimeError("state %r, want RUNNING" % st)
        with lock:
            if recording[0]:
                phases["state"].append(ms(t1 - t0))
                phases["ips"].append(ms(t2 - t1))
                phases["cpu"].append(ms(t3 - t2))
                phases["memory"].append(ms(t4 - t3))
            values.update(state=st, ips=list(ips), cpuNs=cpu, memoryBytes=mem)

    pool(o.concurrency, 0, o.warmup, op)
    recording[0] = True
    _, wall = pool(o.concurrency, 0, o.iterations, op)
    emit({"wallMs": wall, "phases": phases, "values": values})


def main():
    o = parse_args()
    {
        "exec": run_exec,
        "exec-output": run_exec_output,
        "lifecycle": run_lifecycle,
        "reads": run_reads,
        "memory": run_memory,
    }[o.workload](o)


if __name__ == "__main__":
    main()
