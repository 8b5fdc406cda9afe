//go:build e2e

package e2e_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

// TestE2ESweepIgnoresBackdatedTags: another principal of the account (or
// anyone who may tag) backdates bakery:created-at on a build's fresh key
// pair, as if it were days old. The sweep must go by the time AWS reports
// and leave it: it may belong to a build running on another machine.
func TestE2ESweepIgnoresBackdatedTags(t *testing.T) {
	suite.Bed.ResetAfter(t)
	client := ec2Client(t)
	ctx := context.Background()
	name := "bakery-backdated-" + testbed.RandomHex(4)
	backdated := time.Now().Add(-72 * time.Hour).UTC().Format(time.RFC3339)
	_, err := client.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(name), TagSpecifications: []types.TagSpecification{{
		ResourceType: types.ResourceTypeKeyPair,
		Tags: []types.Tag{
			{Key: aws.String(bakery.TagBuildID), Value: aws.String("elsewhere-" + testbed.RandomHex(4))},
			{Key: aws.String(bakery.TagCreatedAt), Value: aws.String(backdated)},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(suite.Plugin, "sweep", "--region", "us-east-1", "--older-than", "1h")
	cmd.Env = append(suite.Bed.Env(), "PACKER_BAKERY_JOURNAL_DIR="+filepath.Join(t.TempDir(), "journal"))
	out, err := cmd.CombinedOutput()
	t.Logf("sweep:\n%s", out)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	keys, err := client.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{name}})
	if err != nil || len(keys.KeyPairs) != 1 {
		t.Fatalf("the freshly made key pair with a backdated tag was swept (%v)", err)
	}
	if keys.KeyPairs[0].CreateTime == nil {
		t.Fatal("the bed reports no CreateTime for key pairs: the check above would prove nothing")
	}
	if !strings.Contains(string(out), "left alone") {
		t.Error("the sweep does not say it left the young build alone")
	}
}

// TestE2ESomeoneElsesAMIUnderOurNameIsNotAdopted: while the build
// provisions, another principal registers an AMI under the build's
// ami_name (RegisterImage: no source instance). CreateImage then answers
// InvalidAMIName.Duplicate on its first attempt: the build must fail,
// naming the AMI, and leave it untouched — never report it as its
// artifact, nor deregister it when it fails.
func TestE2ESomeoneElsesAMIUnderOurNameIsNotAdopted(t *testing.T) {
	b := newBake(t, "echo provisioning-started", "sleep 3")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run := testbed.StartCmd(t, b.cmd(ctx))
	out := run.Out
	run.UntilOutput(t, "provisioning-started", "the build never started provisioning")
	client := ec2Client(t)
	reg, err := client.RegisterImage(ctx, &ec2.RegisterImageInput{
		Name:           aws.String(b.amiName),
		RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"),
			Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(8)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	theirs := aws.ToString(reg.ImageId)
	buildErr := run.Result(t, ctx)
	t.Logf("build output:\n%s", out.String())
	if buildErr == nil {
		t.Errorf("the build succeeded with %s, another principal's AMI, as its artifact", theirs)
	}
	if !strings.Contains(out.String(), "choose another `ami_name`") || !strings.Contains(out.String(), theirs) {
		t.Error("the build does not name the AMI that holds its name and say what to do")
	}
	imgs, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{theirs}})
	if err != nil || len(imgs.Images) != 1 || imgs.Images[0].State == types.ImageStateDeregistered {
		t.Errorf("the other principal's AMI %s was removed (%v)", theirs, err)
	}
}

// TestE2EImageOfOurInstanceByAnotherIsNotAdopted: while the build
// provisions, another principal images the build's own instance under the
// build's ami_name (both show in the console). The AMI's source instance is
// then the build's, but no attempt of the build made it: its first
// CreateImage is refused as a duplicate. The build must fail, naming the
// AMI, and leave it alone.
func TestE2EImageOfOurInstanceByAnotherIsNotAdopted(t *testing.T) {
	b := newBake(t, "echo provisioning-started", "sleep 3")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run := testbed.StartCmd(t, b.cmd(ctx))
	out := run.Out
	run.UntilOutput(t, "provisioning-started", "the build never started provisioning")
	client := ec2Client(t)
	instances := buildInstances(t, client)
	if len(instances) != 1 {
		t.Fatalf("%d instances with the build's tag, want 1", len(instances))
	}
	ours := aws.ToString(instances[0].InstanceId)
	img, err := client.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(ours), Name: aws.String(b.amiName)})
	if err != nil {
		t.Fatal(err)
	}
	theirs := aws.ToString(img.ImageId)
	buildErr := run.Result(t, ctx)
	t.Logf("build output:\n%s", out.String())
	if buildErr == nil {
		t.Errorf("the build succeeded with %s, another principal's image of its instance, as its artifact", theirs)
	}
	if !strings.Contains(out.String(), "taken while the build ran by "+theirs) || !strings.Contains(out.String(), "choose another `ami_name`") {
		t.Error("the build does not name the AMI that took its name and say what to do")
	}
	imgs, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{theirs}})
	if err != nil || len(imgs.Images) != 1 || imgs.Images[0].State == types.ImageStateDeregistered {
		t.Errorf("the other principal's AMI %s was removed (%v)", theirs, err)
	}
}

// TestE2EPlantedRoleIsNotAdopted: the build id shows in the temporary key
// pair's name, so another principal can create the build's role first,
// with the build's tag and a trust policy of their own. The build must
// fail, naming it, and neither fill it with the template's policy nor
// hand it to the instance.
func TestE2EPlantedRoleIsNotAdopted(t *testing.T) {
	bakeWithPlantedRole(t, nil, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}`,
		"is not what the build made")
}
