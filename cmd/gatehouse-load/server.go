package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicksPerSecond is the unit of utime and stime in /proc/PID/stat
// (USER_HZ, what `getconf CLK_TCK` prints). The standard library cannot
// call sysconf; Linux reports these times in 1/100 s on every architecture
// Gatehouse is built for, whatever the kernel's own tick rate.
const clockTicksPerSecond = 100

// serverProcess reads what Linux's /proc says about the server's process:
// its CPU time and its memory. dir is /proc/PID.
type serverProcess struct {
	dir string
}

func newServerProcess(pid int) serverProcess {
	return serverProcess{dir: filepath.Join("/proc", strconv.Itoa(pid))}
}

// cpuTime returns the CPU time the process has used so far, in user and
// kernel mode (utime + stime; its children are not counted). Its
// resolution is one clock tick, 10 ms.
func (p serverProcess) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(p.dir, "stat"))
	if err != nil {
		return 0, err
	}
	// "pid (comm) state ppid …": comm may hold spaces and parentheses, so
	// the fields are counted from its last ')'. utime and stime are fields
	// 14 and 15 (proc(5)); state, field 3, is the first after comm.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s/stat: no ')' after the command name", p.dir)
	}
	f := strings.Fields(string(b[i+1:]))
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("%s/stat: %d fields after the command name, want more than %d", p.dir, len(f), stime)
	}
	var ticks uint64
	for _, s := range []string{f[utime], f[stime]} {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s/stat: %w", p.dir, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicksPerSecond, nil
}

// memory is the process's resident memory, in KiB as /proc reports it.
type memory struct {
	rssKiB int64 // VmRSS: resident now
	hwmKiB int64 // VmHWM: the most ever resident (peak RSS)
}

// memory returns VmRSS and VmHWM from /proc/PID/status.
func (p serverProcess) memory() (memory, error) {
	b, err := os.ReadFile(filepath.Join(p.dir, "status"))
	if err != nil {
		return memory{}, err
	}
	var m memory
	fields := map[string]*int64{"VmRSS": &m.rssKiB, "VmHWM": &m.hwmKiB}
	for line := range strings.Lines(string(b)) {
		name, value, ok := strings.Cut(line, ":")
		dst := fields[name]
		if !ok || dst == nil {
			continue
		}
		// "VmRSS:	   56044 kB"
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("%s/status: %s: %w", p.dir, name, err)
		}
		*dst = n
		delete(fields, name)
	}
	if len(fields) > 0 {
		return memory{}, errors.New(p.dir + "/status: no VmRSS or VmHWM (a kernel thread, or not Linux?)")
	}
	return m, nil
}

// serverUsage is what the server used during one run.
type serverUsage struct {
	cpu    time.Duration // CPU time in the measured window
	window time.Duration // the window's wall time, for cores used
	mem    memory        // after the run
}

// cpuPerOp returns the server's CPU time per successful iteration.
func (u *serverUsage) cpuPerOp(ops uint64) time.Duration {
	if ops == 0 {
		return 0
	}
	return u.cpu / time.Duration(ops)
}

// cores returns how many cores the server kept busy on average.
func (u *serverUsage) cores() float64 {
	if u.window <= 0 {
		return 0
	}
	return u.cpu.Seconds() / u.window.Seconds()
}

// cpuSpan is the CPU time a process used between two readings.
type cpuSpan struct {
	cpu, window time.Duration
	err         error
}

// cpuDuring reads the process's CPU time when the measured window opens
// (from) and when it closes (until, or when ctx ends if that is sooner),
// and sends the difference once. If ctx ends before from, it sends a
// zero span.
func (p serverProcess) cpuDuring(ctx context.Context, from, until time.Time) <-chan cpuSpan {
	ch := make(chan cpuSpan, 1)
	go func() {
		if !sleepUntil(ctx, from) {
			ch <- cpuSpan{}
			return
		}
		start, err := p.cpuTime()
		if err != nil {
			ch <- cpuSpan{err: err}
			return
		}
		opened := time.Now()
		sleepUntil(ctx, until)
		end, err := p.cpuTime()
		ch <- cpuSpan{cpu: end - start, window: time.Since(opened), err: err}
	}()
	return ch
}

// sleepUntil waits until t and reports whether ctx was still alive then.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
