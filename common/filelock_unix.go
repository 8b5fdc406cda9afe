//go:build unix

package common

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

const fileLockSupported = true

func lockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// lockShared holds f for as long as it is open, alongside others.
func lockShared(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_SH) }

// lockAlone takes f exclusively if no one else holds it, without waiting.
func lockAlone(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// noFollow: open never goes through a symlink.
const noFollow = syscall.O_NOFOLLOW

// openPrivate opens (creating it 0600) a file in a folder others may
// write, never through a symlink someone put there.
func openPrivate(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|noFollow, 0o600)
}

// sameFile: f is still the file at path (not removed or replaced).
func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

// ownedByMe: the file is this user's.
func ownedByMe(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// processAlive: pid names a process that still runs (or cannot be told:
// kept to be safe).
func processAlive(pid string) bool {
	var n int
	if _, err := fmt.Sscan(pid, &n); err != nil || n <= 1 {
		return false
	}
	return syscall.Kill(n, 0) != syscall.ESRCH
}

// detach puts cmd in a session of its own: out of reach of the signals
// sent to packer's process group.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
