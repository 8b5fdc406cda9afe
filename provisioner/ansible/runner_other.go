//go:build !unix

package ansible

import (
	"os"
	"os/exec"
)

// Ansible does not run on Windows controllers (it needs WSL); the plugin
// still builds there, and stops the command it started without grace.
func setProcessGroup(*exec.Cmd) {}

func signalGroup(pid int, _ bool) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
