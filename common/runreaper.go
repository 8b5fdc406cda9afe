package common

import (
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A data source leaves the run's role credentials (runcreds.go) for the
// builds that follow; the last build removes them. When no build of this
// plugin follows (the data source feeds another builder), nobody would:
// packer ends its plugin processes with SIGKILL, so no process of ours
// sees the end of the run. The data source therefore starts a reaper, a
// process of this binary in a session of its own, that waits for the data
// source's process to go (packer keeps it until the end of the command)
// and then removes the run's files unless a process of the run still
// holds them (that one removes them when it ends).

// ReaperCommand is the plugin's hidden subcommand that runs the reaper:
// ReaperCommand <run share path> <pid of the process to outlive>.
const ReaperCommand = "__bakery-run-reaper"

// reaperPoll is how often the reaper looks whether its process has gone.
const reaperPoll = 200 * time.Millisecond

// startRunReaper starts the reaper of s for this process.
func startRunReaper(s *runShare) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	// Only the path and a pid on the command line; no environment (it may
	// hold credentials, and the reaper needs none).
	cmd := exec.Command(exe, ReaperCommand, s.path, strconv.Itoa(os.Getpid()))
	cmd.Env = []string{}
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// RunReaper is the reaper's main: it returns once its process is gone and
// the run's files are removed or held by a process of the run.
func RunReaper(args []string) int {
	if len(args) != 2 || !strings.HasPrefix(filepath.Base(args[0]), runSharePrefix) || !strings.HasSuffix(args[0], ".json") {
		return 2
	}
	pid, err := strconv.Atoi(args[1])
	if err != nil || pid <= 1 {
		return 2
	}
	parent := os.Getppid()
	gone := func() bool { return os.Getppid() != parent || pid != parent }
	reap(args[0], gone, reaperPoll, runShareMaxAge)
	return 0
}

// reap waits until gone says the process it outlives has gone (or maxWait
// passed), then removes the run's state, lock and private folder unless
// a process of the run holds the lock.
func reap(path string, gone func() bool, poll, maxWait time.Duration) {
	deadline := time.Now().Add(maxWait)
	for !gone() && time.Now().Before(deadline) {
		time.Sleep(poll)
	}
	s := &runShare{path: path}
	lock, err := os.OpenFile(s.lockPath(), os.O_RDONLY|noFollow, 0)
	if err == nil {
		defer lock.Close()
		if !lockAlone(lock) || !sameFile(lock, s.lockPath()) {
			return // a process of the run is still there: it removes them
		}
	}
	_ = os.Remove(path)
	removeOwnDir(s.credsDir())
	if err == nil {
		_ = os.Remove(s.lockPath())
	}
	log.Printf("bakery: removed run files %s", strings.TrimSuffix(path, ".json")+".*")
}
