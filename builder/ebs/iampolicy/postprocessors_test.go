package iampolicy

import (
	"os"
	"path/filepath"
	"regexp"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"slices"
	"strings"
	"testing"
)

const releaseTemplate = "../../../post-processor/testdata/release"

func releasePolicy(t *testing.T, vars map[string]string) Policy {
	t.Helper()
	all := map[string]string{"family": "web", "parameter": "/web/ami/latest", "ami_name": "web-1"}
	for k, v := range vars {
		all[k] = v
	}
	opts := TemplateOptions{Vars: all}
	sources, err := ReadTemplate(releaseTemplate, opts)
	if err != nil {
		t.Fatal(err)
	}
	pps, err := ReadPostProcessors(releaseTemplate, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(pps) != 2 || !slices.Equal(pps[0].Sources, []string{"release"}) {
		t.Fatalf("post-processors %+v; want the chain's two, of source release", pps)
	}
	return PostProcessorPolicy(pps, sources, "111122223333")
}

func TestPostProcessorPolicy(t *testing.T) {
	p := releasePolicy(t, nil)
	pub := statement(t, p, "PublishParameter")
	if !slices.Equal(pub.Action, []string{"ssm:AddTagsToResource", "ssm:GetParameter", "ssm:PutParameter"}) {
		t.Errorf("PublishParameter actions %v", pub.Action)
	}
	want := []string{"arn:aws:ssm:eu-west-1:111122223333:parameter/web/ami/latest", "arn:aws:ssm:us-east-1:111122223333:parameter/web/ami/latest"}
	if !slices.Equal(pub.Resource, want) {
		t.Errorf("PublishParameter resources %v, want the one parameter in the build region and the copy's", pub.Resource)
	}
	dereg := statement(t, p, "RetireDeregisterFamily")
	if got := dereg.Condition["StringEquals"]["aws:ResourceTag/Family"]; !slices.Equal(got, []string{"web"}) {
		t.Errorf("RetireDeregisterFamily condition %v: only AMIs tagged as the family", dereg.Condition)
	}
	if !slices.Equal(dereg.Resource, []string{"arn:aws:ec2:eu-west-1::image/*", "arn:aws:ec2:us-east-1::image/*"}) {
		t.Errorf("RetireDeregisterFamily resources %v", dereg.Resource)
	}
	desc := statement(t, p, "RetireDescribe")
	if got := desc.Condition["StringEquals"]["aws:RequestedRegion"]; !slices.Equal(got, []string{"us-east-1", "eu-west-1"}) {
		t.Errorf("RetireDescribe regions %v", got)
	}
	if !slices.Contains(p.Actions(), "ec2:DeleteSnapshot") || slices.Contains(p.Actions(), "ec2:EnableImageDeprecation") {
		t.Errorf("actions %v: deregistering deletes snapshots and does not deprecate", p.Actions())
	}
}

func TestPostProcessorPolicyFollowsOptions(t *testing.T) {
	dry := releasePolicy(t, map[string]string{"dry_run": "true"})
	for _, a := range []string{"ec2:DeregisterImage", "ec2:DeleteSnapshot", "ec2:EnableImageDeprecation"} {
		if slices.Contains(dry.Actions(), a) {
			t.Errorf("dry_run: the policy allows %s", a)
		}
	}
	dep := releasePolicy(t, map[string]string{"deprecate": "true"})
	acts := strings.Join(dep.Actions(), " ")
	if !strings.Contains(acts, "ec2:EnableImageDeprecation") || strings.Contains(acts, "ec2:DeregisterImage") || strings.Contains(acts, "ec2:DeleteSnapshot") {
		t.Errorf("deprecate: actions %v", dep.Actions())
	}
}

func TestPostProcessorPolicyAssumedRole(t *testing.T) {
	g := grantStatement(grantOf(t, `post-processor "bakery-ssm-parameter" {
  parameter_name = "/web/latest"
  assume_role {
    role_arn = "arn:aws:iam::444455556666:role/publisher"
  }
}`), []string{"us-east-1"}, "111122223333")
	if !slices.Equal(g.Resource, []string{"arn:aws:ssm:us-east-1:444455556666:parameter/web/latest"}) {
		t.Errorf("resources %v: the parameter is in the role's account", g.Resource)
	}
}

// grantOf reads one post-processor block in a template of its own.
func grantOf(t *testing.T, block string) bakery.Grant {
	t.Helper()
	dir := t.TempDir()
	tmpl := `source "bakery-ebs" "x" {
  region = "us-east-1"
}
build {
  sources = ["source.bakery-ebs.x"]
  ` + block + `
}
`
	if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(tmpl), 0o600); err != nil {
		t.Fatal(err)
	}
	pps, err := ReadPostProcessors(dir, TemplateOptions{})
	if err != nil || len(pps) != 1 || len(pps[0].Grants) != 1 {
		t.Fatalf("post-processors %+v (%v)", pps, err)
	}
	return pps[0].Grants[0]
}

// TestEveryPostProcessorCallIsCovered: every EC2 and SSM call the
// post-processors' code makes is granted by their declarations, with the
// options that make them make it.
func TestEveryPostProcessorCallIsCovered(t *testing.T) {
	call := regexp.MustCompile(`\b(ec2|ssm)\.([A-Z][A-Za-z0-9]*)Input\b`)
	files, err := filepath.Glob("../../../post-processor/*/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no post-processor sources (%v)", err)
	}
	called := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(data), -1) {
			called[m[1]+":"+m[2]] = true
		}
	}
	granted := map[string]bool{}
	for _, vars := range []map[string]string{nil, {"deprecate": "true"}} {
		for _, a := range releasePolicy(t, vars).Actions() {
			granted[a] = true
		}
	}
	if len(called) < 8 {
		t.Fatalf("found only %v: the scan is broken", called)
	}
	for a := range called {
		if !granted[a] {
			t.Errorf("the post-processors call %s, which their grants do not allow", a)
		}
	}
}
