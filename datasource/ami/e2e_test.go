//go:build e2e

package ami_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

var suite testbed.Suite

func TestMain(m *testing.M) { os.Exit(testbed.RunSuite(m, testbed.Options{}, &suite)) }

func packerBuild(t *testing.T, nameFilter string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.Packer, "build", "-color=false",
		"-var", "name_filter="+nameFilter, "testdata/lookup")
	cmd.Env = suite.Bed.PackerEnv(suite.PluginPath, t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("packer build:\n%s", out)
	return string(out), err
}

// TestE2ELookupFindsNewestMatch compares what the data source reports with
// what EC2 itself says is the newest matching AMI.
func TestE2ELookupFindsNewestMatch(t *testing.T) {
	client, err := suite.Bed.EC2(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.DescribeImages(context.Background(), &ec2.DescribeImagesInput{
		Owners:  []string{"137112412989"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"amzn2-ami-hvm-*-x86_64-gp2"}}},
	})
	if err != nil || len(out.Images) < 2 {
		t.Fatalf("the emulator's catalogue should hold several matches (got %d, %v)", len(out.Images), err)
	}
	newest := out.Images[0]
	for _, img := range out.Images[1:] {
		if aws.ToString(img.CreationDate) > aws.ToString(newest.CreationDate) {
			newest = img
		}
	}

	output, err := packerBuild(t, "amzn2-ami-hvm-*-x86_64-gp2")
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	want := fmt.Sprintf("found id=%s name=%s owner=137112412989 created=%s",
		aws.ToString(newest.ImageId), aws.ToString(newest.Name), aws.ToString(newest.CreationDate))
	if !strings.Contains(output, want) {
		t.Errorf("output lacks %q", want)
	}
}

func TestE2ELookupWithoutMatchFails(t *testing.T) {
	output, err := packerBuild(t, "no-such-image-*")
	if err == nil {
		t.Fatal("packer build succeeded without a matching AMI")
	}
	if !strings.Contains(output, "no AMI matches") {
		t.Errorf("the error does not say that no AMI matched")
	}
}
