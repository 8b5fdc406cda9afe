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
