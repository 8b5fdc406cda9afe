//go:build e2e

// The proof of the generated policy: the emulator enforces IAM, an IAM user
// holds exactly what `packer-plugin-bakery iam-policy` writes for a
// template (plain, with a temporary instance profile, with encryption and
// ami_regions, with spot), and packer bakes
// with that user's keys. Every action is needed:
// without any one of them, the build fails naming it.
//
// What the emulator cannot prove (moto 5.2.5, moto/iam/access_control.py):
// it evaluates the Action of each statement only. For EC2 it evaluates every
// call against the resource "*", so a statement with the policy's scoped
// ARNs would never match; the user therefore gets the generated statements
// with Resource "*" (actions and conditions unchanged). It ignores every
// Condition (aws:RequestTag, aws:ResourceTag, ec2:CreateAction,
// aws:RequestedRegion, aws:TagKeys, iam:PermissionsBoundary) and every
// permissions boundary, and does not ask for ec2:CreateTags
// when tags are given at creation, nor for iam:PassRole, iam:TagRole and
// iam:TagInstanceProfile (emulatorCannotCheck), nor for kms: actions (it
// encrypts without KMS). With enforcement on it answers
// EnableImageDeprecation with HTTP 500, so deprecate_at is not in the
// proof. Those parts of the policy are held to
// AWS's documentation by the unit tests, not proven here.
// docs/iam-policy.md says the same.
package iampolicy_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/packer-bakery/packer-plugin-bakery/builder/ebs/iampolicy"
	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

var suite testbed.Suite

func TestMain(m *testing.M) {
	os.Exit(testbed.RunSuite(m, testbed.Options{IAMEnforcement: true, FaultProxy: true}, &suite))
}

// motoAccount is the account moto puts IAM users in.
const motoAccount = "123456789012"

const template = "../e2e/testdata/iampolicy"

// generate runs the plugin's subcommand as a user would.
func generate(t *testing.T, args ...string) iampolicy.Policy {
	t.Helper()
	cmd := exec.Command(suite.Plugin, append([]string{"iam-policy", "-account", motoAccount}, args...)...)
	cmd.Env = suite.Bed.Env()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("iam-policy %v: %v\n%s", args, err, exitStderr(err))
	}
	var p iampolicy.Policy
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("iam-policy wrote no policy: %v\n%s", err, out)
	}
	return p
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// forEmulator is p as moto can evaluate it: every Resource "*" (see the
// package comment). Actions and conditions are the generated ones.
func forEmulator(p iampolicy.Policy) string {
	for i := range p.Statement {
		p.Statement[i].Resource = []string{"*"}
	}
	return p.JSON()
}

// user creates an IAM user holding policy and returns its keys.
func user(t *testing.T, ctx context.Context, name string, p iampolicy.Policy) (id, secret string) {
	t.Helper()
	cfg, err := suite.Bed.AWSConfig(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	admin := iam.NewFromConfig(cfg)
	if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("bakery"),
		PolicyDocument: aws.String(forEmulator(p))}); err != nil {
		t.Fatalf("attaching the generated policy: %v", err)
	}
	key, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey)
}

// build runs packer build of the template as the user with those keys.
func build(t *testing.T, ctx context.Context, id, secret, amiName string, dir ...string) (string, error) {
	t.Helper()
	work := t.TempDir()
	vars, _ := json.Marshal(map[string]any{"access_key": id, "secret_key": secret, "ami_name": amiName})
	varFile := filepath.Join(work, "vars.pkrvars.json")
	if err := os.WriteFile(varFile, vars, 0o600); err != nil {
		t.Fatal(err)
	}
	tmpl := template
	if len(dir) > 0 {
		tmpl = dir[0]
	}
	cmd := exec.CommandContext(ctx, suite.Packer, "build", "-color=false", "-var-file="+varFile, tmpl)
	cmd.Env = append(suite.Bed.PackerEnv(suite.PluginPath, filepath.Join(work, "packer-config")),
		"PACKER_BAKERY_JOURNAL_DIR="+filepath.Join(work, "journal"), "TMPDIR="+work)
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), secret) {
		t.Error("the build's output shows the user's secret key")
	}
	return string(out), err
}

// left lists what the build left in the emulator (as the administrator).
func left(t *testing.T, ctx context.Context) []string {
	t.Helper()
	client, err := suite.Bed.EC2(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	inst, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range inst.Reservations {
		for _, i := range r.Instances {
			if i.State.Name != types.InstanceStateNameTerminated {
				found = append(found, "instance "+aws.ToString(i.InstanceId))
			}
		}
	}
	keys, err := client.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.KeyPairs {
		found = append(found, "key pair "+aws.ToString(k.KeyName))
	}
	groups, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.SecurityGroups {
		if aws.ToString(g.GroupName) != "default" {
			found = append(found, "security group "+aws.ToString(g.GroupId))
		}
	}
	cfg, err := suite.Bed.AWSConfig(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	roles, err := iam.NewFromConfig(cfg).ListRoles(ctx, &iam.ListRolesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles.Roles {
		if strings.HasPrefix(aws.ToString(r.RoleName), "packer_bakery_") {
			found = append(found, "role "+aws.ToString(r.RoleName))
		}
	}
	profiles, err := iam.NewFromConfig(cfg).ListInstanceProfiles(ctx, &iam.ListInstanceProfilesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range profiles.InstanceProfiles {
		found = append(found, "instance profile "+aws.ToString(p.InstanceProfileName))
	}
	return found
}

func amiNamed(t *testing.T, ctx context.Context, name string) *types.Image {
	t.Helper()
	client, err := suite.Bed.EC2(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Images) != 1 {
		return nil
	}
	return &out.Images[0]
}

// templates are the proofs' configurations: the plain bake and each
// option that brings permissions of its own.
var templates = []struct {
	name, dir string
	options   string // what the policy must grant for them
	boundary  string // the temporary role's permissions boundary the template names
}{
	{"plain", template, "", ""},
	{"temporary instance profile", "../e2e/testdata/iampolicy-profile", "iam:", "arn:aws:iam::" + motoAccount + ":policy/bakery-proof-boundary"},
	{"encryption and ami_regions", "../e2e/testdata/iampolicy-copies", "ec2:CopyImage", ""},
	{"spot", "../e2e/testdata/iampolicy-spot", "ec2:CreateFleet", ""},
}

// createBoundary creates the template's permissions boundary as its
// administrator would: the document `iam-policy -boundary` writes, made a
// managed policy. moto validates the document and returns the ARN the
// template names; it does not require the policy to exist for CreateRole,
// nor evaluate boundaries (docs/iam-policy.md).
func createBoundary(t *testing.T, ctx context.Context, dir, arn string) {
	t.Helper()
	cmd := exec.Command(suite.Plugin, "iam-policy", "-boundary", dir)
	cmd.Env = suite.Bed.Env()
	doc, err := cmd.Output()
	if err != nil {
		t.Fatalf("iam-policy -boundary: %v\n%s", err, exitStderr(err))
	}
	cfg, err := suite.Bed.AWSConfig(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	name := arn[strings.LastIndex(arn, "/")+1:]
	out, err := iam.NewFromConfig(cfg).CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(string(doc))})
	if err != nil {
		t.Fatalf("creating the boundary from iam-policy -boundary's document: %v\n%s", err, doc)
	}
	if got := aws.ToString(out.Policy.Arn); got != arn {
		t.Fatalf("the boundary is %s, the template names %s", got, arn)
	}
}

// emulatorCannotCheck are actions moto never asks for, with why: removing
// them cannot fail a build on the test-bed (docs/iam-policy.md).
var emulatorCannotCheck = map[string]string{
	"iam:PassRole":                "moto does not ask for iam:PassRole when an instance profile is launched with or a role added to a profile",
	"iam:TagRole":                 "moto does not ask for iam:TagRole when CreateRole carries tags",
	"iam:TagInstanceProfile":      "moto does not ask for iam:TagInstanceProfile when CreateInstanceProfile carries tags",
	"iam:CreateServiceLinkedRole": "moto does not ask for EC2 Spot's service-linked role",
}

func TestGeneratedPolicyBakes(t *testing.T) {
	for _, tc := range templates {
		t.Run(tc.name, func(t *testing.T) {
			suite.Bed.ResetAfter(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			if tc.boundary != "" {
				createBoundary(t, ctx, tc.dir, tc.boundary)
			}
			p := generate(t, tc.dir)
			for _, a := range p.Actions() {
				if a == "iam:GetRole" && tc.options != "iam:" && readsOnlyOwnRole(p) {
					continue // ReadOwnRolePath: the holder's own role, for its path
				}
				if strings.HasPrefix(a, "kms:") || strings.Contains(a, "*") || (strings.HasPrefix(a, "iam:") && tc.options != "iam:" && a != "iam:CreateServiceLinkedRole") {
					t.Errorf("the policy grants %s, which these options do not need", a)
				}
			}
			if tc.options != "" && !strings.Contains(strings.Join(p.Actions(), " "), tc.options) {
				t.Errorf("the policy grants no %s action: %v", tc.options, p.Actions())
			}
			id, secret := user(t, ctx, "baker", p)
			name := "bakery-iam-" + testbed.RandomHex(4)
			out, err := build(t, ctx, id, secret, name, tc.dir)
			t.Logf("packer build:\n%s", out)
			if err != nil {
				t.Fatalf("the build with exactly the generated policy failed: %v", err)
			}
			if !strings.Contains(out, "Permission check passed") {
				t.Errorf("the preflight did not run or did not pass")
			}
			if img := amiNamed(t, ctx, name); img == nil {
				t.Fatalf("no AMI %s after the build", name)
			}
			if l := left(t, ctx); len(l) > 0 {
				t.Errorf("the least-privilege build left %v (it could not clean up?)", l)
			}
		})
	}
}

// readsOnlyOwnRole: every statement granting iam:GetRole grants it on the
// holder's own role only.
func readsOnlyOwnRole(p iampolicy.Policy) bool {
	for _, st := range p.Statement {
		for _, a := range st.Action {
			if a == "iam:GetRole" && (len(st.Resource) != 1 || st.Resource[0] != "${aws:PrincipalArn}") {
				return false
			}
		}
	}
	return true
}

func TestEveryActionIsNeeded(t *testing.T) {
	for _, tc := range templates {
		t.Run(tc.name, func(t *testing.T) {
			suite.Bed.ResetAfter(t)
			p := generate(t, tc.dir)
			// Each refused build stops early, in about a second: every
			// action is tried.
			for _, action := range p.Actions() {
				t.Run(action, func(t *testing.T) {
					if why, ok := emulatorCannotCheck[action]; ok {
						t.Skip(why)
					}
					if action == "iam:GetRole" && tc.options != "iam:" {
						t.Skip("read only to learn the path of a role session's role (ReadOwnRolePath); the bed's builds run as an IAM user, and a refusal is not fatal by design")
					}
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
					defer cancel()
					id, secret := user(t, ctx, "without-"+strings.ReplaceAll(action, ":", "-"), p.Without(action))
					start := time.Now()
					out, err := build(t, ctx, id, secret, "bakery-iam-"+testbed.RandomHex(4), tc.dir)
					if err == nil {
						t.Fatalf("the build succeeded without %s:\n%s", action, out)
					}
					if !strings.Contains(out, action) {
						t.Errorf("the failure does not name %s:\n%s", action, out)
					}
					if strings.Contains(out, "Launching") {
						t.Errorf("without %s the build got as far as launching: the checks should have stopped it\n%s", action, out)
					}
					if l := left(t, ctx); len(l) > 0 {
						t.Errorf("the refused build left %v\n%s", l, out)
					}
					t.Logf("without %s: failed in %v naming it", action, time.Since(start).Round(time.Millisecond))
				})
			}
		})
	}
}

func TestEveryMissingActionIsListedAtOnce(t *testing.T) {
	suite.Bed.ResetAfter(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	missing := []string{"ec2:CreateImage", "ec2:DeleteKeyPair", "ec2:RunInstances"}
	p := generate(t, template)
	for _, a := range missing {
		p = p.Without(a)
	}
	id, secret := user(t, ctx, "three-short", p)
	out, err := build(t, ctx, id, secret, "bakery-iam-"+testbed.RandomHex(4))
	if err == nil {
		t.Fatalf("the build succeeded:\n%s", out)
	}
	if want := "lack 3 permission(s)"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	for _, a := range missing {
		if !strings.Contains(out, "  "+a) {
			t.Errorf("%s is not listed:\n%s", a, out)
		}
	}
	if l := left(t, ctx); len(l) > 0 {
		t.Errorf("the refused build left %v", l)
	}
}

// TestMissingRegionReadIsListedWithTheRest: the region check runs before
// the steps; refused, it does not stop the build alone but joins the list.
func TestMissingRegionReadIsListedWithTheRest(t *testing.T) {
	suite.Bed.ResetAfter(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := generate(t, template).Without("ec2:DescribeRegions").Without("ec2:TerminateInstances")
	id, secret := user(t, ctx, "no-regions", p)
	out, err := build(t, ctx, id, secret, "bakery-iam-"+testbed.RandomHex(4))
	if err == nil {
		t.Fatalf("the build succeeded:\n%s", out)
	}
	if !strings.Contains(out, "lack 2 permission(s)") || !strings.Contains(out, "  ec2:DescribeRegions") || !strings.Contains(out, "  ec2:TerminateInstances") {
		t.Errorf("both missing actions should be listed together:\n%s", out)
	}
}
