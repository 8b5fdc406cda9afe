package ebs

import (
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

func TestStepTestChecks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		want   []string // in the error; none: passes
	}{
		{"passes", 0, nil},
		{"fails", 3, []string{"check 1 failed", "`systemctl is-active app` exited with status 3", "the service says no"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, ui := newState(t)
			comm := &packersdk.MockCommunicator{StartExitStatus: tc.status, StartStdout: "the service says no\n"}
			state.Put("communicator", comm)
			step := &stepTestChecks{inline: []string{"systemctl is-active app", "curl -fsS localhost"}}
			action := step.Run(t.Context(), state)
			if tc.want == nil {
				wantContinue(t, action, state, ui)
				if comm.StartCmd == nil || comm.StartCmd.Command != "curl -fsS localhost" {
					t.Errorf("the last command run was %+v; want every check run in turn", comm.StartCmd)
				}
				return
			}
			wantHalt(t, action, state, ui, tc.want...)
			if comm.StartCmd.Command != "systemctl is-active app" {
				t.Errorf("ran %q after the first check failed", comm.StartCmd.Command)
			}
		})
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	tl := &tail{limit: 8}
	tl.Write([]byte("0123456789"))
	tl.Write([]byte("ab"))
	if got := tl.String(); got != "…456789ab" || !strings.HasPrefix(got, "…") {
		t.Errorf("tail = %q", got)
	}
}
