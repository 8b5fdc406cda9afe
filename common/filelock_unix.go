//go:build unix

package common

import (
	"os"
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
