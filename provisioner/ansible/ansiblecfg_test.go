package ansible

import (
	"os"
	"path/filepath"
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
