//go:build e2e

package iampolicy_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/packer-bakery/packer-plugin-bakery/builder/ebs/iampolicy"
	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

const releaseTemplate = "../e2e/testdata/iampolicy-release"

// postProcessorActions are the actions the release template's
// post-processors' statements grant.
func postProcessorActions(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, st := range generate(t, releaseTemplate).Statement {
		if strings.HasPrefix(st.Sid, "Publish") || strings.HasPrefix(st.Sid, "Retire") {
			out = append(out, st.Action...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// seedFamily makes an old AMI of the release template's family in region,
// as the administrator.
func seedFamily(t *testing.T, ctx context.Context, region string) string {
	t.Helper()
	client, err := suite.Bed.EC2(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	base, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"137112412989"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"amzn2-ami-hvm-*-x86_64-gp2"}}}})
	if err != nil || len(base.Images) == 0 {
		t.Fatalf("no base AMI in %s (%v)", region, err)
	}
	run, err := client.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: base.Images[0].ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	img, err := client.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String("bakery-iam-release-old-" + testbed.RandomHex(3)),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeImage, Tags: []types.Tag{{Key: aws.String("Family"), Value: aws.String("bakery-iam-release")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(run.Instances[0].InstanceId)}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the bake's AMI is newer
	return aws.ToString(img.ImageId)
}

// emulatorCannotCheckPostProcessors: actions moto does not ask for.
var emulatorCannotCheckPostProcessors = map[string]string{
	"ssm:AddTagsToResource": "moto does not ask for ssm:AddTagsToResource when PutParameter carries tags",
}

// TestGeneratedPolicyReleases: the release template (bake, ami_test,
// ami_regions, bakery-ssm-parameter, bakery-retire) runs to the end as a user holding
// exactly its generated policy, and without any one of the
// post-processors' actions it fails naming it, having retired nothing.
func TestGeneratedPolicyReleases(t *testing.T) {
	suite.Bed.ResetAfter(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	old := map[string]string{}
	for _, r := range []string{"us-east-1", "us-west-2"} {
		old[r] = seedFamily(t, ctx, r)
	}
	p := generate(t, releaseTemplate)
	actions := postProcessorActions(t)
	if len(actions) < 7 {
		t.Fatalf("the post-processors' statements grant only %v", actions)
	}
	if !hasSid(p, "LaunchTestFrom") {
		t.Fatalf("the policy has no statement for the AMI test's launch")
	}
	for _, action := range actions {
		t.Run("without "+action, func(t *testing.T) {
			if why, ok := emulatorCannotCheckPostProcessors[action]; ok {
				t.Skip(why)
			}
			id, secret := user(t, ctx, "without-"+strings.NewReplacer(":", "-").Replace(action), p.Without(action))
			out, err := build(t, ctx, id, secret, "bakery-iam-"+testbed.RandomHex(4), releaseTemplate)
			if err == nil {
				t.Fatalf("the release succeeded without %s:\n%s", action, out)
			}
			if !strings.Contains(out, action) {
				t.Errorf("the failure does not name %s:\n%s", action, out)
			}
			// A refusal, not some other failure that happens to name it
			// (the builder's permission check says "the credentials lack";
			// moto answers SSM's refusals with HTTP 403 and an XML body
			// the SDK cannot read, hence the code).
			if !strings.Contains(out, "not authorized") && !strings.Contains(out, "UnauthorizedOperation") && !strings.Contains(out, "StatusCode: 403") && !strings.Contains(out, "the credentials lack") {
				t.Errorf("without %s the failure is not a refusal:\n%s", action, out)
			}
			for r, id := range old {
				if !imageExists(t, ctx, r, id) {
					t.Fatalf("without %s, the old AMI %s in %s was retired", action, id, r)
				}
			}
		})
	}

	id, secret := user(t, ctx, "releaser", p)
	name := "bakery-iam-" + testbed.RandomHex(4)
	out, err := build(t, ctx, id, secret, name, releaseTemplate)
	t.Logf("packer build:\n%s", out)
	if err != nil {
		t.Fatalf("the release with exactly the generated policy failed: %v", err)
	}
	if !strings.Contains(out, "AMI test: all 1 checks passed") {
		t.Errorf("the AMI test did not run")
	}
	for r, oldID := range old {
		cfg, err := suite.Bed.AWSConfig(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		param, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/bakery-iam-release/latest")})
		if err != nil {
			t.Fatalf("%s: the parameter: %v", r, err)
		}
		if img := imageByName(t, ctx, r, name); aws.ToString(param.Parameter.Value) != img {
			t.Errorf("%s: the parameter holds %s, the release's AMI is %s", r, aws.ToString(param.Parameter.Value), img)
		}
		if imageExists(t, ctx, r, oldID) {
			t.Errorf("%s: the old AMI %s was not retired", r, oldID)
		}
	}
}

func imageExists(t *testing.T, ctx context.Context, region, id string) bool {
	t.Helper()
	client, err := suite.Bed.EC2(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range out.Images {
		if aws.ToString(img.ImageId) == id {
			return true
		}
	}
	return false
}

func imageByName(t *testing.T, ctx context.Context, region, name string) string {
	t.Helper()
	client, err := suite.Bed.EC2(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("%s: AMI %s: %d (%v)", region, name, len(out.Images), err)
	}
	return aws.ToString(out.Images[0].ImageId)
}

func hasSid(p iampolicy.Policy, sid string) bool {
	for _, st := range p.Statement {
		if st.Sid == sid {
			return true
		}
	}
	return false
}
