//go:build e2e

package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

// TestE2EReleaseBuildsWhatPackerInstalls is `make release-dry-run` for this
// machine's platform: the release files are named as `packer init` asks for
// them, SHA256SUMS lists the zip's real checksum, the zipped binary
// describes itself with the release's version, and packer installs it
// (the -check step).
func TestE2EReleaseBuildsWhatPackerInstalls(t *testing.T) {
	root, err := testbed.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	packer := testbed.PackerBinary(root)
	if _, err := os.Stat(packer); err != nil {
		t.Fatalf("no packer (%v): run `make testbed-install`", err)
	}
	// The release builds the module in the current folder, as `go run
	// ./release` from the project root does.
	t.Chdir(root)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out := t.TempDir()
	if err := run(ctx, "v9.8.7", out, []string{runtime.GOOS + "/" + runtime.GOARCH}, packer); err != nil {
		t.Fatal(err)
	}

	binName := "packer-plugin-bakery_v9.8.7_x5.0_" + runtime.GOOS + "_" + runtime.GOARCH
	sumsFile := "packer-plugin-bakery_v9.8.7_SHA256SUMS"
	var names []string
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{sumsFile, binName + ".zip"}; !slices.Equal(names, want) { // ReadDir sorts by name
		t.Fatalf("release files %q, want %q (nothing else: no build leftovers)", names, want)
	}
	sums, err := os.ReadFile(filepath.Join(out, sumsFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := independentSHA256(t, filepath.Join(out, binName+".zip")) + "  " + binName + ".zip\n"; string(sums) != want {
		t.Errorf("SHA256SUMS:\n%s\nwant:\n%s", sums, want)
	}

	zr, err := zip.OpenReader(filepath.Join(out, binName+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != binName {
		t.Fatalf("the zip holds %d files (first %q), want only %s", len(zr.File), zr.File[0].Name, binName)
	}
	src, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(t.TempDir(), binName)
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	describe, err := exec.Command(bin, "describe").Output()
	if err != nil {
		t.Fatalf("%s describe: %v", binName, err)
	}
	var d struct {
		Version      string   `json:"version"`
		APIVersion   string   `json:"api_version"`
		Builders     []string `json:"builders"`
		Provisioners []string `json:"provisioners"`
		Datasources  []string `json:"datasources"`
	}
	if err := json.Unmarshal(describe, &d); err != nil {
		t.Fatalf("describe printed %s: %v", describe, err)
	}
	if d.Version != "9.8.7" || d.APIVersion != "x5.0" {
		t.Errorf("the released binary describes itself as version %q api %q, want 9.8.7 (no -dev) and x5.0", d.Version, d.APIVersion)
	}
	if !slices.Equal(d.Builders, []string{"ebs"}) || !slices.Equal(d.Provisioners, []string{"ansible"}) || !slices.Equal(d.Datasources, []string{"ami"}) {
		t.Errorf("the released binary holds builders %q, provisioners %q, data sources %q: not the plugin", d.Builders, d.Provisioners, d.Datasources)
	}
}
