// Command go-lxc is the benchmark peer that drives LXC through go-lxc
// (gopkg.in/lxc/go-lxc.v2). It implements the protocol of ../README.md:
//
//	go-lxc <workload> --lxcpath PATH --name NAME [--iterations K] [--warmup W]
//	       [--concurrency C] [--bytes N] [--prefix PREFIX]
//
// and prints one JSON object on one line to stdout. Any failure prints one
// line to stderr and exits with status 1.
//
// Notes on go-lxc (Debian's golang-gopkg-lxc-go-lxc.v2-dev, upstream commit
// ad3d9f7 of 2022-06-27; see go.mod for why it is not the proxy's copy):
//
//   - Every method of a *lxc.Container takes the handle's sync.RWMutex
//     (RunCommandStatus, RunCommandNoWait, Clone, Start, Stop and Destroy take
//     it exclusively), so C goroutines sharing one handle would run one attach
//     at a time. Each worker therefore opens its own handle with
//     lxc.NewContainer, and the workers share the iterations through an atomic
//     counter.
//   - Most methods first call makeSure(isRunning/isDefined...), i.e. an extra
//     is_running()/is_defined() per call (a monitor-socket round trip for
//     is_running). That is part of what go-lxc costs and is measured as such.
//   - A Go process is always multi-threaded, so liblxc 5.0.2's attach takes
//     its /proc/PID/ns path and closes the init pidfd; a single-threaded
//     caller (C, or Python without threads) takes the pidfd path and leaks one
//     pidfd per attach (put_attach_context never closes it).
//   - IPv4Addresses never frees the char** that get_ips returns (a small
//     leak per call; it only matters for the reads workload).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	lxc "gopkg.in/lxc/go-lxc.v2"
)

type options struct {
	workload    string
	lxcpath     string
	name        string
	prefix      string
	iterations  int
	warmup      int
	concurrency int
	bytes       int64
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go-lxc: "+format+"\n", args...)
	os.Exit(1)
}

func parseArgs() options {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fail("usage: %s <exec|exec-output|lifecycle|reads|memory> --lxcpath PATH --name NAME [options]", os.Args[0])
	}
	o := options{workload: os.Args[1]}
	fs := flag.NewFlagSet(os.Args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported on one line below
	fs.StringVar(&o.lxcpath, "lxcpath", "", "LXC path holding the containers")
	fs.StringVar(&o.name, "name", "", "container name")
	fs.StringVar(&o.prefix, "prefix", "", "name prefix of lifecycle clones")
	fs.IntVar(&o.iterations, "iterations", 100, "timed operations")
	fs.IntVar(&o.warmup, "warmup", 3, "untimed operations first")
	fs.IntVar(&o.concurrency, "concurrency", 1, "operations in flight")
	fs.Int64Var(&o.bytes, "bytes", 1048576, "bytes of output for exec-output")
	if err := fs.Parse(os.Args[2:]); err != nil {
		fail("usage: %v", err)
	}
	if fs.NArg() != 0 {
		fail("unexpected arguments: %v", fs.Args())
	}
	if o.lxcpath == "" || o.name == "" {
		fail("--lxcpath and --name are required")
	}
	if o.iterations < 1 || o.warmup < 0 || o.concurrency < 1 || o.bytes < 0 {
		fail("bad --iterations/--warmup/--concurrency/--bytes")
	}
	if o.workload == "lifecycle" && o.prefix == "" {
		o.prefix = o.name + "-clone"
	}
	return o
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// pool runs count operations (indices first..first+count-1) on `workers`
// goroutines that take indices from a shared atomic counter. op(w, i) runs on
// worker w. It returns the per-operation times in completion order and the
// time from the first operation's start to the last one's end.
func pool(workers, first, count int, op func(w, i int) error) ([]float64, float64) {
	samples := make([]float64, 0, count)
	if count == 0 {
		return samples, 0
	}
	if workers > count {
		workers = count
	}
	var next int64 = -1
	var mu sync.Mutex
	var firstStart, lastEnd time.Time
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				k := int(atomic.AddInt64(&next, 1))
				if k >= count {
					return
				}
				t0 := time.Now()
				if err := op(w, first+k); err != nil {
					fail("%v", err)
				}
				t1 := time.Now()
				mu.Lock()
				samples = append(samples, ms(t1.Sub(t0)))
				if firstStart.IsZero() || t0.Before(firstStart) {
					firstStart = t0
				}
				if t1.After(lastEnd) {
					lastEnd = t1
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	return samples, ms(lastEnd.Sub(firstStart))
}

// handles opens one go-lxc handle per worker on the same container.
func handles(o options, n int, wantRunning bool) []*lxc.Container {
	hs := make([]*lxc.Container, n)
	for i := range hs {
		c, err := lxc.NewContainer(o.name, o.lxcpath)
		if err != nil {
			fail("lxc.NewContainer(%q, %q): %v", o.name, o.lxcpath, err)
		}
		if !c.Defined() {
			fail("container %q is not defined in %s", o.name, o.lxcpath)
		}
		if wantRunning && !c.Running() {
			fail("container %q is not running", o.name)
		}
		hs[i] = c
	}
	return hs
}

func release(hs []*lxc.Container) {
	for _, c := range hs {
		if err := c.Release(); err != nil {
			fail("Release: %v", err)
		}
	}
}

// execTrue runs /bin/true with RunCommandStatus and requires status 0.
//
// What RunCommandStatus returns (go-lxc container.go runCommandStatus and
// lxc-binding.c go_lxc_attach_run_wait): liblxc's attach_run_wait gives the raw
// waitpid() status; the C shim turns WIFEXITED && WEXITSTATUS == 255 into -1;
// a negative value (attach failure, or a genuine exit 255) is returned as
// (-1, nil) with NO error; otherwise go-lxc returns (status & 0xFF00) >> 8,
// i.e. WEXITSTATUS without checking WIFEXITED. A command killed by a signal
// therefore comes back as 0, indistinguishable from success (go-lxc issue
// 102). We require err == nil and status == 0, which is all go-lxc lets a
// caller check.
func execTrue(c *lxc.Container) error {
	st, err := c.RunCommandStatus([]string{"/bin/true"}, lxc.DefaultAttachOptions)
	if err != nil {
		return fmt.Errorf("RunCommandStatus(/bin/true): %v", err)
	}
	if st != 0 {
		return fmt.Errorf("RunCommandStatus(/bin/true): status %d", st)
	}
	return nil
}

// execOutput runs `head -c N /dev/zero` with its stdout on a pipe and reads
// it all.
//
// go-lxc captures no output itself; its AttachOptions take raw fds. Of what it
// offers, RunCommandStatus would block until the command exits, so with a
// pipe we would need a second goroutine to drain it concurrently (or the
// command deadlocks once the 64 KiB pipe is full). RunCommandNoWait returns
// the attached pid as soon as the command has been forked, which lets this
// goroutine close its copy of the write end, read to EOF, and then reap the
// pid itself with wait4() — and decode the full wait status properly, which
// RunCommandStatus cannot (see execTrue). go-lxc does not reap NoWait pids;
// the caller must, or they stay zombies.
func execOutput(c *lxc.Container, n int64, buf []byte) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("pipe: %v", err)
	}
	defer r.Close()
	opts := lxc.DefaultAttachOptions
	opts.StdoutFd = w.Fd()
	pid, err := c.RunCommandNoWait([]string{"head", "-c", strconv.FormatInt(n, 10), "/dev/zero"}, opts)
	// Close the parent's write end right after the fork, success or not, so
	// that EOF arrives when the command exits.
	w.Close()
	if err != nil {
		return fmt.Errorf("RunCommandNoWait(head): %v", err)
	}
	var got int64
	for {
		k, rerr := r.Read(buf)
		got += int64(k)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read: %v", rerr)
		}
	}
	var ws syscall.WaitStatus
	for {
		_, werr := syscall.Wait4(pid, &ws, 0, nil)
		if werr == syscall.EINTR {
			continue
		}
		if werr != nil {
			return fmt.Errorf("wait4(%d): %v", pid, werr)
		}
		break
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("head: wait status %#x (exited=%v code=%d signaled=%v)", uint32(ws), ws.Exited(), ws.ExitStatus(), ws.Signaled())
	}
	if got != n {
		return fmt.Errorf("head: read %d bytes, want %d", got, n)
	}
	return nil
}

func procStatusKb(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fail("open /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, key+":") {
			fields := strings.Fields(line[len(key)+1:])
			if len(fields) > 0 {
				v, err := strconv.ParseInt(fields[0], 10, 64)
				if err == nil {
					return v
				}
			}
		}
	}
	fail("no %s in /proc/self/status", key)
	return 0
}

// countFds counts the entries of /proc/self/fd (the directory's own fd
// included, the same before and after).
func countFds() int {
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		fail("open /proc/self/fd: %v", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		fail("read /proc/self/fd: %v", err)
	}
	return len(names)
}

func printJSON(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		fail("json: %v", err)
	}
	os.Stdout.Write(append(b, '\n'))
}

type timed struct {
	Samples []float64 `json:"samples"`
	WallMs  float64   `json:"wallMs"`
}

func runExec(o options) {
	hs := handles(o, o.concurrency, true)
	op := func(w, i int) error { return execTrue(hs[w]) }
	pool(o.concurrency, 0, o.warmup, op)
	s, wall := pool(o.concurrency, 0, o.iterations, op)
	release(hs)
	printJSON(timed{s, wall})
}

func runExecOutput(o options) {
	hs := handles(o, o.concurrency, true)
	bufs := make([][]byte, o.concurrency)
	for i := range bufs {
		bufs[i] = make([]byte, 64*1024)
	}
	op := func(w, i int) error { return execOutput(hs[w], o.bytes, bufs[w]) }
	pool(o.concurrency, 0, o.warmup, op)
	s, wall := pool(o.concurrency, 0, o.iterations, op)
	release(hs)
	printJSON(timed{s, wall})
}

func runMemory(o options) {
	hs := handles(o, o.concurrency, true)
	op := func(w, i int) error { return execTrue(hs[w]) }
	pool(o.concurrency, 0, o.warmup, op)
	rssBefore, fdsBefore := procStatusKb("VmRSS"), countFds()
	s, wall := pool(o.concurrency, 0, o.iterations, op)
	rssAfter, fdsAfter := procStatusKb("VmRSS"), countFds()
	release(hs)
	printJSON(struct {
		Samples     []float64 `json:"samples"`
		WallMs      float64   `json:"wallMs"`
		RssBeforeKb int64     `json:"rssBeforeKb"`
		RssAfterKb  int64     `json:"rssAfterKb"`
		FdsBefore   int       `json:"fdsBefore"`
		FdsAfter    int       `json:"fdsAfter"`
	}{s, wall, rssBefore, rssAfter, fdsBefore, fdsAfter})
}

func runLifecycle(o options) {
	hs := handles(o, o.concurrency, false)
	var mu sync.Mutex
	phases := map[string][]float64{"clone": {}, "start": {}, "stop": {}, "destroy": {}}
	recording := false
	op := func(w, i int) error {
		newName := fmt.Sprintf("%s-%d", o.prefix, i)
		t0 := time.Now()
		// go-lxc names the "overlay" backend lxc.Overlayfs; it passes the
		// bdevtype string "overlayfs", which liblxc accepts as an alias of
		// "overlay".
		if err := hs[w].Clone(newName, lxc.CloneOptions{Backend: lxc.Overlayfs, Snapshot: true, ConfigPath: o.lxcpath}); err != nil {
			return fmt.Errorf("Clone(%s): %v", newName, err)
		}
		nc, err := lxc.NewContainer(newName, o.lxcpath)
		if err != nil {
			return fmt.Errorf("NewContainer(%s): %v", newName, err)
		}
		t1 := time.Now()
		// Start: liblxc's start(c, 0, NULL), daemonized (liblxc's default,
		// which go-lxc keeps); returns once the container is RUNNING.
		if err := nc.Start(); err != nil {
			return fmt.Errorf("Start(%s): %v", newName, err)
		}
		t2 := time.Now()
		if err := nc.Stop(); err != nil {
			return fmt.Errorf("Stop(%s): %v", newName, err)
		}
		t3 := time.Now()
		if err := nc.Destroy(); err != nil {
			return fmt.Errorf("Destroy(%s): %v", newName, err)
		}
		if err := nc.Release(); err != nil {
			return fmt.Errorf("Release(%s): %v", newName, err)
		}
		t4 := time.Now()
		mu.Lock()
		if recording {
			phases["clone"] = append(phases["clone"], ms(t1.Sub(t0)))
			phases["start"] = append(phases["start"], ms(t2.Sub(t1)))
			phases["stop"] = append(phases["stop"], ms(t3.Sub(t2)))
			phases["destroy"] = append(phases["destroy"], ms(t4.Sub(t3)))
		}
		mu.Unlock()
		return nil
	}
	pool(o.concurrency, 0, o.warmup, op)
	recording = true
	s, wall := pool(o.concurrency, o.warmup, o.iterations, op)
	release(hs)
	printJSON(struct {
		Samples []float64            `json:"samples"`
		WallMs  float64              `json:"wallMs"`
		Phases  map[string][]float64 `json:"phases"`
	}{s, wall, phases})
}

// cpuNs: go-lxc's CPUTime reads cpuacct.usage (cgroup v1) and silently
// returns (0, nil) when the item cannot be read (cgroup v2). In that case, or
// on an error, fall back to the usage_usec line of cpu.stat.
func cpuNs(c *lxc.Container) (int64, error) {
	d, err := c.CPUTime()
	if err == nil && d > 0 {
		return d.Nanoseconds(), nil
	}
	for _, line := range c.CgroupItem("cpu.stat") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "usage_usec" {
			v, perr := strconv.ParseInt(f[1], 10, 64)
			if perr == nil {
				return v * 1000, nil
			}
		}
	}
	if err != nil {
		return 0, fmt.Errorf("CPUTime: %v; no usage_usec in cpu.stat either", err)
	}
	return 0, errors.New("CPUTime gave 0 and cpu.stat has no usage_usec")
}

// memoryBytes: go-lxc's MemoryUsage reads memory.usage_in_bytes (v1) and
// fails on v2; fall back to memory.current.
func memoryBytes(c *lxc.Container) (int64, error) {
	b, err := c.MemoryUsage()
	if err == nil {
		return int64(b), nil
	}
	v := c.CgroupItem("memory.current")
	if len(v) > 0 {
		n, perr := strconv.ParseInt(strings.TrimSpace(v[0]), 10, 64)
		if perr == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("MemoryUsage: %v; memory.current unreadable too", err)
}

func runReads(o options) {
	hs := handles(o, o.concurrency, true)
	var mu sync.Mutex
	phases := map[string][]float64{"state": {}, "ips": {}, "cpu": {}, "memory": {}}
	type valuesT struct {
		State       string   `json:"state"`
		IPs         []string `json:"ips"`
		CPUNs       int64    `json:"cpuNs"`
		MemoryBytes int64    `json:"memoryBytes"`
	}
	var values valuesT
	recording := false
	op := func(w, i int) error {
		c := hs[w]
		t0 := time.Now()
		st := c.State()
		t1 := time.Now()
		ips, err := c.IPv4Addresses()
		if err != nil {
			return fmt.Errorf("IPv4Addresses: %v", err)
		}
		t2 := time.Now()
		cpu, err := cpuNs(c)
		if err != nil {
			return err
		}
		t3 := time.Now()
		mem, err := memoryBytes(c)
		if err != nil {
			return err
		}
		t4 := time.Now()
		if st != lxc.RUNNING {
			return fmt.Errorf("State: %s, want RUNNING", st)
		}
		mu.Lock()
		if recording {
			phases["state"] = append(phases["state"], ms(t1.Sub(t0)))
			phases["ips"] = append(phases["ips"], ms(t2.Sub(t1)))
			phases["cpu"] = append(phases["cpu"], ms(t3.Sub(t2)))
			phases["memory"] = append(phases["memory"], ms(t4.Sub(t3)))
		}
		if ips == nil {
			ips = []string{}
		}
		values = valuesT{st.String(), ips, cpu, mem}
		mu.Unlock()
		return nil
	}
	pool(o.concurrency, 0, o.warmup, op)
	recording = true
	_, wall := pool(o.concurrency, 0, o.iterations, op)
	release(hs)
	printJSON(struct {
		WallMs float64              `json:"wallMs"`
		Phases map[string][]float64 `json:"phases"`
		Values valuesT              `json:"values"`
	}{wall, phases, values})
}

func main() {
	o := parseArgs()
	switch o.workload {
	case "exec":
		runExec(o)
	case "exec-output":
		runExecOutput(o)
	case "lifecycle":
		runLifecycle(o)
	case "reads":
		runReads(o)
	case "memory":
		runMemory(o)
	default:
		fail("unknown workload %q", o.workload)
	}
}
