package main

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
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

// sha256 of "hello", from `printf hello | sha256sum`.
const helloSHA256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

func TestFileSHA256(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := fileSHA256(path); err != nil || got != helloSHA256 {
		t.Errorf("fileSHA256 = %s, %v; want %s", got, err, helloSHA256)
	}
}

// independentSHA256 hashes a file without the code under test.
func independentSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestSumsAndZip(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "b")
	if err := os.WriteFile(bin, []byte("hello"), 0o755); err != nil {
		t.Fatal(err)
	}
	var zips []string
	for _, n := range []string{"z_linux", "a_darwin", "m_windows"} {
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
	if want := filepath.Join(dir, "packer-plugin-bakery_v0.0.1_SHA256SUMS"); path != want {
		t.Errorf("SHA256SUMS written to %s, want %s", path, want)
	}
	data, _ := os.ReadFile(path)
	// sha256sum's format, one line per zip, in sorted order whatever order
	// the builds finished in, so two runs over the same zips write the same
	// file.
	var want []string
	for _, z := range zips {
		want = append(want, independentSHA256(t, z)+"  "+filepath.Base(z))
	}
	slices.Sort(want)
	if got := string(data); got != strings.Join(want, "\n")+"\n" {
		t.Errorf("SHA256SUMS:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	out := t.TempDir()
	p, err := unzipOne(zips[0], "z_linux", out)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("extracted binary %s is not executable (%v)", p, err)
	}
	if got, err := os.ReadFile(p); err != nil || string(got) != "hello" {
		t.Errorf("extracted binary holds %q (%v), want the zipped file's bytes", got, err)
	}
	if _, err := unzipOne(zips[0], "other", out); err == nil || !strings.Contains(err.Error(), "want only other") {
		t.Errorf("a zip holding another name: error %v", err)
	}
	r, err := zip.OpenReader(zips[1])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.File) != 1 || r.File[0].Name != "a_darwin" {
		t.Fatalf("zip holds %d files, first %q; want only a_darwin", len(r.File), r.File[0].Name)
	}
	if r.File[0].Mode().Perm() != 0o755 {
		t.Errorf("mode in zip %v, want 0755 so the unzipped plugin runs", r.File[0].Mode())
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	for _, tc := range []struct{ ver, target, want string }{
		{"1.0.0", "linux/amd64", `-version "1.0.0": want vX.Y.Z`},
		{"v1.0", "linux/amd64", `-version "v1.0": want vX.Y.Z`},
		{"v1.0.0-rc1", "linux/amd64", `-version "v1.0.0-rc1": want vX.Y.Z`},
		{"v1.0.0", "linux", `-targets: "linux" is not os/arch`},
	} {
		t.Run(tc.ver+" "+tc.target, func(t *testing.T) {
			// The out folder is emptied first on success: bad input must
			// fail before that, leaving what was there.
			out := t.TempDir()
			keep := filepath.Join(out, "earlier-release.zip")
			if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := run(t.Context(), tc.ver, out, []string{tc.target}, "")
			if err == nil || err.Error() != tc.want {
				t.Errorf("run(%q, %q) = %v, want %q", tc.ver, tc.target, err, tc.want)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 1 || entries[0].Name() != "earlier-release.zip" {
				t.Errorf("out folder after a refused run: %v, want only what was there", entries)
			}
		})
	}
}
