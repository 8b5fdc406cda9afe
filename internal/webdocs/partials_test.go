package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The option reference is generated from the config structs' comments
// (packer-sdc struct-markdown). A field without a doc comment still gets a
// line: with an empty description, or with its Go name split into words
// ("Http Tokens") — which reads like a description and says nothing.
const partialsDir = "../../docs-partials"

var optionItem = regexp.MustCompile("^- `([^`]+)` \\(([^)]*)\\) -(.*)$")

type undocumented struct{ file, option, why string }

// undocumentedOptions lists the options of one generated partial whose
// description is empty or only repeats the option's name.
func undocumentedOptions(file, content string) []undocumented {
	var found []undocumented
	lines := strings.Split(content, "\n")
	for i := 0; i < len(lines); i++ {
		m := optionItem.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		desc := []string{strings.TrimSpace(m[3])}
		// The description continues on lines indented by two spaces.
		for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "  ") {
			i++
			desc = append(desc, strings.TrimSpace(lines[i]))
		}
		text := strings.TrimSpace(strings.Join(desc, " "))
		switch {
		case text == "":
			found = append(found, undocumented{file, m[1], "has no description"})
		case letters(text) == letters(m[1]):
			found = append(found, undocumented{file, m[1], "only repeats its name: " + text})
		}
	}
	return found
}

func letters(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, s)
}

func TestGeneratedDocsHaveNoOptionWithoutADescription(t *testing.T) {
	options := 0
	err := filepath.WalkDir(partialsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".mdx") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if optionItem.MatchString(line) {
				options++
			}
		}
		rel, _ := filepath.Rel(partialsDir, p)
		for _, u := range undocumentedOptions(rel, string(b)) {
			t.Errorf("docs-partials/%s: option `%s` %s; give its struct field a doc comment (default, meaning, how it differs from amazon-ebs) and run make generate", u.file, u.option, u.why)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Guards the scan itself: a changed partial format would otherwise
	// match nothing and pass.
	if options < 100 {
		t.Fatalf("found %d options in %s; the partials' format changed or the folder moved", options, partialsDir)
	}
}

func TestUndocumentedOptionsAreFound(t *testing.T) {
	partial := "<!-- Code generated ... -->\n\n" +
		"- `region` (string) - The region to bake in.\n  Defaults to the profile's.\n\n" +
		"- `http_tokens` (string) - Http Tokens\n\n" +
		"- `spot_price` (string) - \n\n" +
		"- `iops` (\\*int32) - IOPS\n\n" +
		"- `tags` (map[string]string) - \n  Tags of the AMI.\n\n" +
		"<!-- End of code generated ... -->\n"
	got := map[string]string{}
	for _, u := range undocumentedOptions("x.mdx", partial) {
		got[u.option] = u.why
	}
	want := map[string]string{
		"http_tokens": "only repeats its name: Http Tokens",
		"spot_price":  "has no description",
		"iops":        "only repeats its name: IOPS",
	}
	if len(got) != len(want) {
		t.Errorf("found %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("option %s: got %q, want %q", k, got[k], v)
		}
	}
}

// TestEveryOptionPartialIsOnAPage: an option whose partial no page
// includes is missing from the docs as surely as one without a comment.
func TestEveryOptionPartialIsOnAPage(t *testing.T) {
	included := map[string]bool{}
	include := regexp.MustCompile(`@include '([^']+)'`)
	err := filepath.WalkDir("../../docs", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range include.FindAllStringSubmatch(string(b), -1) {
			included[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	err = filepath.WalkDir(partialsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(partialsDir, p)
		rel = filepath.ToSlash(rel)
		// Struct headers (X.mdx without options) are optional prose.
		if !optionItem.MatchString(firstOption(string(b))) || included[rel] {
			return nil
		}
		missing = append(missing, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("no page in docs/ has @include '%s': its options are in no docs page", m)
	}
}

func firstOption(content string) string {
	for _, line := range strings.Split(content, "\n") {
		if strings.HasPrefix(line, "- `") {
			return line
		}
	}
	return ""
}
