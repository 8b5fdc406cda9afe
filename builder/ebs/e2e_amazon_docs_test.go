//go:build e2e

package ebs_test

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestE2EAmazonEBSDocsTemplatesValidate runs the real `packer validate` on
// templates written in the shapes amazon-ebs's documentation shows, with
// the type renamed: a user migrating one of them must get a template that
// validates. Those waiting for options that other branches add live in
// amazon-ebs-docs-pending; each that starts to validate is reported, to be
// moved.
func TestE2EAmazonEBSDocsTemplatesValidate(t *testing.T) {
	templates, err := filepath.Glob("testdata/amazon-ebs-docs/*.pkr.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(templates) < 8 {
		t.Fatalf("%d templates in testdata/amazon-ebs-docs, want at least 8", len(templates))
	}
	if out, err := runPacker(t, "fmt", "-check", "-diff", "-recursive", "testdata/amazon-ebs-docs", "testdata/amazon-ebs-docs-pending"); err != nil {
		t.Errorf("packer fmt -check: %v\n%s", err, out)
	}
	for _, path := range templates {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			if out, err := runPacker(t, "validate", path); err != nil {
				t.Errorf("packer validate %s: %v\n%s", path, err, out)
			}
		})
	}

	pending, err := filepath.Glob("testdata/amazon-ebs-docs-pending/*.pkr.hcl")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range pending {
		t.Run("pending/"+filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			out, err := runPacker(t, "validate", path)
			if err == nil {
				t.Errorf("%s validates now: move it to testdata/amazon-ebs-docs", path)
				return
			}
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("packer validate did not run: %v\n%s", err, out)
			}
			t.Logf("still waiting for options in progress:\n%s", out)
		})
	}
}
