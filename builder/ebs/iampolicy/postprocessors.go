package iampolicy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/post-processor/retire"
	"github.com/packer-bakery/packer-plugin-bakery/post-processor/ssmparameter"
)

// PostProcessor is one of this plugin's post-processor blocks of a build,
// with the permissions its options need and the bakery-ebs sources whose
// artifacts it gets.
type PostProcessor struct {
	Type    string   // "bakery-ssm-parameter"
	Sources []string // source names (source.bakery-ebs.NAME)
	Grants  []bakery.Grant
}

// postProcessorTypes are the plugin's post-processors: each prepares its
// block as packer would and declares its grants.
var postProcessorTypes = map[string]func(cty.Value) ([]bakery.Grant, error){
	"bakery-ssm-parameter": func(v cty.Value) ([]bakery.Grant, error) {
		var c ssmparameter.Config
		if err := c.Prepare(v); err != nil {
			return nil, err
		}
		return c.Grants(), nil
	},
	"bakery-retire": func(v cty.Value) ([]bakery.Grant, error) {
		var c retire.Config
		if err := c.Prepare(v); err != nil {
			return nil, err
		}
		return c.Grants(), nil
	},
}

var postProcessorSpecs = map[string]hcldec.Spec{
	"bakery-ssm-parameter": (&ssmparameter.PostProcessor{}).ConfigSpec(),
	"bakery-retire":        (&retire.PostProcessor{}).ConfigSpec(),
}

// ReadPostProcessors returns the template's bakery-ssm-parameter and
// bakery-retire blocks (alone or in `post-processors` chains), prepared as
// packer would prepare them, with the bakery-ebs sources of their build.
func ReadPostProcessors(path string, opts TemplateOptions) ([]PostProcessor, error) {
	t, err := loadTemplate(path, opts)
	if err != nil {
		return nil, err
	}
	var out []PostProcessor
	for _, build := range t.builds {
		content, _, diags := build.Body.PartialContent(&hcl.BodySchema{
			Attributes: []hcl.AttributeSchema{{Name: "sources"}},
			Blocks: []hcl.BlockHeaderSchema{
				{Type: "source", LabelNames: []string{"ref"}},
				{Type: "post-processor", LabelNames: []string{"type"}},
				{Type: "post-processors"},
			},
		})
		if diags.HasErrors() {
			return nil, diags
		}
		sources := buildSources(content, t.ctx)
		var blocks []*hcl.Block
		for _, b := range content.Blocks {
			switch b.Type {
			case "post-processor":
				blocks = append(blocks, b)
			case "post-processors":
				chain, _, diags := b.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "post-processor", LabelNames: []string{"type"}}}})
				if diags.HasErrors() {
					return nil, diags
				}
				blocks = append(blocks, chain.Blocks...)
			}
		}
		for _, b := range blocks {
			spec, ok := postProcessorSpecs[b.Labels[0]]
			if !ok {
				continue
			}
			// PartialDecode: packer's own arguments (name, only, except,
			// keep_input_artifact) are not the post-processor's.
			val, rest, diags := hcldec.PartialDecode(b.Body, spec, t.ctx)
			if diags.HasErrors() {
				return nil, fmt.Errorf("post-processor %q: %w", b.Labels[0], diags)
			}
			grants, err := postProcessorTypes[b.Labels[0]](placeholders(val))
			if err != nil {
				return nil, fmt.Errorf("post-processor %q: %w", b.Labels[0], err)
			}
			out = append(out, PostProcessor{Type: b.Labels[0], Sources: applies(sources, rest, t.ctx), Grants: grants})
		}
	}
	return out, nil
}

// buildSources are the bakery-ebs source names a build block uses, from
// `sources = [...]` and `source "source.bakery-ebs.NAME" {}` blocks.
func buildSources(content *hcl.BodyContent, ctx *hcl.EvalContext) []string {
	var refs []string
	if a, ok := content.Attributes["sources"]; ok {
		// source.TYPE.NAME references are traversals, not values.
		if exprs, diags := hcl.ExprList(a.Expr); !diags.HasErrors() {
			for _, e := range exprs {
				if tr, diags := hcl.AbsTraversalForExpr(e); !diags.HasErrors() {
					refs = append(refs, traversalString(tr))
				} else if v, diags := e.Value(ctx); !diags.HasErrors() && v.Type() == cty.String && v.IsKnown() {
					refs = append(refs, v.AsString())
				}
			}
		}
	}
	for _, b := range content.Blocks {
		if b.Type == "source" {
			refs = append(refs, b.Labels[0])
		}
	}
	var names []string
	for _, r := range refs {
		if name, ok := strings.CutPrefix(r, "source.bakery-ebs."); ok && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

func traversalString(tr hcl.Traversal) string {
	var parts []string
	for _, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			parts = append(parts, s.Name)
		case hcl.TraverseAttr:
			parts = append(parts, s.Name)
		}
	}
	return strings.Join(parts, ".")
}

// applies narrows sources by the post-processor's `only` and `except`
// (names such as "bakery-ebs.app").
func applies(sources []string, rest hcl.Body, ctx *hcl.EvalContext) []string {
	content, _, _ := rest.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "only"}, {Name: "except"}}})
	list := func(name string) ([]string, bool) {
		a, ok := content.Attributes[name]
		if !ok {
			return nil, false
		}
		v, diags := a.Expr.Value(ctx)
		if diags.HasErrors() || !v.IsWhollyKnown() || !v.CanIterateElements() {
			return nil, false
		}
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.Type() == cty.String {
				out = append(out, strings.TrimPrefix(e.AsString(), "bakery-ebs."))
			}
		}
		return out, true
	}
	out := slices.Clone(sources)
	if only, ok := list("only"); ok {
		out = slices.DeleteFunc(out, func(s string) bool { return !slices.Contains(only, s) })
	}
	if except, ok := list("except"); ok {
		out = slices.DeleteFunc(out, func(s string) bool { return slices.Contains(except, s) })
	}
	return out
}

// PostProcessorPolicy is the policy of the post-processors: each grant in
// the regions of the sources whose AMIs it gets (the build region and
// `ami_regions`), or in its own `regions`.
func PostProcessorPolicy(pps []PostProcessor, sources []Source, account string, fallbackRegions ...string) Policy {
	if account == "" {
		account = "*"
	}
	byName := map[string]Source{}
	for _, s := range sources {
		byName[s.Name] = s
	}
	var stmts []Statement
	for _, pp := range pps {
		var regions []string
		add := func(r string) {
			if !slices.Contains(regions, r) {
				regions = append(regions, r)
			}
		}
		matched := 0
		for _, name := range pp.Sources {
			s, ok := byName[name]
			if !ok {
				continue
			}
			matched++
			r := s.Config.RawRegion
			for _, f := range fallbackRegions {
				if r == "" || !bakery.Known(r) {
					r = f
				}
			}
			if r == "" || !bakery.Known(r) {
				r = "*"
			}
			add(r)
			for _, c := range s.Config.AMIRegions {
				if bakery.Known(c) {
					add(c)
				} else {
					add("*")
				}
			}
		}
		if len(pp.Sources) > 0 && matched == 0 {
			continue // its sources are left out (-only)
		}
		if len(regions) == 0 || slices.Contains(regions, "*") {
			regions = []string{"*"}
		}
		for _, g := range pp.Grants {
			stmts = append(stmts, grantStatement(g, regions, account))
		}
	}
	return Policy{Version: "2012-10-17", Statement: merge(stmts)}
}

// grantStatement writes one grant as a statement in regions.
func grantStatement(g bakery.Grant, regions []string, account string) Statement {
	if len(g.Regions) > 0 {
		regions = g.Regions
	}
	if g.Account != "" {
		account = g.Account
	}
	partition := NewScope(account, regions...).Partition
	st := Statement{Sid: g.Sid, Action: slices.Clone(g.Actions)}
	cond := Conditions{}
	for _, res := range g.Resources {
		switch {
		case strings.HasPrefix(res, "arn:"):
			st.Resource = append(st.Resource, res)
		case res == "*":
			st.Resource = append(st.Resource, "*")
			if !slices.Contains(regions, "*") {
				cond["StringEquals"] = map[string][]string{"aws:RequestedRegion": slices.Clone(regions)}
			}
		default:
			acct := account
			if g.Service == "ec2" && (strings.HasPrefix(res, "image/") || strings.HasPrefix(res, "snapshot/")) {
				acct = "" // images and snapshots have no account in their ARN
			}
			for _, r := range regions {
				st.Resource = append(st.Resource, fmt.Sprintf("arn:%s:%s:%s:%s:%s", partition, g.Service, r, acct, res))
			}
		}
	}
	for k, v := range g.ResourceTags {
		if cond["StringEquals"] == nil {
			cond["StringEquals"] = map[string][]string{}
		}
		cond["StringEquals"]["aws:ResourceTag/"+k] = []string{v}
	}
	if len(cond) > 0 {
		st.Condition = cond
	}
	return st
}
