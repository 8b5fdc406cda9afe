//go:build e2e

// Package example_test checks the templates users copy from example/: each
// passes a full `packer validate` (the plugin's Prepare, not only the
// syntax) with the real packer and the plugin built from this checkout, is
// formatted, explains itself, and needs no AWS call to validate.
package example_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

var suite testbed.Suite

func TestMain(m *testing.M) {
	// The fault proxy counts every AWS call packer makes: the test-bed's
	// environment points AWS_ENDPOINT_URL at it, so even the examples meant
	// for real AWS would call it, not AWS.
	os.Exit(testbed.RunSuite(m, testbed.Options{FaultProxy: true}, &suite))
}

// The examples the docs promise. A folder removed or renamed must be
// removed here too, and from the docs that link it.
var promised = []string{
	"local",
	"developer-profile",
	"ci-env-credentials",
	"instance-role",
	"instance-profile-s3-ssm",
	"encrypted-copy",
	"ansible",
	"ansible-galaxy",
	"release",
	"session-manager",
	"instance-connect-endpoint",
}

// Values for the variables that have no default; a user passes them with
// -var. PKR_VAR_ for a template that does not declare the variable is
// ignored.
var requiredVars = []string{
	"PKR_VAR_subnet_id=subnet-0123456789abcdef0",
	"PKR_VAR_artifact_bucket=example-artifacts",
	"PKR_VAR_kms_key_id=alias/images",
	"PKR_VAR_copy_kms_key_id=alias/images",
	"PKR_VAR_role_boundary=arn:aws:iam::123456789012:policy/packer-bakery-boundary",
}

func examples(t *testing.T) []string {
	t.Helper()
	matches, err := filepath.Glob("*/*.pkr.hcl")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range matches {
		seen[filepath.Dir(m)] = true
	}
	for _, p := range promised {
		if !seen[p] {
			t.Errorf("example/%s has no template", p)
		}
	}
	dirs := make([]string, 0, len(seen))
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return dirs
}

func packer(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.Packer, args...)
	cmd.Env = append(suite.Bed.PackerEnv(suite.PluginPath, t.TempDir()), requiredVars...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestE2EExamplesValidate(t *testing.T) {
	proxy := suite.Bed.Faults()
	proxy.Reset()
	for _, dir := range examples(t) {
		t.Run(dir, func(t *testing.T) {
			out, err := packer(t, "validate", dir)
			if err != nil {
				t.Fatalf("packer validate %s: %v\n%s", dir, err, out)
			}
			if !strings.Contains(out, "The configuration is valid.") {
				t.Errorf("packer validate %s did not say the configuration is valid:\n%s", dir, out)
			}
			if strings.Contains(out, "Warning") {
				t.Errorf("packer validate %s warns; an example should not:\n%s", dir, out)
			}
			if out, err := packer(t, "fmt", "-check", "-diff", dir); err != nil {
				t.Errorf("packer fmt -check %s: %v\n%s", dir, err, out)
			}
		})
	}
	if calls := proxy.Counts(); len(calls) != 0 {
		t.Errorf("packer validate of the examples called AWS: %v", calls)
	}
}

// alsoNeeds are actions an example needs because of what it is for.
var alsoNeeds = map[string][]string{
	"instance-profile-s3-ssm":   {"iam:CreateRole", "iam:PutRolePolicy", "iam:CreateInstanceProfile", "iam:PassRole"},
	"encrypted-copy":            {"ec2:CopyImage"},
	"session-manager":           {"ssm:StartSession", "ssm:ResumeSession", "ssm:TerminateSession"},
	"instance-connect-endpoint": {"ec2-instance-connect:OpenTunnel", "ec2:DescribeInstanceConnectEndpoints"},
	"release":                   {"ec2:CopyImage", "ssm:PutParameter", "ssm:GetParameter", "ec2:DescribeLaunchTemplateVersions", "ec2:DeregisterImage", "ec2:DeleteSnapshot"},
}

// TestE2EExamplesHaveAnIAMPolicy: `packer-plugin-bakery iam-policy` writes
// the least-privilege policy of every example (the first thing a user of a
// locked-down account runs), with the account given so that it asks no
// one, and it makes no AWS call.
func TestE2EExamplesHaveAnIAMPolicy(t *testing.T) {
	proxy := suite.Bed.Faults()
	proxy.Reset()
	for _, dir := range examples(t) {
		t.Run(dir, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, suite.Plugin, "iam-policy", "-account", "123456789012", dir)
			cmd.Env = append(suite.Bed.PackerEnv(suite.PluginPath, t.TempDir()), requiredVars...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("iam-policy %s: %v\n%s", dir, err, stderr.String())
			}
			var policy struct {
				Version   string
				Statement []struct {
					Effect string
					Action []string
				}
			}
			if err := json.Unmarshal(out, &policy); err != nil {
				t.Fatalf("iam-policy %s did not print a JSON policy: %v\n%s", dir, err, out)
			}
			actions := map[string]bool{}
			for _, st := range policy.Statement {
				for _, a := range st.Action {
					actions[a] = true
				}
			}
			wants := append([]string{"ec2:RunInstances", "ec2:CreateImage", "ec2:ImportKeyPair"}, alsoNeeds[dir]...)
			for _, want := range wants {
				if !actions[want] {
					t.Errorf("the policy of %s does not allow %s:\n%s", dir, want, out)
				}
			}
		})
	}
	if calls := proxy.Counts(); len(calls) != 0 {
		t.Errorf("iam-policy called AWS for the examples: %v", calls)
	}
}

// TestE2EExamplesValidateCallCounterWorks is the control of the zero above:
// the same packer and environment, told to evaluate the CI example's data
// source, reach the counter.
func TestE2EExamplesValidateCallCounterWorks(t *testing.T) {
	proxy := suite.Bed.Faults()
	proxy.Reset()
	// The emulator has no Amazon Linux 2023 AMI, so the lookup fails; the
	// call is what counts here.
	out, _ := packer(t, "validate", "-evaluate-datasources", "ci-env-credentials")
	if n := proxy.Count("ec2", "DescribeImages"); n == 0 {
		t.Errorf("the proxy counted no DescribeImages for the data source; it counted %v\n%s", proxy.Counts(), out)
	}
}

// TestExamplesExplainThemselves: each template opens with a comment that
// says when to use it (there are no README files in example/).
func TestE2EExamplesExplainThemselves(t *testing.T) {
	for _, dir := range examples(t) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.pkr.hcl"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			comment := 0
			for _, line := range strings.Split(string(b), "\n") {
				if !strings.HasPrefix(line, "#") {
					break
				}
				comment++
			}
			if comment < 3 {
				t.Errorf("%s opens with %d comment lines; say in a few lines when to use it and how to run it", f, comment)
			}
		}
	}
}

// TestE2EDemoBakes: what `make demo` runs, example/local baked on the
// test-bed with the pinned ansible-core: Ansible logs in as ec2-user,
// becomes root, writes the app's file as the unprivileged bakery-app, and
// the manifest names the AMI.
func TestE2EDemoBakes(t *testing.T) {
	suite.Bed.ResetAfter(t)
	conf := "/home/bakery-app/demo-app.conf"
	_ = os.Remove(conf)
	t.Cleanup(func() { _ = os.Remove(conf) })
	manifest := filepath.Join(t.TempDir(), "manifest.json")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.Packer, "build", "-color=false", "local")
	cmd.Env = append(suite.Bed.PackerEnv(suite.PluginPath, t.TempDir()),
		"PKR_VAR_manifest="+manifest,
		"PKR_VAR_ansible_playbook="+filepath.Join(testbed.CacheDir(suite.Root), "ansible-2.19", "bin", "ansible-playbook"),
		"HOME="+t.TempDir(), // ansible's ~/.ansible stays out of root's home
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("packer build example/local: %v\n%s", err, out)
	}
	if want := "logged in as ec2-user, became root, wrote " + conf + " as bakery-app"; !strings.Contains(string(out), want) {
		t.Errorf("the play did not report %q:\n%s", want, out)
	}
	if strings.Contains(string(out), "[WARNING]") {
		t.Errorf("the demo's play warns:\n%s", out)
	}
	data, err := os.ReadFile(conf)
	if err != nil || strings.TrimSpace(string(data)) != "baked_by=bakery-ansible" {
		t.Errorf("%s holds %q (%v), want the line the play writes", conf, data, err)
	}
	var m struct {
		Builds []struct {
			ArtifactID string `json:"artifact_id"`
		}
	}
	data, err = os.ReadFile(manifest)
	if err != nil || json.Unmarshal(data, &m) != nil || len(m.Builds) != 1 || !strings.HasPrefix(m.Builds[0].ArtifactID, "us-east-1:ami-") {
		t.Fatalf("manifest %s: %s (%v), want one build with us-east-1:ami-…", manifest, data, err)
	}
	assertDemoBaked(t, strings.TrimPrefix(m.Builds[0].ArtifactID, "us-east-1:"))
}

// assertDemoBaked checks through the EC2 API what `make demo` promises
// beyond its output: the AMI it prints exists with the template's name and
// tags, and the build left nothing behind (its one instance terminated, no
// key pair).
func assertDemoBaked(t *testing.T, amiID string) {
	t.Helper()
	ctx := t.Context()
	client, err := suite.Bed.EC2(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{amiID}})
	if err != nil || len(imgs.Images) != 1 {
		t.Fatalf("the demo's AMI %s: %v (%d images)", amiID, err, len(imgs.Images))
	}
	img := imgs.Images[0]
	if !strings.HasPrefix(aws.ToString(img.Name), "bakery-demo-") || img.State != types.ImageStateAvailable {
		t.Errorf("AMI %s is %q in state %s, want bakery-demo-… available", amiID, aws.ToString(img.Name), img.State)
	}
	tags := map[string]string{}
	for _, tag := range img.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if tags["Name"] != "bakery-demo" || tags["Project"] != "packer-plugin-bakery" {
		t.Errorf("AMI tags %v, want the template's Name and Project", tags)
	}
	res, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	instances := 0
	for _, r := range res.Reservations {
		for _, inst := range r.Instances {
			instances++
			if inst.State.Name != types.InstanceStateNameTerminated {
				t.Errorf("instance %s is %s after the demo", aws.ToString(inst.InstanceId), inst.State.Name)
			}
		}
	}
	if instances != 1 {
		t.Errorf("%d instances after the demo, want the one it launched", instances)
	}
	keys, err := client.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.KeyPairs {
		t.Errorf("key pair %s left behind by the demo", aws.ToString(k.KeyName))
	}
}
