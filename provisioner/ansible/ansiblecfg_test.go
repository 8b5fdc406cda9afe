package ansible

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCfgSetsFindsOnlyLiveKeys(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ansible.cfg")
	if err := os.WriteFile(cfg, []byte("[defaults]\n# pipelining = True\nforks=5\n\n[ssh_connection]\n  retries : 5\nreconnection_retries = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"retries": true, "forks": true, "pipelining": false, "timeout": false} {
		if got := cfgSets(cfg, key); got != want {
			t.Errorf("cfgSets(%q) = %v, want %v", key, got, want)
		}
	}
	if cfgSets("", "retries") || cfgSets(filepath.Join(t.TempDir(), "missing.cfg"), "retries") {
		t.Error("no file should set nothing")
	}
}

// TestPlaybookAnsibleCfgRefusesWorldWritable: an ansible.cfg anyone could
// have written is not handed to Ansible through ANSIBLE_CONFIG (which
// Ansible trusts without its own world-writable check).
func TestPlaybookAnsibleCfgRefusesWorldWritable(t *testing.T) {
	for _, tc := range []struct {
		name           string
		dirMode, cfgMo os.FileMode
		want           bool
		warn           string
	}{
		{"private folder", 0o755, 0o644, true, ""},
		{"world-writable folder", 0o777, 0o644, false, "is world-writable"},
		{"sticky world-writable folder", 0o1777, 0o644, false, "is world-writable"},
		{"world-writable file", 0o755, 0o666, false, "ansible.cfg is world-writable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "play")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(dir, "ansible.cfg")
			if err := os.WriteFile(cfg, []byte("[defaults]\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			// Chmod: the umask would have trimmed the modes above.
			if err := os.Chmod(cfg, tc.cfgMo); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.dirMode); err != nil {
				t.Fatal(err)
			}
			got, warn := playbookAnsibleCfg(filepath.Join(dir, "site.yml"), t.TempDir())
			if (got == cfg) != tc.want {
				t.Errorf("got %q, want it used: %v", got, tc.want)
			}
			if tc.warn == "" && warn != "" || !strings.Contains(warn, tc.warn) {
				t.Errorf("warning %q, want %q", warn, tc.warn)
			}
		})
	}
}

func TestEffectiveAnsibleCfgSkipsWorldWritableWorkingFolder(t *testing.T) {
	cwd := t.TempDir()
	if err := os.WriteFile(filepath.Join(cwd, "ansible.cfg"), []byte("[defaults]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", t.TempDir())
	if got := effectiveAnsibleCfg(nil, cwd); got != filepath.Join(cwd, "ansible.cfg") {
		t.Fatalf("private working folder: %q", got)
	}
	if err := os.Chmod(cwd, 0o777); err != nil {
		t.Fatal(err)
	}
	if got := effectiveAnsibleCfg(nil, cwd); got == filepath.Join(cwd, "ansible.cfg") {
		t.Errorf("world-writable working folder's ansible.cfg taken, Ansible would skip it")
	}
}
