package iampolicy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/packer-bakery/packer-plugin-bakery/builder/ebs"
)

func readSources(t *testing.T, opts TemplateOptions) map[string]*ebs.Config {
	t.Helper()
	sources, err := ReadTemplate("testdata/template", opts)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*ebs.Config{}
	for _, s := range sources {
		out[s.Name] = s.Config
	}
	return out
}

func TestReadTemplateDefaultsAndUnknowns(t *testing.T) {
	got := readSources(t, TemplateOptions{})
	app := got["app"]
	if app == nil || got["other"] == nil {
		t.Fatalf("sources %v", got)
	}
	if app.RawRegion != "eu-west-1" {
		t.Errorf("region %q: the variable's default", app.RawRegion)
	}
	if app.SubnetID == "" || !strings.HasPrefix(app.SubnetID, "74D93920") {
		t.Errorf("subnet %q: a variable with no value is unknown", app.SubnetID)
	}
	if app.SnapshotTags["Team"] != "EU-WEST-1" {
		t.Errorf("a local from a variable: %v", app.SnapshotTags)
	}
	// The unknown subnet widens the launch to any subnet.
	p := Generate(app, NewScope("111122223333", "eu-west-1"))
	if res := statement(t, p, "LaunchFrom").Resource; !slices.Contains(res, "arn:aws:ec2:eu-west-1:111122223333:subnet/*") {
		t.Errorf("LaunchFrom %v", res)
	}
}

func TestReadTemplatePrecedence(t *testing.T) {
	got := readSources(t, TemplateOptions{
		Environ:  []string{"PKR_VAR_region=us-east-2", "PKR_VAR_subnet=subnet-0aaaaaaaaaaaaaaaa", "PKR_VAR_undeclared=x"},
		VarFiles: []string{"testdata/template/vars.pkrvars.hcl"},
		Vars:     map[string]string{"region": "ap-south-1", "own_key": "true"},
	})
	app := got["app"]
	if app.RawRegion != "ap-south-1" {
		t.Errorf("-var wins over PKR_VAR_: %q", app.RawRegion)
	}
	if app.SubnetID != "subnet-0aaaaaaaaaaaaaaaa" {
		t.Errorf("PKR_VAR_ gives a value: %q", app.SubnetID)
	}
	if !slices.Equal(app.SecurityGroupIDs, []string{"sg-0123456789abcdef0"}) {
		t.Errorf("var file: %v", app.SecurityGroupIDs)
	}
	p := Generate(app, NewScope("111122223333", "ap-south-1"))
	if hasStatement(p, "CreateTaggedSecurityGroup") {
		t.Error("own groups from the var file should drop the temporary group's statements")
	}
}

func TestReadTemplateErrors(t *testing.T) {
	if _, err := ReadTemplate("testdata/template", TemplateOptions{Vars: map[string]string{"nope": "1"}}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("an undeclared -var: %v", err)
	}
	if _, err := ReadTemplate("testdata", TemplateOptions{}); err == nil || !strings.Contains(err.Error(), "no *.pkr.hcl") {
		t.Errorf("a folder without templates: %v", err)
	}
}

func TestForSourcesCoversEveryRegion(t *testing.T) {
	sources, err := ReadTemplate("testdata/template", TemplateOptions{Vars: map[string]string{"subnet": "subnet-0aaaaaaaaaaaaaaaa"}})
	if err != nil {
		t.Fatal(err)
	}
	p := ForSources(sources, "111122223333", nil)
	regions := statement(t, p, "Describe").Condition["StringEquals"]["aws:RequestedRegion"]
	if !slices.Equal(regions, []string{"eu-west-1", "us-west-2"}) {
		t.Errorf("regions %v", regions)
	}
	launch := statement(t, p, "LaunchFrom").Resource
	for _, want := range []string{"arn:aws:ec2:us-west-2::image/ami-0fedcba9876543210", "arn:aws:ec2:eu-west-1::image/ami-0123456789abcdef0"} {
		if !slices.Contains(launch, want) {
			t.Errorf("LaunchFrom lacks %s: %v", want, launch)
		}
	}
	// One source tags snapshots with known keys, the other not at all: the
	// merged statement keeps the key restriction of the one that does.
	if keys := statement(t, p, "TagSnapshots").Condition["ForAllValues:StringEquals"]["aws:TagKeys"]; !slices.Equal(keys, []string{"Team"}) {
		t.Errorf("snapshot tag keys %v", keys)
	}
}

func TestDocsShowTheGeneratedPolicy(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/iam-policy.md")
	if err != nil {
		t.Fatal(err)
	}
	const marker = "<!-- generated: example/developer-profile, account 123456789012 -->\n```json\n"
	_, rest, ok := strings.Cut(string(doc), marker)
	if !ok {
		t.Fatal("docs/iam-policy.md lost its generated example")
	}
	shown, _, _ := strings.Cut(rest, "```")
	for _, example := range []string{"developer-profile", "ansible"} {
		sources, err := ReadTemplate("../../../example/"+example, TemplateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := ForSources(sources, "123456789012", nil).JSON(); shown != want {
			t.Errorf("docs/iam-policy.md shows a policy other than example/%s's; regenerate it with\n  go run . iam-policy -account 123456789012 example/developer-profile\nwant:\n%s", example, want)
		}
	}
}

// TestReadTemplateDynamicBlocks: `dynamic` blocks expand as in packer,
// also when for_each is known only to the build.
func TestReadTemplateDynamicBlocks(t *testing.T) {
	dir := t.TempDir()
	src := `
variable "filters" {
  type    = map(string)
  default = { name = "al2023-ami-*" }
}
variable "later" {
  type = list(string)
}
source "bakery-ebs" "app" {
  region        = "us-east-1"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "app"
  dynamic "source_ami_filter" {
    for_each = [var.filters]
    content {
      filters = source_ami_filter.value
      owners  = ["amazon"]
    }
  }
  dynamic "launch_block_device_mappings" {
    for_each = var.later
    content {
      device_name = launch_block_device_mappings.value
    }
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "app.pkr.hcl"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	sources, err := ReadTemplate(dir, TemplateOptions{})
	if err != nil {
		t.Fatalf("ReadTemplate: %v", err)
	}
	if got := sources[0].Config.SourceAMIFilter.Filters["name"]; got != "al2023-ami-*" {
		t.Errorf("source_ami_filter from a dynamic block: filters %v", sources[0].Config.SourceAMIFilter.Filters)
	}
}
