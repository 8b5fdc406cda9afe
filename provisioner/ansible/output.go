package ansible

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// playOutput streams ansible's output to the user line by line, as it
// comes, and remembers which task failed on which host, so the build's
// error can say so instead of only "exit status 2".
type playOutput struct {
	mu       sync.Mutex
	emit     func(string)
	buf      bytes.Buffer
	task     string
	failures []taskFailure
}

type taskFailure struct{ Task, Host string }

var (
	taskLine = regexp.MustCompile(`^(?:TASK|RUNNING HANDLER) \[(.*)\] \**$`)
	// fatal: [default]: FAILED! => ...   failed: [default] (item=x) => ...
	// fatal: [default]: UNREACHABLE! => ...
	failLine = regexp.MustCompile(`^(?:fatal|failed): \[([^\]]+)\]`)
)

func newPlayOutput(emit func(string)) *playOutput { return &playOutput{emit: emit} }

// Write implements io.Writer; it is safe to share between stdout and stderr.
func (o *playOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	for {
		line, err := o.buf.ReadString('\n')
		if err != nil {
			// Incomplete line: keep it for the next write.
			o.buf.Reset()
			o.buf.WriteString(line)
			break
		}
		o.line(strings.TrimRight(line, "\r\n"))
	}
	return len(p), nil
}

// Flush emits a last line that had no newline.
func (o *playOutput) Flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.buf.Len() > 0 {
		o.line(o.buf.String())
		o.buf.Reset()
	}
}

func (o *playOutput) line(s string) {
	if m := taskLine.FindStringSubmatch(s); m != nil {
		o.task = m[1]
	} else if m := failLine.FindStringSubmatch(s); m != nil {
		o.failures = append(o.failures, taskFailure{Task: o.task, Host: m[1]})
	} else if strings.TrimSpace(s) == "...ignoring" && len(o.failures) > 0 {
		// ignore_errors: the failure just printed did not stop the play.
		o.failures = o.failures[:len(o.failures)-1]
	}
	o.emit(s)
}

// Failures returns what failed, in order.
func (o *playOutput) Failures() []taskFailure {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]taskFailure(nil), o.failures...)
}

// describe makes the build's error: which task failed on which host.
func describeFailure(failures []taskFailure, err error) error {
	if len(failures) == 0 {
		return fmt.Errorf("ansible-playbook failed: %w", err)
	}
	var parts []string
	seen := map[taskFailure]bool{}
	for _, f := range failures {
		if seen[f] {
			continue
		}
		seen[f] = true
		parts = append(parts, fmt.Sprintf("task %q failed on host %q", f.Task, f.Host))
	}
	return fmt.Errorf("ansible-playbook failed: %s: %w", strings.Join(parts, "; "), err)
}
