package ebs

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

type imageAttributeSetter interface {
	ModifyImageAttribute(context.Context, *ec2.ModifyImageAttributeInput, ...func(*ec2.Options)) (*ec2.ModifyImageAttributeOutput, error)
	EnableImageDeprecation(context.Context, *ec2.EnableImageDeprecationInput, ...func(*ec2.Options)) (*ec2.EnableImageDeprecationOutput, error)
}

// stepAMIAttributes sets `imds_support` and `deprecate_at` on the AMI in
// every region (CopyImage does not carry the deprecation time over).
type stepAMIAttributes struct {
	client      func(region string) imageAttributeSetter
	buildRegion string
	imdsSupport string
	deprecateAt time.Time // zero: not deprecated
	// deprecates: `deprecate_at` is set, though its time may be known only
	// when the build runs (a policy written before).
	deprecates bool
}

var _ multistep.Step = (*stepAMIAttributes)(nil)

func (s *stepAMIAttributes) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	if s.imdsSupport == "" && s.deprecateAt.IsZero() {
		return multistep.ActionContinue
	}
	ui := getUI(state)
	images := getImages(state, s.buildRegion)
	regions := make([]string, 0, len(images))
	for r := range images {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	for _, r := range regions {
		id := images[r].ImageId
		client := s.client(r)
		if s.imdsSupport != "" {
			ui.Say(fmt.Sprintf("%s: AMI %s requires IMDSv2 (imds_support %s)", r, aws.ToString(id), s.imdsSupport))
			if _, err := client.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
				ImageId: id, ImdsSupport: &types.AttributeValue{Value: aws.String(s.imdsSupport)},
			}); err != nil {
				return halt(state, fmt.Errorf("setting `imds_support` on AMI %s in %s: %w", aws.ToString(id), r, err))
			}
		}
		if !s.deprecateAt.IsZero() {
			ui.Say(fmt.Sprintf("%s: AMI %s is deprecated from %s", r, aws.ToString(id), s.deprecateAt.UTC().Format(time.RFC3339)))
			if _, err := client.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{
				ImageId: id, DeprecateAt: aws.Time(s.deprecateAt),
			}); err != nil {
				return halt(state, fmt.Errorf("setting `deprecate_at` on AMI %s in %s: %w", aws.ToString(id), r, err))
			}
		}
	}
	return multistep.ActionContinue
}

func (s *stepAMIAttributes) Cleanup(multistep.StateBag) {}

func (s *stepAMIAttributes) awsCalls() []awsCall {
	var calls []awsCall
	if s.imdsSupport != "" {
		calls = append(calls, modifyImageAttribute(s.client(s.buildRegion)))
	}
	if s.deprecates || !s.deprecateAt.IsZero() {
		client := s.client(s.buildRegion)
		calls = append(calls, awsCall{action: "ec2:EnableImageDeprecation",
			grants: []Grant{{Sid: "DeprecateImages", EC2: []string{"image/*"}, AMIRegions: true}},
			check: func(ctx context.Context) error {
				_, err := client.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{DryRun: dryRun, ImageId: aws.String(placeholderImage),
					DeprecateAt: aws.Time(s.deprecateAt)}, noRetry)
				return err
			}})
	}
	return calls
}

// modifyImageAttribute sets the AMIs' attributes and launch permissions.
func modifyImageAttribute(client interface {
	ModifyImageAttribute(context.Context, *ec2.ModifyImageAttributeInput, ...func(*ec2.Options)) (*ec2.ModifyImageAttributeOutput, error)
}) awsCall {
	return awsCall{action: "ec2:ModifyImageAttribute", grants: []Grant{{Sid: "SetImageAttributes", EC2: []string{"image/*"}, AMIRegions: true}},
		check: func(ctx context.Context) error {
			_, err := client.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{DryRun: dryRun, ImageId: aws.String(placeholderImage),
				Attribute: aws.String("launchPermission"), OperationType: types.OperationTypeAdd, UserIds: []string{"123456789012"}})
			return err
		}}
}
