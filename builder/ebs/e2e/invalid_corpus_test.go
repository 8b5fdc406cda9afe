package e2e_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hcldec"

	"github.com/packer-bakery/packer-plugin-bakery/builder/ebs"
	"github.com/packer-bakery/packer-plugin-bakery/datasource/ami"
	"github.com/packer-bakery/packer-plugin-bakery/provisioner/ansible"
)

// The bad-input corpus lives in testdata/invalid/<case>/template.pkr.hcl.
// Each template opens with one or more `# want: <text>` lines: text that
// `packer validate` must print for it. e2e_invalid_test.go runs the corpus
// through the real packer; the tests here keep the corpus itself honest and
// need no test-bed.

const (
	invalidCorpus   = "testdata/invalid"
	minInvalidCases = 40
	wantPrefix      = "# want: "
)

type invalidCase struct {
	name string
	dir  string // relative to this package's folder
	want []string
}

// invalidCases reads the corpus; a template without a `# want:` line is an
// error, so that a case cannot silently assert nothing.
func invalidCases(t *testing.T) []invalidCase {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(invalidCorpus, "*", "template.pkr.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []invalidCase
	for _, path := range dirs {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		lines := bufio.NewScanner(f)
		for lines.Scan() {
			w, ok := strings.CutPrefix(lines.Text(), wantPrefix)
			if !ok {
				break
			}
			if w = strings.TrimSpace(w); w != "" {
				want = append(want, w)
			}
		}
		f.Close()
		if err := lines.Err(); err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			t.Errorf("%s does not open with a %q line", path, wantPrefix)
			continue
		}
		dir := filepath.Dir(path)
		cases = append(cases, invalidCase{name: filepath.Base(dir), dir: dir, want: want})
	}
	return cases
}

func TestInvalidCorpusIsLargeAndNamesOptions(t *testing.T) {
	cases := invalidCases(t)
	if len(cases) < minInvalidCases {
		t.Fatalf("%d cases in %s, want at least %d", len(cases), invalidCorpus, minInvalidCases)
	}
	options := pluginOptions()
	for _, tc := range cases {
		named := false
		for _, w := range tc.want {
			named = named || namesOption(w, options)
		}
		if !named {
			t.Errorf("%s: no `# want:` line names an option of bakery-ebs, bakery-ami or bakery-ansible: %q", tc.name, tc.want)
		}
	}
}

// pluginOptions is every HCL key the plugin's components accept, nested
// blocks included, taken from their generated specs.
func pluginOptions() map[string]bool {
	keys := map[string]bool{}
	var walk func(hcldec.ObjectSpec)
	walk = func(spec hcldec.ObjectSpec) {
		for key, s := range spec {
			keys[key] = true
			if b, ok := s.(*hcldec.BlockSpec); ok {
				if nested, ok := b.Nested.(hcldec.ObjectSpec); ok {
					walk(nested)
				}
			}
		}
	}
	walk((&ebs.Config{}).FlatMapstructure().HCL2Spec())
	walk((&ami.Config{}).FlatMapstructure().HCL2Spec())
	walk((&ansible.Config{}).FlatMapstructure().HCL2Spec())
	return keys
}

var optionToken = regexp.MustCompile("(^|[^A-Za-z0-9_.-])([`\"']?)([a-z][a-z0-9_]*)")

// namesOption is true when text mentions an option: a snake_case key as
// is, or a one-word key such as `owners` or "region" only when quoted, so
// that the English word alone does not count.
func namesOption(text string, options map[string]bool) bool {
	for _, m := range optionToken.FindAllStringSubmatch(text, -1) {
		quote, word := m[2], m[3]
		if options[word] && (strings.Contains(word, "_") || quote != "") {
			return true
		}
	}
	return false
}

func TestNamesOption(t *testing.T) {
	options := map[string]bool{"ami_name": true, "owners": true, "region": true}
	for text, want := range map[string]bool{
		"`ami_name` is required":                  true,
		"ssh_username must be specified":          false, // not a key of the map above
		"ami_name must be set":                    true,
		"needs `owners`: without it":              true,
		`Inappropriate value for "region"`:        true,
		"the owners of the AMI":                   false,
		"in the region us-east-1":                 false,
		`Did you mean "ami_name"?`:                true,
		`An argument named "ami_nmae" is unknown`: false,
	} {
		if got := namesOption(text, options); got != want {
			t.Errorf("namesOption(%q) = %v, want %v", text, got, want)
		}
	}
}
