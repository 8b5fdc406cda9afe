//go:build unix

package ansible

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExecRunnerStopsTheProcessGroupOnCancel(t *testing.T) {
	// A child (the shell) and a grandchild (a background sleep): the shell
	// prints both PIDs once the sleep runs, so the test waits for the tree
	// to exist instead of sleeping, and then checks those very processes.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	// The grandchild must not hold the pipe: Wait would wait for it.
	c := command{Path: "sh", Args: []string{"-c", "sleep 300 >/dev/null 2>&1 & echo $$ $!; wait"}, Env: os.Environ()}
	done := make(chan error, 1)
	go func() {
		done <- (execRunner{Grace: 2 * time.Second}).Run(ctx, c, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("the command did not start: %v (Run: %v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	var pids []int
	for _, f := range strings.Fields(line) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("shell printed %q", line)
		}
		pids = append(pids, pid)
	}
	if len(pids) != 2 {
		t.Fatalf("shell printed %q, want its PID and the sleep's", line)
	}
	t.Cleanup(func() {
		for _, pid := range pids {
			if alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("process %d is not running before the cancel", pid)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want one wrapping context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// The group got SIGKILL before Run returned; the kernel may take a
	// moment to finish the orphaned sleep, the sleep would take 300 s.
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("process %d survived the cancel", pid)
		}
	}
}

// alive reports whether pid is a process that has not exited. A zombie
// (exited, not yet reaped by whoever inherited it) counts as gone.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err) // no /proc (macOS): signal 0 is all we know
	}
	// pid (comm) state ...: comm may hold spaces, so read after the last ')'.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
