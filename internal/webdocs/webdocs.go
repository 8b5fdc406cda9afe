package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

const (
	defaultRepoURL = "https://github.com/packer-bakery/packer-plugin-bakery"
	// The registry's address of this integration; metadata.hcl's identifier
	// must be "packer/" + this.
	integrationPath = "packer-bakery/bakery"
)

// componentTypes maps the docs/ folder of a component's page to the
// registry's component type.
var componentTypes = map[string]string{
	"builders":        "builder",
	"provisioners":    "provisioner",
	"datasources":     "data-source",
	"post-processors": "post-processor",
}

type options struct {
	rendered string // renderdocs output of docs/
	out      string // .web-docs
	repoURL  string
}

// component is one page of docs/<kind>s/<slug>.mdx.
type component struct {
	typ, slug string
	src       string // path below the docs folder, slash-separated
}

func (c component) dir() string { return path.Join("components", c.typ, c.slug) }

// run writes README.md and components/ under opts.out from the rendered
// docs, replacing what an earlier run wrote, and checks that metadata.hcl
// lists exactly the components written.
func run(opts options) error {
	comps, err := findComponents(opts.rendered)
	if err != nil {
		return err
	}
	if len(comps) == 0 {
		return fmt.Errorf("no component pages (builders/*.mdx, provisioners/*.mdx, datasources/*.mdx) in %s", opts.rendered)
	}
	meta, err := readMetadata(filepath.Join(opts.out, "metadata.hcl"))
	if err != nil {
		return err
	}
	if err := meta.check(comps); err != nil {
		return err
	}

	lr := linkRewriter{repoURL: strings.TrimSuffix(opts.repoURL, "/"), components: comps}
	pages := map[string][]byte{} // path below opts.out → content
	readme, err := os.ReadFile(filepath.Join(opts.rendered, "README.md"))
	if err != nil {
		return fmt.Errorf("the integration page: %w", err)
	}
	pages["README.md"] = lr.rewrite(readme, "README.md")
	for _, c := range comps {
		src, err := os.ReadFile(filepath.Join(opts.rendered, filepath.FromSlash(c.src)))
		if err != nil {
			return err
		}
		pages[path.Join(c.dir(), "README.md")] = lr.rewrite(componentPage(src), c.src)
	}
	for name, content := range pages {
		if i := bytes.Index(content, []byte("@include '")); i >= 0 {
			return fmt.Errorf("%s: an @include was not rendered: %s", name, firstLine(content[i:]))
		}
	}

	// Only what this program owns is replaced: metadata.hcl and anything
	// else in the folder stay.
	if err := os.RemoveAll(filepath.Join(opts.out, "components")); err != nil {
		return err
	}
	names := make([]string, 0, len(pages))
	for name := range pages {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		dst := filepath.Join(opts.out, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, pages[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

func findComponents(rendered string) ([]component, error) {
	var comps []component
	for folder, typ := range componentTypes {
		entries, err := os.ReadDir(filepath.Join(rendered, folder))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".mdx") {
				continue
			}
			comps = append(comps, component{
				typ:  typ,
				slug: strings.TrimSuffix(e.Name(), ".mdx"),
				src:  folder + "/" + e.Name(),
			})
		}
	}
	sort.Slice(comps, func(i, j int) bool { return comps[i].dir() < comps[j].dir() })
	return comps, nil
}

// componentPage drops what the registry adds itself: the front matter
// (its title and description come from metadata.hcl) and the page's H1.
func componentPage(src []byte) []byte {
	text := string(src)
	if rest, ok := strings.CutPrefix(text, "---\n"); ok {
		if i := strings.Index(rest, "\n---\n"); i >= 0 {
			text = rest[i+len("\n---\n"):]
		}
	}
	text = strings.TrimLeft(text, "\n")
	if strings.HasPrefix(text, "# ") {
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			text = text[i+1:]
		} else {
			text = ""
		}
	}
	return []byte(strings.TrimLeft(text, "\n"))
}

// linkRewriter points the relative links of docs/ pages where they lead
// once the pages are on the registry: a component page to its registry
// page, docs/README.md to the integration, anything else (guides,
// examples) to the file on GitHub.
type linkRewriter struct {
	repoURL    string
	components []component
}

var (
	mdLink    = regexp.MustCompile(`\]\(([^()\s]+)\)`)
	urlScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

func (lr linkRewriter) rewrite(page []byte, srcPath string) []byte {
	lines := strings.SplitAfter(string(page), "\n")
	inFence := false
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		lines[i] = mdLink.ReplaceAllStringFunc(line, func(m string) string {
			target := m[2 : len(m)-1]
			return "](" + lr.target(target, srcPath) + ")"
		})
	}
	return []byte(strings.Join(lines, ""))
}

func (lr linkRewriter) target(target, srcPath string) string {
	if target == "" || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "/") || urlScheme.MatchString(target) {
		return target
	}
	file, anchor, _ := strings.Cut(target, "#")
	if anchor != "" {
		anchor = "#" + anchor
	}
	// Relative to the page's folder in docs/, then to the repository root.
	rel := path.Clean(path.Join("docs", path.Dir(srcPath), file))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return target
	}
	if rel == "docs/README.md" {
		return "/packer/integrations/" + integrationPath + anchor
	}
	for _, c := range lr.components {
		if rel == "docs/"+c.src {
			return "/packer/integrations/" + integrationPath + "/latest/" + c.dir() + anchor
		}
	}
	return lr.repoURL + "/blob/main/" + rel + anchor
}

// metadata is the part of metadata.hcl this program checks.
type metadata struct {
	name, description, identifier string
	components                    []metaComponent
}

type metaComponent struct{ typ, name, slug string }

var (
	integrationSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "integration"}}}
	// Other attributes and blocks (docs, license, flags) are the
	// registry's business; PartialContent leaves them alone.
	integrationBodySchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "name", Required: true}, {Name: "description", Required: true}, {Name: "identifier", Required: true}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "component"}},
	}
	componentSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "type", Required: true}, {Name: "name", Required: true}, {Name: "slug", Required: true}},
	}
)

func readMetadata(file string) (*metadata, error) {
	f, diags := hclparse.NewParser().ParseHCLFile(file)
	if diags.HasErrors() {
		return nil, fmt.Errorf("reading %s: %w", file, diags)
	}
	top, diags := f.Body.Content(integrationSchema)
	if diags.HasErrors() {
		return nil, fmt.Errorf("reading %s: %w", file, diags)
	}
	if len(top.Blocks) != 1 {
		return nil, fmt.Errorf("%s: want one integration block, found %d", file, len(top.Blocks))
	}
	body, _, diags := top.Blocks[0].Body.PartialContent(integrationBodySchema)
	if diags.HasErrors() {
		return nil, fmt.Errorf("reading %s: %w", file, diags)
	}
	var m metadata
	var errs []error
	str := func(attrs hcl.Attributes, name string) string {
		v, diags := attrs[name].Expr.Value(nil)
		if diags.HasErrors() || v.Type() != cty.String || v.IsNull() {
			errs = append(errs, fmt.Errorf("%s: %s must be a literal string", file, name))
			return ""
		}
		return v.AsString()
	}
	m.name, m.description, m.identifier = str(body.Attributes, "name"), str(body.Attributes, "description"), str(body.Attributes, "identifier")
	for _, b := range body.Blocks {
		c, diags := b.Body.Content(componentSchema)
		if diags.HasErrors() {
			errs = append(errs, fmt.Errorf("reading %s: %w", file, diags))
			continue
		}
		m.components = append(m.components, metaComponent{typ: str(c.Attributes, "type"), name: str(c.Attributes, "name"), slug: str(c.Attributes, "slug")})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &m, nil
}

// check says every way metadata.hcl and the component pages disagree.
func (m *metadata) check(comps []component) error {
	var errs []error
	if want := "packer/" + integrationPath; m.identifier != want {
		errs = append(errs, fmt.Errorf("metadata.hcl: identifier is %q, want %q", m.identifier, want))
	}
	if strings.TrimSpace(m.name) == "" || strings.TrimSpace(m.description) == "" {
		errs = append(errs, errors.New("metadata.hcl: the integration needs a name and a description"))
	}
	listed := map[string]bool{}
	for _, c := range m.components {
		key := path.Join("components", c.typ, c.slug)
		if listed[key] {
			errs = append(errs, fmt.Errorf("metadata.hcl: component %s/%s is listed twice", c.typ, c.slug))
		}
		listed[key] = true
		if strings.TrimSpace(c.name) == "" {
			errs = append(errs, fmt.Errorf("metadata.hcl: component %s/%s has no name", c.typ, c.slug))
		}
		if !slices.ContainsFunc(comps, func(p component) bool { return p.dir() == key }) {
			errs = append(errs, fmt.Errorf("metadata.hcl lists component %s/%s, but docs/ has no page for it", c.typ, c.slug))
		}
	}
	for _, c := range comps {
		if !listed[c.dir()] {
			errs = append(errs, fmt.Errorf("docs/%s has no component block in metadata.hcl (type = %q, slug = %q)", c.src, c.typ, c.slug))
		}
	}
	return errors.Join(errs...)
}

func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
