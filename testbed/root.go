package testbed

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ModulePath is the module whose checkout holds the test-bed.
const ModulePath = "github.com/packer-bakery/packer-plugin-bakery"

// FindRoot walks up from dir to the folder whose go.mod declares ModulePath.
// Tests run with the package folder as cwd, the CLI anywhere in the tree.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find project root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		mod, err := modulePath(filepath.Join(d, "go.mod"))
		if err == nil && mod == ModulePath {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod for module %s above %s; run from inside the checkout or set Options.Root", ModulePath, dir)
		}
	}
}

// modulePath returns the module path a go.mod declares. A full go.mod parser
// is not worth a dependency: the module line is simple.
func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			rest, _, _ = strings.Cut(rest, "//")
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no module line")
}

// CacheDir is the project-local cache: $BAKERY_CACHE, or root/.cache. A
// relative $BAKERY_CACHE is taken relative to root, as install.sh (which
// runs from the root) does.
func CacheDir(root string) string {
	if c := os.Getenv("BAKERY_CACHE"); c != "" {
		if filepath.IsAbs(c) {
			return c
		}
		return filepath.Join(root, c)
	}
	return filepath.Join(root, ".cache")
}

// PackerBinary is where install.sh builds packer v1.15.0.
func PackerBinary(root string) string {
	return filepath.Join(CacheDir(root), "bin", "packer")
}

// motoServer is the venv's moto_server entry point.
func motoServer(root string) string {
	return filepath.Join(CacheDir(root), "venv", "bin", "moto_server")
}
