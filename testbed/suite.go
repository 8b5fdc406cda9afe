package testbed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Suite is what an end-to-end test package shares: a running bed, and the
// plugin built from this checkout installed into the pinned packer.
type Suite struct {
	Bed        *Bed
	Root       string // the project root
	Packer     string // the packer binary
	PluginPath string // PACKER_PLUGIN_PATH holding the plugin
	Plugin     string // the plugin binary itself, for its subcommands
}

// RunSuite is the body of an e2e package's TestMain: it builds and
// installs the plugin, starts a bed with opts, refuses anything but a
// loopback endpoint, runs the tests and stops the bed (also when a test
// panics). Use it as
//
//	func TestMain(m *testing.M) { os.Exit(testbed.RunSuite(m, testbed.Options{}, &suite)) }
func RunSuite(m *testing.M, opts Options, suite *Suite) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
		return 1
	}
	root, err := FindRoot(opts.Root)
	if err != nil {
		return fail("finding the project root: %v", err)
	}
	opts.Root = root
	packer := PackerBinary(root)
	if _, err := os.Stat(packer); err != nil {
		return fail("packer is not installed (%v): run `make testbed-install`", err)
	}
	work, err := os.MkdirTemp("", "bakery-e2e-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(work)
	pluginPath, err := InstallPlugin(root, work)
	if err != nil {
		return fail("%v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bed, err := Start(ctx, opts)
	if err != nil {
		return fail("%v", err)
	}
	defer bed.Stop()
	if err := RequireLoopback(bed.Endpoint); err != nil {
		return fail("refusing to run: %v", err)
	}
	*suite = Suite{Bed: bed, Root: root, Packer: packer, PluginPath: pluginPath,
		Plugin: filepath.Join(work, "packer-plugin-bakery")}
	return m.Run()
}

// ResetAfter empties the emulator when the test ends, so that each test's
// checks through the EC2 API see only what that test made.
func (b *Bed) ResetAfter(t testing.TB) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.Reset(ctx); err != nil {
			t.Errorf("resetting the emulator: %v", err)
		}
	})
}
