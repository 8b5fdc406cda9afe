package ansible

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// runner is the one seam between the provisioner and the programs it
// starts (ansible-playbook, ansible-galaxy, ssh). Unit tests replace it
// with a stub that fails when an expected command never ran.
type runner interface {
	Run(ctx context.Context, c command, stdout, stderr io.Writer) error
}

// execRunner runs commands for real.
type execRunner struct {
	// Grace is how long a cancelled command's process group gets between
	// SIGTERM and SIGKILL.
	Grace time.Duration
}

var _ runner = execRunner{}

// Run starts the command in its own process group, so that on
// cancellation (packer's Ctrl-C or SIGTERM) the whole tree — ansible's
// forks and their ssh clients — gets SIGTERM, then SIGKILL after Grace.
// A terminal's Ctrl-C cannot reach the group directly; the plugin decides.
func (r execRunner) Run(ctx context.Context, c command, stdout, stderr io.Writer) error {
	grace := r.Grace
	if grace == 0 {
		grace = 10 * time.Second
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = c.Env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", c.Path, err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitError(c, err)
	case <-ctx.Done():
	}
	signalGroup(pgid, false)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		signalGroup(pgid, true)
		<-done
	}
	// Stragglers that ignored SIGTERM while the leader exited.
	signalGroup(pgid, true)
	return fmt.Errorf("%s stopped: %w", c.Path, ctx.Err())
}

// exitError turns a non-zero exit into an error carrying the status.
func exitError(c command, err error) error {
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return &exitStatusError{Program: c.Path, Status: exit.ExitCode(), err: err}
	}
	return fmt.Errorf("%s: %w", c.Path, err)
}

// exitStatusError is a command that ran and exited non-zero.
type exitStatusError struct {
	Program string
	Status  int
	err     error
}

func (e *exitStatusError) Error() string {
	return fmt.Sprintf("%s exited with status %d", e.Program, e.Status)
}

func (e *exitStatusError) Unwrap() error { return e.err }
