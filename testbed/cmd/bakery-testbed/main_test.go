package main

import (
	"os/exec"
	"testing"
)

func TestExportLines(t *testing.T) {
	got := exportLines(
		[]string{"PATH=/bin", "AWS_PROFILE=prod", "AWS_REGION=eu-west-1", "AWS_CA_BUNDLE=/x"},
		[]string{"AWS_REGION=us-east-1", "PKR_VAR_x=it's"},
	)
	want := "unset AWS_CA_BUNDLE\nunset AWS_PROFILE\n" +
		"export AWS_REGION='us-east-1'\n" +
		"export PKR_VAR_x='it'\\''s'\n" +
		"# bakery-testbed ready\n"
	if got != want {
		t.Errorf("exportLines:\n%s\nwant:\n%s", got, want)
	}
}

// TestExportLinesRoundTrip has a real shell evaluate the lines.
func TestExportLinesRoundTrip(t *testing.T) {
	val := `a b'c"d$e\f`
	script := exportLines(nil, []string{"X=" + val}) + `printf %s "$X"`
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != val {
		t.Errorf("shell saw %q, want %q", out, val)
	}
}

func TestExitCode(t *testing.T) {
	for script, want := range map[string]int{
		"exit 0":        0,
		"exit 3":        3,
		"kill -TERM $$": 128 + 15,
	} {
		cmd := exec.Command("sh", "-c", script)
		err := cmd.Run()
		if got := exitCode(cmd.ProcessState, err); got != want {
			t.Errorf("%q: exitCode = %d, want %d", script, got, want)
		}
	}
}

func TestDispatchUnknown(t *testing.T) {
	if got := dispatch([]string{"frobnicate"}); got != exitUsage {
		t.Errorf("unknown command exit %d", got)
	}
	if got := dispatch([]string{"run"}); got != exitUsage {
		t.Errorf("run without command exit %d", got)
	}
}
