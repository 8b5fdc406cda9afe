package main

import (
	"archive/zip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The names are what packer's GitHub getter asks for; a typo here makes
// `packer init` say no compatible release exists.
func TestNames(t *testing.T) {
	if got, want := binaryName("v1.2.3", "darwin", "arm64"), "packer-plugin-bakery_v1.2.3_x5.0_darwin_arm64"; got != want {
		t.Errorf("binaryName = %q, want %q", got, want)
	}
	if got, want := sumsName("v1.2.3"), "packer-plugin-bakery_v1.2.3_SHA256SUMS"; got != want {
		t.Errorf("sumsName = %q, want %q", got, want)
	}
}

func TestSumsAndZip(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "b")
	if err := os.WriteFile(bin, []byte("hello"), 0o755); err != nil {
		t.Fatal(err)
	}
	var zips []string
	for _, n := range []string{"z_linux", "a_darwin"} {
		z := filepath.Join(dir, n+".zip")
		if err := zipFile(z, bin, n); err != nil {
			t.Fatal(err)
		}
		zips = append(zips, z)
	}
	path, err := writeSums(dir, "v0.0.1", zips)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("SHA256SUMS:\n%s\nwant two lines", data)
	}
	for _, l := range lines {
		sum, name, ok := strings.Cut(l, "  ")
		if !ok || len(sum) != 64 {
			t.Errorf("line %q is not sha256sum's <hex>  <name>", l)
			continue
		}
		got, err := fileSHA256(filepath.Join(dir, name))
		if err != nil || got != sum {
			t.Errorf("%s: listed %s, file has %s (%v)", name, sum, got, err)
		}
	}
	out := t.TempDir()
	p, err := unzipOne(zips[0], "z_linux", out)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("extracted binary %s is not executable (%v)", p, err)
	}
	if _, err := unzipOne(zips[0], "other", out); err == nil {
		t.Error("a zip holding another name was accepted")
	}
	r, err := zip.OpenReader(zips[1])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.File[0].Mode().Perm() != 0o755 {
		t.Errorf("mode in zip %v, want 0755 so the unzipped plugin runs", r.File[0].Mode())
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	for _, tc := range []struct{ ver, target string }{{"1.0.0", "linux/amd64"}, {"v1.0", "linux/amd64"}, {"v1.0.0", "linux"}} {
		if err := run(t.Context(), tc.ver, t.TempDir(), []string{tc.target}, ""); err == nil {
			t.Errorf("run(%q, %q) succeeded", tc.ver, tc.target)
		}
	}
}
