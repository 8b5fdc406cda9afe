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

type taskFailure struct {
	Task, Host string
	// BecomeTmp: Ansible could not hand its temporary module files to an
	// unprivileged become_user (no setfacl on the image).
	BecomeTmp bool
}

// becomeTmpFailure starts Ansible's error when neither setfacl nor chown
// nor chmod ACLs let the become_user read the module files.
const becomeTmpFailure = "Failed to set permissions on the temporary files Ansible needs to create when becoming an unprivileged user"

// becomeTmpHint is the way out of becomeTmpFailure, said at that task.
const becomeTmpHint = "Ansible could not let the unprivileged `become_user` read the module files it uploads: " +
	"the image has no `setfacl` (package `acl`), which Ansible needs for that unless it runs as root. " +
	"Ways out: install `acl` in an earlier step (a `shell` provisioner, or a task with `become: true` to root running " +
	"`dnf install -y acl` / `apt-get install -y acl`); or set `use_mitogen = true` (Mitogen uploads no module files, " +
	"see the bakery-ansible docs); or set `ANSIBLE_ALLOW_WORLD_READABLE_TMPFILES=True` in `ansible_env_vars`, which makes " +
	"those files, the module's arguments included (passwords too), readable by every user of the instance while the task runs"

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
		o.failures = append(o.failures, taskFailure{Task: o.task, Host: m[1], BecomeTmp: strings.Contains(s, becomeTmpFailure)})
	} else if strings.Contains(s, becomeTmpFailure) && len(o.failures) > 0 {
		// A callback that prints the message below the fatal line.
		o.failures[len(o.failures)-1].BecomeTmp = true
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
		part := fmt.Sprintf("task %q failed on host %q", f.Task, f.Host)
		if f.BecomeTmp {
			part += " (" + becomeTmpHint + ")"
		}
		parts = append(parts, part)
	}
	return fmt.Errorf("ansible-playbook failed: %s: %w", strings.Join(parts, "; "), err)
}
