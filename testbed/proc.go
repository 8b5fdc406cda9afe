package testbed

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// proc is a background server (moto, sshd) in its own process group, so a
// terminal's Ctrl-C does not kill it before the build under test has cleaned
// up, and so Stop can kill it with everything it spawned.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	err  error         // Wait's result; read only after done is closed
}

// startProc starts cmd. Pdeathsig makes the kernel kill the server if the
// test binary dies without running Stop (SIGKILL, a panic in another
// goroutine). Pdeathsig fires when the forking *thread* exits, so the
// goroutine that forks stays locked to its thread until the child is reaped.
func startProc(name string, cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Bounds Wait when a grandchild keeps a log pipe open.
	cmd.WaitDelay = 2 * time.Second
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

// exited returns a description of how the process ended, for errors.
func (p *proc) exited() error {
	if p.err != nil {
		return fmt.Errorf("%s exited: %w", p.name, p.err)
	}
	return fmt.Errorf("%s exited", p.name)
}

// stop sends SIGTERM to the process group, SIGKILL after grace, and waits
// for the process to be reaped. Safe on nil and on an already ended process.
func (p *proc) stop(grace time.Duration) error {
	if p == nil {
		return nil
	}
	pgid := p.cmd.Process.Pid
	select {
	case <-p.done:
	default:
		if err := signalGroup(pgid, syscall.SIGTERM); err != nil {
			return fmt.Errorf("stop %s: %w", p.name, err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-p.done:
		case <-timer.C:
			if err := signalGroup(pgid, syscall.SIGKILL); err != nil {
				return fmt.Errorf("kill %s: %w", p.name, err)
			}
			<-p.done // SIGKILL cannot be ignored; Wait returns promptly.
		}
	}
	// Whatever the leader left behind in its group goes too.
	if err := signalGroup(pgid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill rest of %s's process group: %w", p.name, err)
	}
	return nil
}

func signalGroup(pgid int, sig syscall.Signal) error {
	err := syscall.Kill(-pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
