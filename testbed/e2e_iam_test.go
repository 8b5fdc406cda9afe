//go:build e2e

package testbed_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

// TestIAMEnforcement: with Options.IAMEnforcement the bed's own requests
// pass (as its administrator), an IAM user gets exactly its policy, and a
// Reset keeps enforcing.
func TestIAMEnforcement(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := testbed.Start(ctx, testbed.Options{IAMEnforcement: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()

	check := func(t *testing.T) {
		cfg, err := b.AWSConfig(ctx, "us-east-1")
		if err != nil {
			t.Fatal(err)
		}
		// The bed's own credentials act as the administrator.
		if _, err := ec2.NewFromConfig(cfg).DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}}); err != nil {
			t.Fatalf("the bed's own request was refused: %v", err)
		}
		admin := iam.NewFromConfig(cfg)
		if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("only-vpcs")}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("only-vpcs"), PolicyName: aws.String("p"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeVpcs","Resource":"*"}]}`)}); err != nil {
			t.Fatal(err)
		}
		key, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("only-vpcs")})
		if err != nil {
			t.Fatal(err)
		}
		user := cfg.Copy()
		user.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")
		client := ec2.NewFromConfig(user)
		if _, err := client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); err != nil {
			t.Errorf("the allowed call was refused: %v", err)
		}
		_, err = client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" || !strings.Contains(apiErr.ErrorMessage(), "ec2:DescribeImages") {
			t.Errorf("a call outside the policy: got %v, want AccessDenied naming ec2:DescribeImages", err)
		}
	}
	t.Run("after start", check)
	if err := b.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("after reset", check)
}
