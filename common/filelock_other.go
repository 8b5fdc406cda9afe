//go:build !unix

package common

import (
	"errors"
	"os"
)

// Elsewhere each build keeps its own retry budget.
const fileLockSupported = false

func lockFile(*os.File) error { return errors.New("file locks are not supported on this system") }

func unlockFile(*os.File) {}
