// Command release builds the files of a GitHub release of the plugin, named
// the way `packer init` looks for them, and with -check proves that packer
// accepts what it built:
//
//	packer-plugin-bakery_v0.1.0_x5.0_linux_amd64.zip   (holding packer-plugin-bakery_v0.1.0_x5.0_linux_amd64)
//	…one zip per os/arch…
//	packer-plugin-bakery_v0.1.0_SHA256SUMS              (sha256 of every zip)
//
// Usage: go run ./release [-version v0.1.0] [-out .cache/release] [-targets linux/amd64,…] [-check path/to/packer]
//
// The version is set in the binaries with -ldflags, as a release build with
// no prerelease suffix; it defaults to version.Version.
package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/packer-plugin-sdk/plugin"

	"github.com/packer-bakery/packer-plugin-bakery/version"
)

const (
	name       = "packer-plugin-bakery"
	modulePath = "github.com/packer-bakery/packer-plugin-bakery"
	// source is what templates put in required_plugins.
	source = "github.com/packer-bakery/bakery"
)

// defaultTargets are the platforms a release ships: what packer itself
// runs on for most users.
var defaultTargets = []string{
	"linux/amd64", "linux/arm64",
	"darwin/amd64", "darwin/arm64",
	"windows/amd64", "windows/arm64",
}

var versionPattern = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)

func main() {
	ver := flag.String("version", "v"+version.Version, "release version, vX.Y.Z")
	out := flag.String("out", filepath.Join(".cache", "release"), "folder for the release files (emptied first)")
	targets := flag.String("targets", strings.Join(defaultTargets, ","), "comma-separated os/arch list")
	check := flag.String("check", "", "packer binary: install this platform's build with it and check what packer reports")
	flag.Parse()
	if err := run(context.Background(), *ver, *out, strings.Split(*targets, ","), *check); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, ver, out string, targets []string, packer string) error {
	if !versionPattern.MatchString(ver) {
		return fmt.Errorf("-version %q: want vX.Y.Z", ver)
	}
	for _, t := range targets {
		if _, _, ok := strings.Cut(t, "/"); !ok {
			return fmt.Errorf("-targets: %q is not os/arch", t)
		}
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	zips := make([]string, len(targets))
	errs := make([]error, len(targets))
	// Two at a time: each link takes a lot of memory and a core.
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			goos, goarch, _ := strings.Cut(t, "/")
			zips[i], errs[i] = buildTarget(ctx, ver, out, goos, goarch)
			if errs[i] == nil {
				fmt.Println("built", filepath.Base(zips[i]))
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	sums, err := writeSums(out, ver, zips)
	if err != nil {
		return err
	}
	fmt.Println("wrote", filepath.Base(sums))
	if packer == "" {
		return nil
	}
	host := runtime.GOOS + "/" + runtime.GOARCH
	if !slices.Contains(targets, host) {
		return fmt.Errorf("-check needs a build for this machine (%s) in -targets", host)
	}
	return checkInstall(ctx, packer, out, ver, runtime.GOOS, runtime.GOARCH)
}

// binaryName is the file packer's getter expects inside the zip, and the
// zip's name without .zip.
func binaryName(ver, goos, goarch string) string {
	return fmt.Sprintf("%s_%s_x%s.%s_%s_%s", name, ver, plugin.APIVersionMajor, plugin.APIVersionMinor, goos, goarch)
}

func sumsName(ver string) string { return fmt.Sprintf("%s_%s_SHA256SUMS", name, ver) }

func buildTarget(ctx context.Context, ver, out, goos, goarch string) (string, error) {
	base := binaryName(ver, goos, goarch)
	bin := base
	if goos == "windows" {
		bin += ".exe"
	}
	tmp, err := os.MkdirTemp(out, ".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ldflags := fmt.Sprintf("-s -w -X %[1]s/version.Version=%[2]s -X %[1]s/version.VersionPrerelease=", modulePath, strings.TrimPrefix(ver, "v"))
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", filepath.Join(tmp, bin), ".")
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if outb, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build for %s/%s: %w\n%s", goos, goarch, err, outb)
	}
	zipPath := filepath.Join(out, base+".zip")
	return zipPath, zipFile(zipPath, filepath.Join(tmp, bin), bin)
}

func zipFile(zipPath, file, nameInZip string) error {
	f, err := os.Create(zipPath)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	src, err := os.Open(file)
	if err != nil {
		f.Close()
		return err
	}
	defer src.Close()
	hdr := &zip.FileHeader{Name: nameInZip, Method: zip.Deflate}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err == nil {
		_, err = io.Copy(w, src)
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeSums writes the SHA256SUMS file: "<hex>  <zip name>" per line,
// sorted, as sha256sum prints it and packer reads it.
func writeSums(out, ver string, zips []string) (string, error) {
	var lines []string
	for _, z := range zips {
		sum, err := fileSHA256(z)
		if err != nil {
			return "", err
		}
		lines = append(lines, sum+"  "+filepath.Base(z))
	}
	slices.Sort(lines)
	path := filepath.Join(out, sumsName(ver))
	return path, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkInstall does what `packer init` does with a release, short of the
// download: the zip's checksum matches SHA256SUMS, the zip holds the binary
// under the expected name, the binary describes itself with the release's
// version and protocol, and `packer plugins install` accepts it.
func checkInstall(ctx context.Context, packer, out, ver, goos, goarch string) error {
	base := binaryName(ver, goos, goarch)
	zipPath := filepath.Join(out, base+".zip")
	sums, err := os.ReadFile(filepath.Join(out, sumsName(ver)))
	if err != nil {
		return err
	}
	sum, err := fileSHA256(zipPath)
	if err != nil {
		return err
	}
	if !bytes.Contains(sums, []byte(sum+"  "+base+".zip\n")) {
		return fmt.Errorf("%s does not list %s with its checksum %s", sumsName(ver), base+".zip", sum)
	}
	work, err := os.MkdirTemp("", "bakery-release-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin, err := unzipOne(zipPath, base, work)
	if err != nil {
		return err
	}
	describe, err := exec.CommandContext(ctx, bin, "describe").Output()
	if err != nil {
		return fmt.Errorf("%s describe: %w", base, err)
	}
	var d struct {
		Version    string `json:"version"`
		APIVersion string `json:"api_version"`
	}
	if err := json.Unmarshal(describe, &d); err != nil {
		return fmt.Errorf("%s describe: %w", base, err)
	}
	wantAPI := "x" + plugin.APIVersionMajor + "." + plugin.APIVersionMinor
	if d.Version != strings.TrimPrefix(ver, "v") || d.APIVersion != wantAPI {
		return fmt.Errorf("%s describes itself as version %q, api %q; want %q, %q", base, d.Version, d.APIVersion, strings.TrimPrefix(ver, "v"), wantAPI)
	}
	pluginDir := filepath.Join(work, "plugins")
	install := exec.CommandContext(ctx, packer, "plugins", "install", "--path", bin, source)
	install.Env = append(os.Environ(), "PACKER_PLUGIN_PATH="+pluginDir, "PACKER_CONFIG_DIR="+filepath.Join(work, "config"), "CHECKPOINT_DISABLE=1")
	if o, err := install.CombinedOutput(); err != nil {
		return fmt.Errorf("packer plugins install --path: %w\n%s", err, o)
	}
	installed := exec.CommandContext(ctx, packer, "plugins", "installed")
	installed.Env = install.Env
	o, err := installed.CombinedOutput()
	if err != nil {
		return fmt.Errorf("packer plugins installed: %w\n%s", err, o)
	}
	want := filepath.Join("github.com", "packer-bakery", "bakery", name+"_"+ver+"_"+wantAPI+"_"+goos+"_"+goarch)
	if !strings.Contains(string(o), want) {
		return fmt.Errorf("packer plugins installed does not list %s:\n%s", want, o)
	}
	fmt.Printf("checked: %s matches %s, describes itself as %s %s, and packer installed it as %s\n",
		filepath.Base(zipPath), sumsName(ver), d.Version, d.APIVersion, want)
	return nil
}

// unzipOne extracts the one file the zip must hold and refuses anything
// else.
func unzipOne(zipPath, want, dir string) (string, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return "", err
	}
	defer zr.Close()
	if len(zr.File) != 1 || strings.TrimSuffix(zr.File[0].Name, ".exe") != want {
		names := make([]string, 0, len(zr.File))
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		return "", fmt.Errorf("%s holds %v; want only %s", filepath.Base(zipPath), names, want)
	}
	src, err := zr.File[0].Open()
	if err != nil {
		return "", err
	}
	defer src.Close()
	path := filepath.Join(dir, zr.File[0].Name)
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", err
	}
	return path, dst.Close()
}
