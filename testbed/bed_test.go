package testbed

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestPruneStaleRuns(t *testing.T) {
	base := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := strconv.Itoa(dead.Process.Pid)
	mk := func(name, owner string, kept bool) string {
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			write(t, filepath.Join(dir, ownerFile), owner)
		}
		if kept {
			write(t, filepath.Join(dir, keptFile), "")
		}
		return dir
	}
	stale := mk("run-stale", deadPID, false)
	live := mk("run-live", strconv.Itoa(os.Getpid()), false)
	kept := mk("run-kept", deadPID, true)
	unknown := mk("run-unknown", "", false)
	other := mk("not-a-run", deadPID, false)

	pruneStaleRuns(base)

	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale run folder survived (%v)", err)
	}
	for _, dir := range []string{live, kept, unknown, other} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(dir), err)
		}
	}
}

func TestStopOnUnstartedBed(t *testing.T) {
	var nilBed *Bed
	if err := nilBed.Stop(); err != nil {
		t.Errorf("nil Stop: %v", err)
	}
	b := &Bed{} // what a Start that failed early leaves behind
	if err := b.Stop(); err != nil {
		t.Errorf("Stop of an unstarted bed: %v", err)
	}
	if err := b.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
