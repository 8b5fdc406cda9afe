package testbed

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Running is a command (a packer build) started in the background, its
// output collected as it comes.
type Running struct {
	Cmd *exec.Cmd
	Out *Output
	// Ended is closed once the command has ended; Err is then its result.
	Ended chan error
	err   error
}

// StartCmd starts cmd, collecting its output and standard error together.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Running {
	t.Helper()
	r := &Running{Cmd: cmd, Out: &Output{}, Ended: make(chan error)}
	cmd.Stdout, cmd.Stderr = r.Out, r.Out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = cmd.Wait()
		close(r.Ended)
	}()
	return r
}

// Until waits for cond, failing the test with why and the output when the
// command ends or two minutes pass first.
func (r *Running) Until(t testing.TB, cond func() bool, why string) {
	t.Helper()
	if !WaitFor(cond, r.Ended, 2*time.Minute) {
		t.Fatalf("%s:\n%s", why, r.Out.String())
	}
}

// UntilOutput waits for marker in the output (see Until).
func (r *Running) UntilOutput(t testing.TB, marker, why string) {
	t.Helper()
	r.Until(t, func() bool { return strings.Contains(r.Out.String(), marker) }, why)
}

// Kill ends the command's process group at once, as kill -9 would, and
// waits for it.
func (r *Running) Kill() {
	_ = syscall.Kill(-r.Cmd.Process.Pid, syscall.SIGKILL)
	<-r.Ended
}

// Err is the command's result, once Ended is closed.
func (r *Running) Err() error {
	<-r.Ended
	return r.err
}

// Result waits for the command to end, failing the test if ctx ends first.
func (r *Running) Result(t testing.TB, ctx context.Context) error {
	t.Helper()
	select {
	case <-r.Ended:
		return r.err
	case <-ctx.Done():
		t.Fatal("the build did not end")
		return nil
	}
}
