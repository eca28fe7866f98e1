package main

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestServerProcessSelf reads this test's own process: its CPU time must
// agree with getrusage's, to a clock tick or two, and it holds some memory.
func TestServerProcessSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc:", err)
	}
	p := newServerProcess(os.Getpid())
	before, err := p.cpuTime()
	if err != nil {
		t.Fatal(err)
	}
	ruBefore := rusageCPU(t)
	// Burn 200 ms of CPU, however long that takes on a busy machine.
	sum := sha256.Sum256(nil)
	for deadline := time.Now().Add(30 * time.Second); rusageCPU(t)-ruBefore < 200*time.Millisecond && time.Now().Before(deadline); {
		for range 1000 {
			sum = sha256.Sum256(sum[:])
		}
	}
	after, err := p.cpuTime()
	if err != nil {
		t.Fatal(err)
	}
	got, want := after-before, rusageCPU(t)-ruBefore
	if d := got - want; d < -30*time.Millisecond || d > 30*time.Millisecond {
		t.Errorf("CPU time used: got %v from /proc, want %v (getrusage) within 30 ms", got, want)
	}
	m, err := p.memory()
	if err != nil {
		t.Fatal(err)
	}
	if m.rssKiB <= 0 || m.hwmKiB < m.rssKiB {
		t.Errorf("memory: got VmRSS %d KiB, VmHWM %d KiB, want 0 < VmRSS <= VmHWM", m.rssKiB, m.hwmKiB)
	}
}

// rusageCPU returns this process's user and system CPU time.
func rusageCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestServerProcessParsing reads made-up /proc files.
func TestServerProcessParsing(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks: 3 s.
	const statTail = " S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 9 0 100 2000000 5000\n"
	const status = "Name:\tgatehouse\nVmPeak:\t 2000000 kB\nVmHWM:\t  284988 kB\nVmRSS:\t   56044 kB\nThreads:\t9\n"
	cases := []struct {
		name             string
		stat, status     string
		wantCPU          time.Duration
		wantRSS, wantHWM int64
		wantErr          bool
	}{
		{name: "plain", stat: "4242 (gatehouse)" + statTail, status: status,
			wantCPU: 3 * time.Second, wantRSS: 56044, wantHWM: 284988},
		{name: "command name with spaces and parentheses", stat: "4242 (gh (x) 1 2)" + statTail, status: status,
			wantCPU: 3 * time.Second, wantRSS: 56044, wantHWM: 284988},
		{name: "stat cut short", stat: "4242 (gatehouse) S 1 2 3", status: status, wantErr: true},
		{name: "no memory lines", stat: "4242 (gatehouse)" + statTail, status: "Name:\tkthreadd\n", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range map[string]string{"stat": tc.stat, "status": tc.status} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			p := serverProcess{dir: dir}
			cpu, errCPU := p.cpuTime()
			m, errMem := p.memory()
			if tc.wantErr {
				if errCPU == nil && errMem == nil {
					t.Fatalf("got CPU %v, memory %+v, want an error", cpu, m)
				}
				return
			}
			if errCPU != nil || errMem != nil {
				t.Fatalf("got errors %v, %v", errCPU, errMem)
			}
			if cpu != tc.wantCPU {
				t.Errorf("CPU time: got %v, want %v", cpu, tc.wantCPU)
			}
			if m.rssKiB != tc.wantRSS || m.hwmKiB != tc.wantHWM {
				t.Errorf("memory: got VmRSS %d, VmHWM %d KiB, want %d, %d", m.rssKiB, m.hwmKiB, tc.wantRSS, tc.wantHWM)
			}
		})
	}
}
