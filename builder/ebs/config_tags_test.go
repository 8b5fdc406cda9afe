package ebs

import (
	"maps"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
	"github.com/zclconf/go-cty/cty"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

func TestConfigPrepare_templates(t *testing.T) {
	allVars := "{{ .BuildRegion }} {{ .SourceAMI }} {{ .SourceAMIName }} {{ .SourceAMIOwner }} {{ .SourceAMIOwnerName }} {{ .SourceAMICreationDate }} {{ .SourceAMITags.Team }}"
	tests := []struct {
		name    string
		input   map[string]interface{}
		wantErr []string
		check   func(*testing.T, *Config)
	}{
		{
			name: "build variables in every tag option and ami_description stay unrendered until the build",
			input: validConfig(map[string]interface{}{
				"tags":            map[string]interface{}{"From": allVars, "{{ .BuildRegion }}-built": "yes"},
				"run_tags":        map[string]interface{}{"Source": "{{ .SourceAMI }}"},
				"snapshot_tags":   map[string]interface{}{"Team": "{{ .SourceAMITags.Team }}", "Name": `{{ index .SourceAMITags "aws:name" }}`},
				"ami_description": "from {{ .SourceAMIName | clean_resource_name }}",
			}),
			check: func(t *testing.T, c *Config) {
				if c.AMITags["From"] != allVars || c.AMITags["{{ .BuildRegion }}-built"] != "yes" {
					t.Errorf("tags = %v: rendered at Prepare", c.AMITags)
				}
				if c.RunTags["Source"] != "{{ .SourceAMI }}" || c.SnapshotTags["Team"] != "{{ .SourceAMITags.Team }}" {
					t.Errorf("run_tags %v, snapshot_tags %v: rendered at Prepare", c.RunTags, c.SnapshotTags)
				}
				if c.AMIDescription != "from {{ .SourceAMIName | clean_resource_name }}" {
					t.Errorf("ami_description = %q: rendered at Prepare", c.AMIDescription)
				}
			},
		},
		{
			name:  "ami_name: clean_resource_name cleans a timestamp at Prepare",
			input: validConfig(map[string]interface{}{"ami_name": "web {{ isotime | clean_resource_name }}"}),
			check: func(t *testing.T, c *Config) {
				if strings.ContainsAny(c.AMIName, ":+{") || !strings.HasPrefix(c.AMIName, "web 20") {
					t.Errorf("ami_name = %q, want the cleaned time", c.AMIName)
				}
			},
		},
		{
			name:  "packer functions in tags render at build time too",
			input: validConfig(map[string]interface{}{"tags": map[string]interface{}{"Built": "{{ timestamp }}", "Build": "{{ build_name }}"}, "packer_build_name": "web"}),
		},
		{
			name:  "a value packer validate does not know yet is not checked",
			input: validConfig(map[string]interface{}{"tags": map[string]interface{}{"Owner": hcl2helper.UnknownVariableValue}}),
		},
		{
			name:    "unknown variable in a run_tags value",
			input:   validConfig(map[string]interface{}{"run_tags": map[string]interface{}{"Source": "{{ .SourceAmi }}"}}),
			wantErr: []string{"`run_tags`: \"{{ .SourceAmi }}\" uses .SourceAmi, which is not a build variable: use .BuildRegion, .SourceAMI"},
		},
		{
			name:    "unknown variable in a tags key",
			input:   validConfig(map[string]interface{}{"tags": map[string]interface{}{"{{ .Region }}": "x"}}),
			wantErr: []string{"`tags`: \"{{ .Region }}\" uses .Region"},
		},
		{
			name:    "unknown variable in snapshot_tags",
			input:   validConfig(map[string]interface{}{"snapshot_tags": map[string]interface{}{"Owner": "{{ .SourceAMIOwnerAlias }}"}}),
			wantErr: []string{"`snapshot_tags`: \"{{ .SourceAMIOwnerAlias }}\" uses .SourceAMIOwnerAlias"},
		},
		{
			name:    "unknown variable in ami_description",
			input:   validConfig(map[string]interface{}{"ami_description": "from {{ .Source }}"}),
			wantErr: []string{"`ami_description`: \"from {{ .Source }}\" uses .Source"},
		},
		{
			name:    "every template problem at once",
			input:   validConfig(map[string]interface{}{"tags": map[string]interface{}{"A": "{{ .A }}"}, "run_tags": map[string]interface{}{"B": "{{ .B }}"}}),
			wantErr: []string{"uses .A,", "uses .B,"},
		},
		{
			name:    "broken template syntax names the option",
			input:   validConfig(map[string]interface{}{"snapshot_tags": map[string]interface{}{"Team": "{{ .SourceAMITags.Team "}}),
			wantErr: []string{"snapshot_tags"},
		},
		{
			name:    "unknown function names the option",
			input:   validConfig(map[string]interface{}{"run_tags": map[string]interface{}{"Team": "{{ .SourceAMIName | shout }}"}}),
			wantErr: []string{"run_tags", `function "shout" not defined`},
		},
		{
			name:    "a tag key with the aws: prefix",
			input:   validConfig(map[string]interface{}{"tags": map[string]interface{}{"AWS:Team": "x"}}),
			wantErr: []string{"`tags`: the tag key \"AWS:Team\" starts with aws:"},
		},
		{
			name:    "a run_tags key over 128 characters",
			input:   validConfig(map[string]interface{}{"run_tags": map[string]interface{}{strings.Repeat("k", 129): "x"}}),
			wantErr: []string{"`run_tags`: the tag key", "is longer than EC2's limit of 128 characters"},
		},
		{
			name:    "a snapshot_tags value over 256 characters",
			input:   validConfig(map[string]interface{}{"snapshot_tags": map[string]interface{}{"Notes": strings.Repeat("v", 257)}}),
			wantErr: []string{"`snapshot_tags`: the value of tag \"Notes\" has 257 characters, which is more than EC2's limit of 256"},
		},
		{
			name:  "128-character key and 256-character value",
			input: validConfig(map[string]interface{}{"tags": map[string]interface{}{strings.Repeat("k", 128): strings.Repeat("v", 256)}}),
		},
		{
			name:    "build variables in ami_name",
			input:   validConfig(map[string]interface{}{"ami_name": "web-{{ .SourceAMIName }}"}),
			wantErr: []string{"`ami_name` \"web-<no value>\": the build variables", "use them in `ami_description` or `tags`"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			_, err := c.Prepare(tt.input)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				if tt.check != nil {
					tt.check(t, &c)
				}
				return
			}
			if err == nil {
				t.Fatalf("Prepare succeeded, want errors %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestCleanResourceName(t *testing.T) {
	for in, want := range map[string]string{
		"AMZamz09()./-_:&^ $%[]#'@":     "AMZamz09()./-_--- --[]-'@",
		"web 2024-01-02T03:04:05Z":      "web 2024-01-02T03-04-05Z",
		"café":                          "caf--", // amazon-ebs: one "-" per byte
		"ü/€":                           "--/---",
		"already (fine) [1.0] o'k @x_y": "already (fine) [1.0] o'k @x_y",
	} {
		if got := cleanResourceName(in); got != want {
			t.Errorf("cleanResourceName(%q) = %q, want %q", in, got, want)
		}
		if got := cleanResourceName(in); !amiNamePattern.MatchString(got) && len(got) >= 3 {
			t.Errorf("cleanResourceName(%q) = %q, which ami_name still refuses", in, got)
		}
	}
}

// Legacy JSON templates use clean_resource_name under its pre-1.5 name,
// clean_ami_name, in ami_name and in build-time options: both work, and
// Prepare warns about the old name.
func TestConfigPrepare_cleanAMIName(t *testing.T) {
	var c Config
	warnings, err := c.Prepare(validConfig(map[string]interface{}{
		"ami_name": `web {{ isotime "2006-01-02T15:04" | clean_ami_name }}`,
		"tags":     map[string]interface{}{"Name": "{{ .SourceAMIName | clean_ami_name }}"},
	}))
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if strings.ContainsAny(c.AMIName, ":{") || !strings.HasPrefix(c.AMIName, "web 20") {
		t.Errorf("ami_name = %q, want the cleaned time", c.AMIName)
	}
	got, err := renderTemplate("tags", c.AMITags["Name"], &c.ctx, testInfo)
	if err != nil || got != "al2023- base" {
		t.Errorf("tags rendered %q, %v; want %q", got, err, "al2023- base")
	}
	want := "`clean_ami_name` is deprecated: it is `clean_resource_name` under its old name (`packer fix` renames it)"
	if len(warnings) != 1 || warnings[0] != want {
		t.Errorf("warnings %q, want [%q]", warnings, want)
	}
	if warnings, err := new(Config).Prepare(validConfig(map[string]interface{}{"ami_name": "web {{ isotime | clean_resource_name }}"})); err != nil || len(warnings) != 0 {
		t.Errorf("clean_resource_name: warnings %q, error %v; want neither", warnings, err)
	}
}

var testInfo = buildInfo{
	BuildRegion: "eu-west-1", SourceAMI: "ami-0abc", SourceAMICreationDate: "2024-03-01T10:00:00.000Z",
	SourceAMIName: "al2023: base", SourceAMIOwner: "137112412989", SourceAMIOwnerName: "amazon",
	SourceAMITags: map[string]string{"Team": "platform", "aws:name": "x", "aws_prefix": "aws:"},
}

func TestRenderTemplate(t *testing.T) {
	ictx := &interpolate.Context{Funcs: templateFuncs, BuildName: "web"}
	for text, want := range map[string]string{
		"{{ .BuildRegion }}":                                   "eu-west-1",
		"{{ .SourceAMI }}":                                     "ami-0abc",
		"{{ .SourceAMIName }}":                                 "al2023: base",
		"{{ .SourceAMIOwner }}":                                "137112412989",
		"{{ .SourceAMIOwnerName }}":                            "amazon",
		"{{ .SourceAMICreationDate }}":                         "2024-03-01T10:00:00.000Z",
		"{{ .SourceAMITags.Team }}":                            "platform",
		`{{ index .SourceAMITags "aws:name" }}`:                "x",
		"{{ .SourceAMITags.Missing }}":                         "",
		"{{ .SourceAMIName | clean_resource_name }}":           "al2023- base",
		"{{ build_name }}/{{ .SourceAMI }}":                    "web/ami-0abc",
		"plain text, no template":                              "plain text, no template",
		"{{ .SourceAMIOwnerName | upper }}-{{ .BuildRegion }}": "AMAZON-eu-west-1",
	} {
		got, err := renderTemplate("tags", text, ictx, testInfo)
		if err != nil || got != want {
			t.Errorf("render %q = %q, %v; want %q", text, got, err, want)
		}
	}
	for text, want := range map[string]string{
		"{{ .Nope }}":           "`run_tags`: \"{{ .Nope }}\" uses .Nope, which is not a build variable",
		"{{ .SourceAMI ":        "`run_tags`: \"{{ .SourceAMI \" is not a valid template",
		"{{ nope .SourceAMI }}": `function "nope" not defined`,
	} {
		if _, err := renderTemplate("run_tags", text, ictx, testInfo); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("render %q: error %v, want one containing %q", text, err, want)
		}
	}
}

func TestBuildTemplates_render(t *testing.T) {
	bt := newBuildTemplates(interpolate.Context{Funcs: templateFuncs})
	amiTags := bt.Tags("tags", map[string]string{"Source": "{{ .SourceAMI }}", "{{ .BuildRegion }}": "region"})
	runTags := bt.TagsBetween("run_tags", bakery.Tags{"Name": "Packer Builder", "Team": "default"},
		map[string]string{"Team": "{{ .SourceAMITags.Team }}", "bakery:build-id": "{{ .SourceAMI }}"},
		bakery.Tags{"bakery:build-id": "b-1"})
	none := bt.Tags("snapshot_tags", nil)
	desc := bt.Text("ami_description", "built from {{ .SourceAMIName }}")
	if len(amiTags) != 0 || len(runTags) != 0 || *desc != "" {
		t.Fatalf("values were filled before render: %v %v %q", amiTags, runTags, *desc)
	}
	if err := bt.render(testInfo); err != nil {
		t.Fatal(err)
	}
	if want := (bakery.Tags{"Source": "ami-0abc", "eu-west-1": "region"}); !maps.Equal(amiTags, want) {
		t.Errorf("tags = %v, want %v", amiTags, want)
	}
	// The template overrides the defaults; the bakery tags override the
	// template.
	if want := (bakery.Tags{"Name": "Packer Builder", "Team": "platform", "bakery:build-id": "b-1"}); !maps.Equal(runTags, want) {
		t.Errorf("run_tags = %v, want %v", runTags, want)
	}
	if len(none) != 0 || none == nil {
		t.Errorf("snapshot_tags = %#v, want an empty set", none)
	}
	if *desc != "built from al2023: base" {
		t.Errorf("ami_description = %q", *desc)
	}
}

func TestBuildTemplates_renderErrors(t *testing.T) {
	tests := []struct {
		name string
		add  func(*buildTemplates)
		want []string
	}{
		{"key renders empty", func(bt *buildTemplates) {
			bt.Tags("tags", map[string]string{"{{ .SourceAMITags.Missing }}": "x"})
		}, []string{"`tags`: the key \"{{ .SourceAMITags.Missing }}\" renders to an empty tag key"}},
		{"key renders with the aws: prefix", func(bt *buildTemplates) {
			bt.Tags("tags", map[string]string{"{{ .SourceAMITags.aws_prefix }}Team": "x"})
		}, []string{"`tags`: the key \"{{ .SourceAMITags.aws_prefix }}Team\" renders to \"aws:Team\", which starts with aws:"}},
		{"value renders too long", func(bt *buildTemplates) {
			bt.Tags("run_tags", map[string]string{"Long": strings.Repeat("{{ .SourceAMIName }}", 30)})
		}, []string{"`run_tags`: the value of \"Long\" renders to 360 characters, which is more than EC2's limit of 256"}},
		{"two keys render the same", func(bt *buildTemplates) {
			bt.Tags("run_tags", map[string]string{"{{ .BuildRegion }}": "a", "eu-west-1": "b"})
		}, []string{"`run_tags`: the keys", "both render to \"eu-west-1\""}},
		{"description too long once rendered", func(bt *buildTemplates) {
			bt.Text("ami_description", strings.Repeat("{{ .SourceAMI }}", 40))
		}, []string{"`ami_description` renders to 320 characters"}},
		{"every problem at once", func(bt *buildTemplates) {
			bt.Tags("tags", map[string]string{"A": "{{ .A }}"})
			bt.Tags("snapshot_tags", map[string]string{"B": "{{ .B }}"})
		}, []string{"`tags`: \"{{ .A }}\" uses .A", "`snapshot_tags`: \"{{ .B }}\" uses .B"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bt := newBuildTemplates(interpolate.Context{Funcs: templateFuncs})
			tt.add(bt)
			err := bt.render(testInfo)
			if err == nil {
				t.Fatal("render succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNewBuildInfo(t *testing.T) {
	img := sourceImage("ami-0source", "2024-03-01T10:00:00.000Z")
	img.ImageOwnerAlias = aws.String("amazon")
	img.Tags = []types.Tag{{Key: aws.String("Team"), Value: aws.String("platform")}}
	info := newBuildInfo(img, "eu-west-1")
	want := buildInfo{BuildRegion: "eu-west-1", SourceAMI: "ami-0source", SourceAMICreationDate: "2024-03-01T10:00:00.000Z",
		SourceAMIName: "base-ami-0source", SourceAMIOwner: "123456789012", SourceAMIOwnerName: "amazon",
		SourceAMITags: map[string]string{"Team": "platform"}}
	if info.BuildRegion != want.BuildRegion || info.SourceAMI != want.SourceAMI || info.SourceAMIName != want.SourceAMIName ||
		info.SourceAMIOwner != want.SourceAMIOwner || info.SourceAMIOwnerName != want.SourceAMIOwnerName ||
		info.SourceAMICreationDate != want.SourceAMICreationDate || !maps.Equal(info.SourceAMITags, want.SourceAMITags) {
		t.Errorf("newBuildInfo = %+v, want %+v", info, want)
	}
	gen := info.generated()
	if len(gen) != len(generatedDataNames) || gen["SourceAMIOwnerName"] != "amazon" || gen["BuildRegion"] != "eu-west-1" || gen["SourceAMI"] != "ami-0source" {
		t.Errorf("generated() = %v: want every name of %v", gen, generatedDataNames)
	}
}

// Every build-time option the config has must be left to the build: a new
// tag option added under a name missing from buildTimeOptions would be
// rendered at Prepare, with no source AMI.
func TestBuildTimeOptionsCoverEveryTagOption(t *testing.T) {
	for key, spec := range (&Config{}).FlatMapstructure().HCL2Spec() {
		attr, ok := spec.(*hcldec.AttrSpec)
		if ok && attr.Type.Equals(cty.Map(cty.String)) && strings.Contains(key, "tag") {
			found := false
			for _, o := range buildTimeOptions {
				found = found || o == key
			}
			if !found {
				t.Errorf("option %q is a tag map but not in buildTimeOptions", key)
			}
		}
	}
}

// An HCL2 template reaches Prepare as a cty value, which the SDK's Decode
// decodes into a zeroed Config: the template functions must survive that.
func TestConfigPrepare_templateFunctionsInHCL2(t *testing.T) {
	src := `
source_ami    = "ami-0123456789abcdef0"
instance_type = "t3.micro"
ssh_username  = "ec2-user"
region        = "us-east-1"
ami_name      = "web {{ isotime | clean_resource_name }}"
tags          = { Name = "{{ .SourceAMIName | clean_resource_name }}" }
`
	var c Config
	if _, err := c.Prepare(hcl2Body(t, src)); err != nil {
		t.Fatalf("Prepare of the HCL2 body: %v", err)
	}
	if strings.ContainsAny(c.AMIName, ":{") || c.AMITags["Name"] != "{{ .SourceAMIName | clean_resource_name }}" {
		t.Errorf("ami_name %q, tags %v: want the name cleaned now and the tag left for the build", c.AMIName, c.AMITags)
	}
	bt := newBuildTemplates(c.ctx)
	tags := bt.Tags("tags", c.AMITags)
	if err := bt.render(testInfo); err != nil || tags["Name"] != "al2023- base" {
		t.Errorf("rendered tags %v, %v; want Name = al2023- base", tags, err)
	}
}

// hcl2Body is the source block body src as packer hands it to Prepare: a
// cty value decoded with the builder's HCL2 spec.
func hcl2Body(t *testing.T, src string) cty.Value {
	t.Helper()
	file, diags := hclsyntax.ParseConfig([]byte(src), "source.pkr.hcl", hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	val, diags := hcldec.Decode(file.Body, hcldec.ObjectSpec((&Config{}).FlatMapstructure().HCL2Spec()), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return val
}
