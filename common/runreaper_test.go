//go:build unix

package common

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// runFiles makes a run's state, lock and private folder with a role file,
// as a data source leaves them for the builds.
func runFiles(t *testing.T) (state string, creds string) {
	t.Helper()
	dir := t.TempDir()
	state = filepath.Join(dir, runSharePrefix+"0b1c2d3e.json")
	s := &runShare{path: state}
	for _, f := range []string{state, s.lockPath()} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := makePrivateDir(s.credsDir()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.credsDir(), "role-x.json"), []byte(`{"secret_access_key":"s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return state, s.credsDir()
}

// Once the data source's process is gone and no process of the run holds
// its files, the reaper removes them: the role credentials do not stay in
// TMPDIR when no build of ours follows.
func TestReaperRemovesTheRunFilesOnceItsProcessIsGone(t *testing.T) {
	state, creds := runFiles(t)
	polls := 0
	reap(state, func() bool { polls++; return polls > 3 }, time.Millisecond, time.Minute)
	if polls <= 3 {
		t.Fatalf("reaped after %d polls, before the process was gone", polls)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(state), "*"))
	if len(left) != 0 {
		t.Errorf("left %v", left)
	}
	if _, err := os.Lstat(creds); !os.IsNotExist(err) {
		t.Errorf("the private folder is still there (%v)", err)
	}
}

// A build of the run still holds the files: it removes them when it ends,
// and the reaper leaves them to it.
func TestReaperLeavesFilesAHolderStillUses(t *testing.T) {
	state, creds := runFiles(t)
	holder, err := os.Open((&runShare{path: state}).lockPath())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := lockShared(holder); err != nil {
		t.Fatal(err)
	}
	reap(state, func() bool { return true }, time.Millisecond, time.Minute)
	if _, err := os.Stat(filepath.Join(creds, "role-x.json")); err != nil {
		t.Errorf("the reaper removed credentials a build of the run still holds: %v", err)
	}
}

// Nothing but a run share's state file and a pid: the reaper is never a
// way to remove other paths.
func TestRunReaperRefusesOtherArguments(t *testing.T) {
	for _, args := range [][]string{nil, {"/etc/passwd", "123"}, {"/tmp/" + runSharePrefix + "x.json", "1"}, {"/tmp/" + runSharePrefix + "x.json", "abc"}} {
		if code := RunReaper(args); code != 2 {
			t.Errorf("RunReaper(%q) = %d, want 2", args, code)
		}
	}
}
