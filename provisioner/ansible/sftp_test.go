package ansible

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The locator runs on the remote host through the communicator; here it
// runs in local sh with fake sftp-servers laid out like each distribution.
func TestSFTPLocatorFindsTheServerOnEachLayout(t *testing.T) {
	for _, layout := range []string{"/usr/libexec/openssh/sftp-server", "/usr/lib/openssh/sftp-server", "/usr/lib/ssh/sftp-server"} {
		t.Run(layout, func(t *testing.T) {
			root := t.TempDir()
			fake := filepath.Join(root, layout)
			if err := os.MkdirAll(filepath.Dir(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"served by $0 $*\"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, p := range sftpServerPaths {
				paths = append(paths, filepath.Join(root, p))
			}
			out, err := exec.Command("sh", "-c", sftpLocator(paths)).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if got, want := strings.TrimSpace(string(out)), "served by "+fake+" -e"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
	out, err := exec.Command("sh", "-c", sftpLocator([]string{filepath.Join(t.TempDir(), "none")})).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "set sftp_command") {
		t.Errorf("no server: err %v, output %q", err, out)
	}
}
