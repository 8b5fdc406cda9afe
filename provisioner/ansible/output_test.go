package ansible

import (
	"errors"
	"strings"
	"testing"
)

func TestPlayOutputStreamsLinesAndFindsFailures(t *testing.T) {
	var lines []string
	o := newPlayOutput(func(s string) { lines = append(lines, s) })
	// Split mid-line on purpose: a line is emitted once complete.
	for _, chunk := range []string{
		"TASK [Ignored] ****\nfatal: [default]: FAILED! => {}\n...ignoring\n",
		"TASK [Install ngi", "nx] ****\n",
		"fatal: [default]: FAILED! => {\"msg\": \"boom\"}\n",
		"PLAY RECAP", " ***",
	} {
		if _, err := o.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if len(lines) != 5 {
		t.Errorf("%d lines emitted before the flush, want 5: %q", len(lines), lines)
	}
	o.Flush()
	if lines[len(lines)-1] != "PLAY RECAP ***" {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
	err := describeFailure(o.Failures(), errors.New("exit status 2"))
	if got := err.Error(); got != `ansible-playbook failed: task "Install nginx" failed on host "default": exit status 2` {
		t.Errorf("error %q", got)
	}
	if !strings.Contains(describeFailure(nil, errors.New("exit status 4")).Error(), "exit status 4") {
		t.Error("no cause without failures")
	}
}

// The seed's failure: copy with become_user to an unprivileged user on an
// image without setfacl. The error names the task and the three ways out.
func TestPlayOutputHintsAtMissingSetfacl(t *testing.T) {
	for name, text := range map[string]string{
		"one line":      "TASK [Copy as app] ***\nfatal: [default]: FAILED! => {\"msg\": \"" + becomeTmpFailure + " (rc: 1, err: chmod: invalid mode: 'A+user:bakery-app:rx:allow'\\n}). For information on working around this, see https://docs.ansible.com\"}\n",
		"yaml callback": "TASK [Copy as app] ***\nfatal: [default]: FAILED! =>\n  msg: '" + becomeTmpFailure + " (rc: 1, err: chmod: invalid mode)'\n",
	} {
		t.Run(name, func(t *testing.T) {
			o := newPlayOutput(func(string) {})
			_, _ = o.Write([]byte(text))
			got := describeFailure(o.Failures(), errors.New("exit status 2")).Error()
			for _, want := range []string{`task "Copy as app" failed on host "default"`, "`setfacl` (package `acl`)",
				"install `acl` in an earlier step", "`use_mitogen = true`", "ANSIBLE_ALLOW_WORLD_READABLE_TMPFILES=True", "readable by every user"} {
				if !strings.Contains(got, want) {
					t.Errorf("error lacks %q:\n%s", want, got)
				}
			}
		})
	}
	o := newPlayOutput(func(string) {})
	_, _ = o.Write([]byte("TASK [Other] ***\nfatal: [default]: FAILED! => {\"msg\": \"boom\"}\n"))
	if got := describeFailure(o.Failures(), errors.New("exit status 2")).Error(); strings.Contains(got, "setfacl") {
		t.Errorf("an unrelated failure gets the setfacl hint: %s", got)
	}
}
