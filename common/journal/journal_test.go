package journal

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecordForgetClose(t *testing.T) {
	t.Setenv(EnvDir, t.TempDir())
	j, err := Open("b1", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Record("instance", "i-1", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	if err := j.Record("key-pair", "k-1", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	entries, err := ReadAll(nil)
	if err != nil || len(entries) != 1 {
		t.Fatalf("ReadAll = %v, %v; want one journal", entries, err)
	}
	e := entries[0]
	if e.BuildID != "b1" || e.PID != os.Getpid() || len(e.Resources) != 2 || !e.Alive() {
		t.Errorf("journal %+v: want this live process's two resources", e)
	}
	info, err := os.Stat(j.path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("journal file mode %v, %v; want 0600", info.Mode(), err)
	}

	// Something still recorded: Close keeps the file for the sweep.
	if err := j.Forget("i-1"); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(j.path); err != nil {
		t.Fatalf("journal removed while key pair k-1 is still recorded: %v", err)
	}
	if got := j.Remaining(); len(got) != 1 || got[0].ID != "k-1" {
		t.Errorf("Remaining = %v, want k-1", got)
	}
	if err := j.Forget("k-1"); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(j.path); !os.IsNotExist(err) {
		t.Errorf("empty journal not removed: %v", err)
	}
}

func TestDeadBuildIsNotAlive(t *testing.T) {
	if Local(0).Alive() {
		t.Error("pid 0 taken for alive")
	}
	if !(Entry{Host: "another-host", PID: 1}).Alive() {
		t.Error("a build on another host must count as alive: nothing here can tell")
	}
}

func TestNilJournalRecordsNothing(t *testing.T) {
	var j *Journal
	if err := j.Record("instance", "i-1", "r"); err != nil || j.Forget("i-1") != nil || j.Close() != nil || j.Remaining() != nil {
		t.Error("a nil journal must be a no-op")
	}
}

// A build killed along with its parent can linger as a zombie: dead all
// the same.
func TestZombieIsNotAlive(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for processAlive(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("an exited, unreaped child still counts as alive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !processAlive(os.Getpid()) {
		t.Error("this test's own process counts as dead")
	}
}

// TestAliveAcrossPIDNamespaces: a PID recorded in another container's PID
// namespace says nothing here; a PID now held by another process (its
// start time differs) is a dead build's.
func TestAliveAcrossPIDNamespaces(t *testing.T) {
	if pidNamespace() == "" {
		t.Skip("no PID namespaces here")
	}
	other := Local(0) // no such process here...
	other.PIDNamespace = "pid:[1]"
	if !other.Alive() {
		t.Error("a build in another PID namespace taken for dead: its PID means nothing here")
	}
	reused := Local(os.Getpid())
	reused.ProcStart = "1" // ...this PID, but started at another time
	if reused.Alive() {
		t.Error("a PID reused by another process taken for the build's")
	}
	if !Local(os.Getpid()).Alive() {
		t.Error("this very process taken for dead")
	}
}

func TestReadAllSkipsACorruptJournal(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvDir, dir)
	if _, err := Open("good", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	var skipped []string
	entries, err := ReadAll(func(file string, err error) { skipped = append(skipped, filepath.Base(file)) })
	if err != nil {
		t.Fatalf("one corrupt journal stopped the read: %v", err)
	}
	if len(entries) != 1 || entries[0].BuildID != "good" || len(skipped) != 1 || skipped[0] != "bad.json" {
		t.Errorf("entries %+v, skipped %v: want the good one read and the bad one reported", entries, skipped)
	}
}

// TestJournalWritesNeverFollowASymlink: the temporary file of a write
// had a fixed name (build.json.tmp) that a planted symlink could turn
// into a write anywhere the build's user may write.
func TestJournalWritesNeverFollowASymlink(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvDir, dir)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"b1.json.tmp", "b1.json"} {
		if err := os.Symlink(victim, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	j, err := Open("b1", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Record("instance", "i-1", ""); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(victim); string(data) != "precious" {
		t.Errorf("a symlink in the journal folder was followed: the victim holds %q", data)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "b1.json")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the journal is not a regular file of its own: %v %v", fi, err)
	}
}

func TestOpenRefusesAJournalFolderOthersCanWrite(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDir, dir)
	if _, err := Open("b1", "us-east-1"); err == nil || !strings.Contains(err.Error(), "can be written by others") {
		t.Errorf("Open: %v, want the folder refused", err)
	}
}
