//go:build e2e

package e2e_test

import (
	"path/filepath"
	"testing"
)

// TestE2EAmazonEBSDocsTemplatesValidate runs the real `packer validate` on
// templates written in the shapes amazon-ebs's documentation shows, with
// the type renamed: a user migrating one of them must get a template that
// validates.
func TestE2EAmazonEBSDocsTemplatesValidate(t *testing.T) {
	templates, err := filepath.Glob("testdata/amazon-ebs-docs/*.pkr.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(templates) < 8 {
		t.Fatalf("%d templates in testdata/amazon-ebs-docs, want at least 8", len(templates))
	}
	if out, err := runPacker(t, "fmt", "-check", "-diff", "-recursive", "testdata/amazon-ebs-docs"); err != nil {
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

}
