//go:build e2e

package e2e_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestE2EInvalidTemplatesAreRejectedOffline runs `packer validate` on every
// template of the bad-input corpus (invalid_corpus_test.go): each must fail,
// print the text of its `# want:` lines, and make no AWS call at all.
//
// The cases run in parallel, and the fault proxy's counts are global, so
// the calls are counted for the whole corpus: zero in total is zero for each
// case. Only when the total is not zero are the cases replayed one at a time
// to name the ones that called AWS. Top-level tests of this package do not
// run in parallel, so no bake adds calls meanwhile.
func TestE2EInvalidTemplatesAreRejectedOffline(t *testing.T) {
	cases := invalidCases(t)
	if len(cases) < minInvalidCases {
		t.Fatalf("%d cases in %s, want at least %d", len(cases), invalidCorpus, minInvalidCases)
	}
	if out, err := runPacker(t, "fmt", "-check", "-diff", "-recursive", invalidCorpus); err != nil {
		t.Errorf("packer fmt -check %s: %v\n%s", invalidCorpus, err, out)
	}

	proxy := suite.Bed.Faults()
	proxy.Reset()
	t.Run("validate", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				out, err := runPacker(t, "validate", tc.dir)
				if err == nil {
					t.Fatalf("packer validate accepted %s:\n%s", tc.dir, out)
				}
				if _, ok := err.(*exec.ExitError); !ok {
					t.Fatalf("packer validate did not run: %v\n%s", err, out)
				}
				// packer wraps long diagnostics at 78 columns.
				flat := strings.Join(strings.Fields(out), " ")
				for _, w := range tc.want {
					if !strings.Contains(flat, strings.Join(strings.Fields(w), " ")) {
						t.Errorf("the output does not say %q:\n%s", w, out)
					}
				}
			})
		}
	})
	if calls := proxy.Counts(); len(calls) != 0 {
		t.Errorf("packer validate made AWS calls for the corpus: %v", calls)
		for _, tc := range cases {
			proxy.Reset()
			_, _ = runPacker(t, "validate", tc.dir)
			if calls := proxy.Counts(); len(calls) != 0 {
				t.Errorf("%s: packer validate called AWS: %v", tc.name, calls)
			}
		}
	}
}

// TestE2EInvalidTemplatesCallCounterWorks is the control of the test above:
// the same packer, environment and proxy see the calls of a data source
// that validate is told to evaluate. Without it, a proxy that packer
// bypassed would make "zero calls" pass for nothing.
func TestE2EInvalidTemplatesCallCounterWorks(t *testing.T) {
	proxy := suite.Bed.Faults()
	proxy.Reset()
	if out, err := runPacker(t, "validate", "-evaluate-datasources", "testdata/datasource-lookup"); err != nil {
		t.Fatalf("packer validate -evaluate-datasources: %v\n%s", err, out)
	}
	if n := proxy.Count("ec2", "DescribeImages"); n == 0 {
		t.Errorf("the proxy counted no DescribeImages call for the data source; it counted %v", proxy.Counts())
	}
}

// runPacker runs packer in this package's folder against the test-bed and
// returns its combined output.
func runPacker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.Packer, args...)
	cmd.Env = suite.Bed.PackerEnv(suite.PluginPath, t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}
