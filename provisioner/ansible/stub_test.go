package ansible

import (
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// stubRunner stands in for every program the provisioner starts, in the
// spirit of cli/cli's internal/run stubs: each registered stub must be
// used, in any order, and a command no stub matches fails the test.
type stubRunner struct {
	t     *testing.T
	mu    sync.Mutex
	stubs []*stub
	calls []command
}

type stub struct {
	pattern *regexp.Regexp
	stdout  string
	err     error
	check   func(command)
	used    bool
}

func newStubRunner(t *testing.T) *stubRunner {
	t.Helper()
	s := &stubRunner{t: t}
	t.Cleanup(func() {
		for _, st := range s.stubs {
			if !st.used {
				t.Errorf("expected a command matching %q, which never ran", st.pattern)
			}
		}
	})
	return s
}

// Register expects a command whose "program arg arg..." matches pattern.
func (s *stubRunner) Register(pattern, stdout string, err error, check func(command)) {
	s.stubs = append(s.stubs, &stub{pattern: regexp.MustCompile(pattern), stdout: stdout, err: err, check: check})
}

func (s *stubRunner) Run(ctx context.Context, c command, stdout, _ io.Writer) error {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	line := c.Path + " " + strings.Join(c.Args, " ")
	var found *stub
	for _, st := range s.stubs {
		if !st.used && st.pattern.MatchString(line) {
			found = st
			st.used = true
			break
		}
	}
	s.mu.Unlock()
	if found == nil {
		s.t.Errorf("unexpected command: %s", line)
		return errors.New("unexpected command")
	}
	if found.check != nil {
		found.check(c)
	}
	if stdout != nil && found.stdout != "" {
		_, _ = io.WriteString(stdout, found.stdout)
	}
	return found.err
}

// Most tests stub the runner after Prepare; the early version check
// (version_probe.go) would run the real ansible-playbook then. Its own
// tests turn it back on.
func init() { probeOnPrepare = false }
