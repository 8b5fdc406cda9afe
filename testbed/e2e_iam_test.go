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
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
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

// With the fault proxy in front of the IAM gate, a request whose body the
// proxy changes (CreateImage without its snapshot tags, which moto cannot
// take) is still judged as its caller's: allowed by the caller's policy,
// refused without it, never passed as the bed's administrator.
func TestIAMEnforcementBehindTheFaultProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := testbed.Start(ctx, testbed.Options{IAMEnforcement: true, FaultProxy: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	cfg, err := b.AWSConfig(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	admin := ec2.NewFromConfig(cfg)
	images, err := admin.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(images.Images) == 0 {
		t.Fatalf("no source AMI: %v", err)
	}
	run, err := admin.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: images.Images[0].ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	userClient := func(name, action string) *ec2.Client {
		t.Helper()
		a := iam.NewFromConfig(cfg)
		if _, err := a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("p"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action + `","Resource":"*"}]}`)}); err != nil {
			t.Fatal(err)
		}
		key, err := a.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		user := cfg.Copy()
		user.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")
		return ec2.NewFromConfig(user)
	}
	in := func(name string) *ec2.CreateImageInput {
		return &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String(name),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot, Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}}
	}
	if _, err := userClient("imager", "ec2:CreateImage").CreateImage(ctx, in("allowed")); err != nil {
		t.Errorf("CreateImage with snapshot tags, allowed by the caller's policy: %v", err)
	}
	_, err = userClient("vpcs-only", "ec2:DescribeVpcs").CreateImage(ctx, in("refused"))
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" || !strings.Contains(apiErr.ErrorMessage(), "ec2:CreateImage") {
		t.Errorf("CreateImage outside the caller's policy: got %v, want AccessDenied naming ec2:CreateImage", err)
	}
}
