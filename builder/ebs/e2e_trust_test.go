//go:build e2e

package ebs_test

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
