package journal

import (
	"os"
	"os/exec"
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
	entries, err := ReadAll()
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
	host, _ := os.Hostname()
	if (Entry{Host: host, PID: 0}).Alive() {
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
