//go:build !unix

package journal

import "os"

// processAlive: on Windows, FindProcess opens the process and fails when
// there is none.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}

func bootID() string { return "" }

func pidNamespace() string { return "" }

func procStart(int) string { return "" }
