package ebs

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// stepTestChecks runs the `ami_test` commands on the test instance, over the
// communicator the connect step before it opened, and fails the build at
// the first that does not exit 0, naming it and showing its output.
type stepTestChecks struct {
	inline []string
}

var _ multistep.Step = (*stepTestChecks)(nil)

// checkOutputLimit bounds the output a failed check's error repeats (the
// whole output streamed to the UI as it came).
const checkOutputLimit = 4 << 10

func (s *stepTestChecks) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	comm, ok := state.Get("communicator").(packersdk.Communicator)
	if !ok {
		return halt(state, fmt.Errorf("`ami_test`: no connection to the test instance"))
	}
	for i, command := range s.inline {
		ui.Say(fmt.Sprintf("AMI test: check %d/%d: %s", i+1, len(s.inline), command))
		out := &tail{limit: checkOutputLimit}
		cmd := &packersdk.RemoteCmd{Command: command, Stdout: out, Stderr: out}
		if err := cmd.RunWithUi(ctx, comm, ui); err != nil {
			return halt(state, fmt.Errorf("`ami_test`: running check %d (%s): %w", i+1, command, err))
		}
		if status := cmd.ExitStatus(); status != 0 {
			return halt(state, fmt.Errorf("`ami_test`: check %d failed: `%s` exited with status %d; the AMI is removed (-on-error=abort keeps it). Its output:\n%s",
				i+1, command, status, strings.TrimRight(out.String(), "\n")))
		}
	}
	ui.Say(fmt.Sprintf("AMI test: all %d checks passed", len(s.inline)))
	return multistep.ActionContinue
}

func (s *stepTestChecks) Cleanup(multistep.StateBag) {}

// tail keeps the last limit bytes written to it.
type tail struct {
	mu    sync.Mutex
	limit int
	buf   bytes.Buffer
	cut   bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.limit; over > 0 {
		t.buf.Next(over)
		t.cut = true
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cut {
		return "…" + t.buf.String()
	}
	return t.buf.String()
}
