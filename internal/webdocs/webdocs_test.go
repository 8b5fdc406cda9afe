package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testMetadata = `integration {
  name        = "Bakery"
  description = "Bakes AMIs."
  identifier  = "packer/packer-bakery/bakery"
  docs {
    process_docs = true
  }
  component {
    type = "builder"
    name = "Bakery EBS"
    slug = "ebs"
  }
  component {
    type = "data-source"
    name = "Bakery AMI"
    slug = "ami"
  }
}
`

// writeTree writes files (slash paths below dir) and returns dir.
func writeTree(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func renderedDocs(t *testing.T) string {
	return writeTree(t, t.TempDir(), map[string]string{
		"README.md": "# Bakery\n\n- [bakery-ebs](builders/ebs.mdx)\n- [guide](credentials.md#region)\n- [top](#installation)\n",
		"builders/ebs.mdx": "---\ndescription: >\n  Bakes.\npage_title: bakery-ebs - Builders\n---\n\n# bakery-ebs\n\nType: `bakery-ebs`\n\n" +
			"See [the data source](../datasources/ami.mdx#outputs), [credentials](../credentials.md) and [AWS](https://aws.amazon.com/).\n\n" +
			"```hcl\nx = \"[not a link](here.md)\"\n```\n",
		"datasources/ami.mdx":  "---\npage_title: bakery-ami\n---\n\n# bakery-ami\n\nFinds an AMI. Back to [the plugin](../README.md).\n",
		"credentials.md":       "# Credentials\n",
		"builders/notes.txt":   "not a page\n",
		"provisioners/x.md":    "a guide beside the pages, not a component\n",
		"datasources/sub/y.md": "ignored\n",
	})
}

func TestRunWritesTheRegistryLayout(t *testing.T) {
	out := writeTree(t, t.TempDir(), map[string]string{
		"metadata.hcl":                         testMetadata,
		"components/builder/gone/README.md":    "a component whose page was deleted\n",
		"components/data-source/ami/README.md": "stale\n",
		"scripts/kept.sh":                      "not ours\n",
	})
	if err := run(options{rendered: renderedDocs(t), out: out, repoURL: defaultRepoURL}); err != nil {
		t.Fatal(err)
	}

	ebs := readFile(t, filepath.Join(out, "components/builder/ebs/README.md"))
	if !strings.HasPrefix(ebs, "Type: `bakery-ebs`\n") {
		t.Errorf("the builder page should start at its first paragraph (no front matter, no H1):\n%s", ebs)
	}
	for _, want := range []string{
		"[the data source](/packer/integrations/packer-bakery/bakery/latest/components/data-source/ami#outputs)",
		"[credentials](https://github.com/packer-bakery/packer-plugin-bakery/blob/main/docs/credentials.md)",
		"[AWS](https://aws.amazon.com/)",
		"x = \"[not a link](here.md)\"", // code is left as written
	} {
		if !strings.Contains(ebs, want) {
			t.Errorf("builder page lacks %q:\n%s", want, ebs)
		}
	}
	ami := readFile(t, filepath.Join(out, "components/data-source/ami/README.md"))
	if want := "Finds an AMI. Back to [the plugin](/packer/integrations/packer-bakery/bakery).\n"; ami != want {
		t.Errorf("data source page = %q, want %q", ami, want)
	}
	readme := readFile(t, filepath.Join(out, "README.md"))
	for _, want := range []string{
		"# Bakery\n", // the integration page keeps its title
		"[bakery-ebs](/packer/integrations/packer-bakery/bakery/latest/components/builder/ebs)",
		"[guide](https://github.com/packer-bakery/packer-plugin-bakery/blob/main/docs/credentials.md#region)",
		"[top](#installation)",
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("README lacks %q:\n%s", want, readme)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "components/builder/gone")); !os.IsNotExist(err) {
		t.Errorf("a component page left from an earlier run is still there (stat: %v)", err)
	}
	if got := readFile(t, filepath.Join(out, "metadata.hcl")); got != testMetadata {
		t.Errorf("metadata.hcl was changed:\n%s", got)
	}
	if got := readFile(t, filepath.Join(out, "scripts/kept.sh")); got != "not ours\n" {
		t.Errorf("a file webdocs does not own was changed: %q", got)
	}
}

func TestRunRefuses(t *testing.T) {
	cases := []struct {
		name     string
		metadata string
		extra    map[string]string // more rendered files
		want     []string
	}{
		{
			name:     "page without metadata",
			metadata: testMetadata,
			extra:    map[string]string{"provisioners/ansible.mdx": "# bakery-ansible\n"},
			want:     []string{`docs/provisioners/ansible.mdx has no component block in metadata.hcl (type = "provisioner", slug = "ansible")`},
		},
		{
			name:     "metadata without page",
			metadata: strings.Replace(testMetadata, "}\n}\n", "}\n  component {\n    type = \"provisioner\"\n    name = \"Bakery Ansible\"\n    slug = \"ansible\"\n  }\n}\n", 1),
			want:     []string{"metadata.hcl lists component provisioner/ansible, but docs/ has no page for it"},
		},
		{
			name:     "wrong identifier and no description",
			metadata: strings.Replace(strings.Replace(testMetadata, "packer/packer-bakery/bakery", "packer/someone/bakery", 1), "Bakes AMIs.", " ", 1),
			want:     []string{`identifier is "packer/someone/bakery", want "packer/packer-bakery/bakery"`, "needs a name and a description"},
		},
		{
			name:     "missing attribute",
			metadata: strings.Replace(testMetadata, "    slug = \"ami\"\n", "", 1),
			want:     []string{`The argument "slug" is required`},
		},
		{
			name:     "include left",
			metadata: testMetadata,
			extra:    map[string]string{"builders/ebs.mdx": "# bakery-ebs\n\n@include 'builder/ebs/Gone.mdx'\n"},
			want:     []string{"components/builder/ebs/README.md: an @include was not rendered: @include 'builder/ebs/Gone.mdx'"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rendered := writeTree(t, renderedDocs(t), tc.extra)
			out := writeTree(t, t.TempDir(), map[string]string{"metadata.hcl": tc.metadata})
			err := run(options{rendered: rendered, out: out, repoURL: defaultRepoURL})
			if err == nil {
				t.Fatal("run succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if _, statErr := os.Stat(filepath.Join(out, "README.md")); !os.IsNotExist(statErr) {
				t.Errorf("a refused run wrote README.md (stat: %v)", statErr)
			}
		})
	}
}
