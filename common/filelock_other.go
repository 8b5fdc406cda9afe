//go:build !unix

package common

import (
	"errors"
	"os"
	"os/exec"
)

// Elsewhere each build keeps its own retry budget.
const fileLockSupported = false

var errNoFileLocks = errors.New("file locks are not supported on this system")

const noFollow = 0

func lockFile(*os.File) error { return errNoFileLocks }

func unlockFile(*os.File) {}

func lockShared(*os.File) error { return errNoFileLocks }

func lockAlone(*os.File) bool { return false }

func openPrivate(string) (*os.File, error) { return nil, errNoFileLocks }

func sameFile(*os.File, string) bool { return false }

func ownedByMe(os.FileInfo) bool { return false }

func processAlive(string) bool { return true }

func detach(*exec.Cmd) {}
