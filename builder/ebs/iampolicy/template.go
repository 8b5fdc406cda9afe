package iampolicy

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/packer-bakery/packer-plugin-bakery/builder/ebs"
)

// Source is one `source "bakery-ebs" "NAME"` block of a template, decoded
// and prepared as the builder would prepare it.
type Source struct {
	Name   string
	Config *ebs.Config
}

// TemplateOptions are what `packer build` would be given besides the
// template: -var, -var-file and the environment (PKR_VAR_*).
type TemplateOptions struct {
	Vars     map[string]string // -var name=value
	VarFiles []string          // -var-file, in order
	Environ  []string          // os.Environ() or a test's
}

// ReadTemplate reads an HCL2 template (a .pkr.hcl file, or a folder of them
// with its *.auto.pkrvars.hcl) and returns its bakery-ebs sources, each
// decoded with the builder's own HCL2 spec and prepared with the builder's
// own Config.Prepare. Variables get their values as in packer; a variable,
// local or function whose value is not known without running the build
// (no value given, timestamp(), a secret lookup) stays unknown, and the
// policy then names every resource its option could name.
func ReadTemplate(path string, opts TemplateOptions) ([]Source, error) {
	t, err := loadTemplate(path, opts)
	if err != nil {
		return nil, err
	}
	if len(t.sources) == 0 {
		return nil, fmt.Errorf("%s has no `source \"bakery-ebs\"` block", path)
	}
	spec := (&ebs.Builder{}).ConfigSpec()
	var out []Source
	for _, b := range t.sources {
		// `dynamic` blocks expand as packer expands them (an unknown
		// for_each gives an unknown block).
		val, diags := hcldec.Decode(dynblock.Expand(b.Body, t.ctx), spec, t.ctx)
		if diags.HasErrors() {
			return nil, fmt.Errorf("source.bakery-ebs.%s: %w", b.Labels[1], diags)
		}
		cfg := new(ebs.Config)
		if _, err := cfg.Prepare(placeholders(val)); err != nil {
			return nil, fmt.Errorf("source.bakery-ebs.%s: %w", b.Labels[1], err)
		}
		out = append(out, Source{Name: b.Labels[1], Config: cfg})
	}
	return out, nil
}

// loaded is a template read and its variables and locals evaluated.
type loaded struct {
	ctx     *hcl.EvalContext
	sources []*hcl.Block // source "bakery-ebs" blocks
	builds  []*hcl.Block
}

func loadTemplate(path string, opts TemplateOptions) (*loaded, error) {
	files, autoVars, err := templateFiles(path)
	if err != nil {
		return nil, err
	}
	parser := hclparse.NewParser()
	var bodies []hcl.Body
	for _, f := range files {
		file, diags := parser.ParseHCLFile(f)
		if diags.HasErrors() {
			return nil, diags
		}
		bodies = append(bodies, file.Body)
	}
	var varDecls []*hcl.Block
	var localsBlocks []*hcl.Block
	t := &loaded{}
	for _, body := range bodies {
		content, _, diags := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
			{Type: "variable", LabelNames: []string{"name"}},
			{Type: "locals"},
			{Type: "source", LabelNames: []string{"type", "name"}},
			{Type: "build"},
		}})
		if diags.HasErrors() {
			return nil, diags
		}
		for _, b := range content.Blocks {
			switch b.Type {
			case "variable":
				varDecls = append(varDecls, b)
			case "locals":
				localsBlocks = append(localsBlocks, b)
			case "source":
				if b.Labels[0] == "bakery-ebs" {
					t.sources = append(t.sources, b)
				}
			case "build":
				t.builds = append(t.builds, b)
			}
		}
	}
	vars, err := variableValues(parser, varDecls, append(autoVars, opts.VarFiles...), opts)
	if err != nil {
		return nil, err
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}, Functions: functions()}
	ctx.Variables["local"] = cty.ObjectVal(localValues(localsBlocks, ctx))
	// What only the running build knows.
	ctx.Variables["path"] = cty.ObjectVal(map[string]cty.Value{"root": cty.StringVal(filepath.Dir(files[0])), "cwd": cty.StringVal(".")})
	ctx.Variables["packer"] = cty.DynamicVal
	ctx.Variables["data"] = cty.DynamicVal
	ctx.Variables["source"] = cty.DynamicVal
	ctx.Variables["build"] = cty.DynamicVal
	t.ctx = ctx
	return t, nil
}

// templateFiles lists the template's .pkr.hcl files and, for a folder, its
// auto-loaded variable files, as packer does.
func templateFiles(path string) (files, autoVars []string, err error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil, nil
	}
	files, _ = filepath.Glob(filepath.Join(path, "*.pkr.hcl"))
	autoVars, _ = filepath.Glob(filepath.Join(path, "*.auto.pkrvars.hcl"))
	sort.Strings(files)
	sort.Strings(autoVars)
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("%s holds no *.pkr.hcl file (JSON templates: run `packer hcl2_upgrade` first)", path)
	}
	return files, autoVars, nil
}

// variableValues gives each declared variable its value with packer's
// precedence: default, PKR_VAR_name, variable files in order, -var.
func variableValues(parser *hclparse.Parser, decls []*hcl.Block, varFiles []string, opts TemplateOptions) (map[string]cty.Value, error) {
	vals := map[string]cty.Value{}
	types := map[string]cty.Type{}
	for _, d := range decls {
		name := d.Labels[0]
		attrs, diags := d.Body.JustAttributes()
		if diags.HasErrors() {
			// Blocks such as `validation` inside: only the attributes matter.
			content, _, _ := d.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "default"}, {Name: "type"}}})
			attrs = content.Attributes
		}
		types[name] = cty.DynamicPseudoType
		if t, ok := attrs["type"]; ok {
			if ty, diags := typeexpr.TypeConstraint(t.Expr); !diags.HasErrors() {
				types[name] = ty
			}
		}
		vals[name] = cty.DynamicVal // no value: known only to the build
		if def, ok := attrs["default"]; ok {
			v, diags := def.Expr.Value(&hcl.EvalContext{Functions: functions()})
			if !diags.HasErrors() {
				vals[name] = v
			}
		}
	}
	set := func(name string, v cty.Value) error {
		if _, ok := vals[name]; !ok {
			return fmt.Errorf("variable %q is given a value but not declared in the template", name)
		}
		vals[name] = v
		return nil
	}
	fromString := func(name, s string) (cty.Value, error) {
		if t := types[name]; t == cty.String || t == cty.DynamicPseudoType {
			return cty.StringVal(s), nil
		}
		expr, diags := hclparseExpr(s)
		if diags.HasErrors() {
			return cty.NilVal, fmt.Errorf("variable %q: %w", name, diags)
		}
		v, diags := expr.Value(nil)
		if diags.HasErrors() {
			return cty.NilVal, fmt.Errorf("variable %q: %w", name, diags)
		}
		return v, nil
	}
	for _, kv := range opts.Environ {
		k, v, _ := strings.Cut(kv, "=")
		name, ok := strings.CutPrefix(k, "PKR_VAR_")
		if !ok {
			continue
		}
		if _, declared := vals[name]; !declared {
			continue // packer ignores undeclared PKR_VAR_s too
		}
		val, err := fromString(name, v)
		if err != nil {
			return nil, err
		}
		vals[name] = val
	}
	for _, f := range varFiles {
		file, diags := parser.ParseHCLFile(f)
		if diags.HasErrors() {
			return nil, diags
		}
		attrs, diags := file.Body.JustAttributes()
		if diags.HasErrors() {
			return nil, diags
		}
		for name, a := range attrs {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				return nil, diags
			}
			if err := set(name, v); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
		}
	}
	names := make([]string, 0, len(opts.Vars))
	for name := range opts.Vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := vals[name]; !ok {
			return nil, fmt.Errorf("-var %s: no variable %q is declared in the template", name, name)
		}
		v, err := fromString(name, opts.Vars[name])
		if err != nil {
			return nil, err
		}
		vals[name] = v
	}
	return vals, nil
}

func hclparseExpr(s string) (hcl.Expression, hcl.Diagnostics) {
	return hclsyntax.ParseExpression([]byte(s), "-var", hcl.InitialPos)
}

// localValues evaluates locals in rounds, so that a local may use another;
// one that cannot be evaluated stays unknown.
func localValues(blocks []*hcl.Block, ctx *hcl.EvalContext) map[string]cty.Value {
	pending := map[string]hcl.Expression{}
	for _, b := range blocks {
		attrs, _ := b.Body.JustAttributes()
		for name, a := range attrs {
			pending[name] = a.Expr
		}
	}
	vals := map[string]cty.Value{}
	for name := range pending {
		vals[name] = cty.DynamicVal
	}
	for progress := true; progress && len(pending) > 0; {
		progress = false
		inner := &hcl.EvalContext{Variables: map[string]cty.Value{"var": ctx.Variables["var"], "local": cty.ObjectVal(vals)}, Functions: ctx.Functions}
		for name, expr := range pending {
			v, diags := expr.Value(inner)
			if diags.HasErrors() || !v.IsWhollyKnown() {
				continue
			}
			vals[name] = v
			delete(pending, name)
			progress = true
		}
	}
	return vals
}

// placeholders replaces what is unknown with what packer hands a plugin for
// it during `packer validate`: the SDK's unknown marker for strings (which
// Prepare does not validate), nothing for the rest.
func placeholders(v cty.Value) cty.Value {
	out, _ := cty.Transform(v, func(_ cty.Path, v cty.Value) (cty.Value, error) {
		if v.IsKnown() {
			return v, nil
		}
		if v.Type() == cty.String {
			return cty.StringVal(hcl2helper.UnknownVariableValue), nil
		}
		return cty.NullVal(v.Type()), nil
	})
	return out
}

// functions are packer's HCL2 functions: the go-cty standard ones, and, for
// those whose value only the running build knows (the time, files, secret
// stores), an unknown value.
func functions() map[string]function.Function {
	fns := map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "chomp": stdlib.ChompFunc, "chunklist": stdlib.ChunklistFunc,
		"coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc, "compact": stdlib.CompactFunc,
		"concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc, "csvdecode": stdlib.CSVDecodeFunc,
		"distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc, "floor": stdlib.FloorFunc,
		"format": stdlib.FormatFunc, "formatdate": stdlib.FormatDateFunc, "formatlist": stdlib.FormatListFunc,
		"indent": stdlib.IndentFunc, "index": stdlib.IndexFunc, "join": stdlib.JoinFunc, "jsondecode": stdlib.JSONDecodeFunc,
		"jsonencode": stdlib.JSONEncodeFunc, "keys": stdlib.KeysFunc, "length": stdlib.LengthFunc, "log": stdlib.LogFunc,
		"lookup": stdlib.LookupFunc, "lower": stdlib.LowerFunc, "max": stdlib.MaxFunc, "merge": stdlib.MergeFunc,
		"min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc, "pow": stdlib.PowFunc, "range": stdlib.RangeFunc,
		"regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc, "regex_replace": stdlib.RegexReplaceFunc,
		"replace": stdlib.ReplaceFunc, "reverse": stdlib.ReverseListFunc, "setintersection": stdlib.SetIntersectionFunc,
		"setproduct": stdlib.SetProductFunc, "setunion": stdlib.SetUnionFunc, "signum": stdlib.SignumFunc,
		"slice": stdlib.SliceFunc, "sort": stdlib.SortFunc, "split": stdlib.SplitFunc, "strrev": stdlib.ReverseFunc,
		"substr": stdlib.SubstrFunc, "timeadd": stdlib.TimeAddFunc, "title": stdlib.TitleFunc, "trim": stdlib.TrimFunc,
		"trimprefix": stdlib.TrimPrefixFunc, "trimsuffix": stdlib.TrimSuffixFunc, "trimspace": stdlib.TrimSpaceFunc,
		"upper": stdlib.UpperFunc, "values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		"try": tryfunc.TryFunc, "can": tryfunc.CanFunc,
	}
	unknown := function.New(&function.Spec{
		VarParam: &function.Parameter{Name: "args", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowNull: true, AllowDynamicType: true},
		Type:     function.StaticReturnType(cty.DynamicPseudoType),
		Impl:     func([]cty.Value, cty.Type) (cty.Value, error) { return cty.DynamicVal, nil },
	})
	for _, name := range []string{"timestamp", "uuidv4", "uuidv5", "file", "fileexists", "fileset", "templatefile", "env",
		"abspath", "basename", "dirname", "pathexpand", "aws_secretsmanager", "aws_secretsmanager_raw", "vault", "consul_key",
		"bcrypt", "md5", "sha1", "sha256", "sha512", "base64decode", "base64encode", "textencodebase64", "textdecodebase64",
		"yamldecode", "yamlencode", "legacy_isotime", "legacy_strftime", "rsadecrypt", "cidrhost", "cidrnetmask", "cidrsubnet",
		"cidrsubnets", "urlencode", "convert", "tostring", "tonumber", "tobool", "tolist", "toset", "tomap", "alltrue", "anytrue",
		"sum", "one", "startswith", "endswith", "strcontains", "sensitive", "nonsensitive", "index"} {
		if _, ok := fns[name]; !ok {
			fns[name] = unknown
		}
	}
	return fns
}
