package testbed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindRoot(t *testing.T) {
	top := t.TempDir()
	root := filepath.Join(top, "checkout")
	deep := filepath.Join(root, "testbed", "cmd")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	// A go.mod of another module on the way up must be skipped.
	other := filepath.Join(root, "testbed")
	write(t, filepath.Join(other, "go.mod"), "module example.com/other\n")
	write(t, filepath.Join(root, "go.mod"), "// comment\nmodule "+ModulePath+" // trailing\n\ngo 1.26\n")
	got, err := FindRoot(deep)
	if err != nil {
		t.Fatal(err)
	}
	if got != root {
		t.Errorf("FindRoot = %q, want %q", got, root)
	}
	if _, err := FindRoot(top); err == nil {
		t.Error("FindRoot found a root above the checkout")
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCacheDir(t *testing.T) {
	t.Setenv("BAKERY_CACHE", "")
	if got := CacheDir("/p"); got != "/p/.cache" {
		t.Errorf("default CacheDir = %q", got)
	}
	t.Setenv("BAKERY_CACHE", "/var/cache/bakery")
	if got := CacheDir("/p"); got != "/var/cache/bakery" {
		t.Errorf("absolute BAKERY_CACHE: %q", got)
	}
	t.Setenv("BAKERY_CACHE", "ci-cache")
	if got := CacheDir("/p"); got != "/p/ci-cache" {
		t.Errorf("relative BAKERY_CACHE is relative to the root, as in install.sh: %q", got)
	}
	if got := PackerBinary("/p"); got != "/p/ci-cache/bin/packer" {
		t.Errorf("PackerBinary = %q", got)
	}
}

func TestUsablePasswordField(t *testing.T) {
	for pw, ok := range map[string]bool{
		"*":          true,
		"$6$salt$h":  true,
		"":           false,
		"!":          false,
		"!$6$salt$h": false,
		"*LK*":       false,
	} {
		if err := usablePasswordField(pw); (err == nil) != ok {
			t.Errorf("usablePasswordField(%q) = %v, want ok=%v", pw, err, ok)
		}
	}
}

func TestMissingForStartSaysWhatToRun(t *testing.T) {
	err := missingForStart([]Requirement{
		{Name: "moto_server", Detail: "missing", ForStart: true},
		{Name: "packer", Detail: "missing", ForStart: false},
	})
	if err == nil {
		t.Fatal("no error for a missing requirement")
	}
	msg := err.Error()
	for _, want := range []string{"moto_server", "run testbed/install.sh (or make testbed-install)"} {
		if !contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if contains(msg, "packer") {
		t.Errorf("error %q blames packer, which Start does not need", msg)
	}
	if missingForStart([]Requirement{{Name: "packer", ForStart: false}}) != nil {
		t.Error("packer alone must not stop Start")
	}
	err = missingForStart([]Requirement{{Name: rootRequirement, Detail: "not root", ForStart: true}})
	if err == nil || !strings.Contains(err.Error(), "must run as root") || strings.Contains(err.Error(), "install.sh") {
		t.Errorf("not being root should say so, and only that: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
