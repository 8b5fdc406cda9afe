package ansible

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// shellComm runs commands with the local sh, recording what it was asked
// to start: what the builder's communicator would log.
type shellComm struct {
	packersdk.Communicator
	started []string
	path    string // PATH of the commands; "" is /usr/bin:/bin
}

func (s *shellComm) Start(_ context.Context, cmd *packersdk.RemoteCmd) error {
	s.started = append(s.started, cmd.Command)
	c := exec.Command("sh", "-c", cmd.Command)
	path := s.path
	if path == "" {
		path = "/usr/bin:/bin"
	}
	c.Env = []string{"SHELL=/bin/sh", "PATH=" + path}
	c.Stdin, c.Stdout, c.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code, err = ee.ExitCode(), nil
	}
	cmd.SetExited(code)
	return err
}

func TestQuietCommKeepsSecretsOffTheStartedCommand(t *testing.T) {
	secret := "quietCommSecret42"
	packersdk.LogSecretFilter.Set(secret)
	for _, tc := range []struct {
		name, command, stdin, want string
		quiet                      bool
	}{
		{"no secret: unchanged", "echo plain; cat", "in", "plain\nin", false},
		{"secret: sent on stdin, the command's own stdin follows", "echo '" + secret + "' | tr a-z A-Z\ncat", "after", strings.ToUpper(secret) + "\nafter", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &shellComm{}
			var out strings.Builder
			cmd := &packersdk.RemoteCmd{Command: tc.command, Stdin: strings.NewReader(tc.stdin), Stdout: &out, Stderr: io.Discard}
			if err := (quietComm{inner}).Start(context.Background(), cmd); err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(out.String()); got != tc.want {
				t.Errorf("output %q, want %q", got, tc.want)
			}
			if strings.Contains(strings.Join(inner.started, " "), secret) {
				t.Errorf("the communicator was asked to start %q", inner.started)
			}
			if tc.quiet == (inner.started[0] == tc.command) {
				t.Errorf("started %q", inner.started[0])
			}
		})
	}
}
