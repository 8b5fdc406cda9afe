package ebs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
)

type instanceAttributeModifier interface {
	ModifyInstanceAttribute(context.Context, *ec2.ModifyInstanceAttributeInput, ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error)
}

// stepModifyInstanceAttrs sets `ena_support` and `sriov_support` on the
// stopped instance, so that CreateImage gives them to the AMI (as
// amazon-ebs does: an AMI's ENA and SR-IOV flags cannot be changed later).
type stepModifyInstanceAttrs struct {
	ec2   instanceAttributeModifier
	ena   config.Trilean
	sriov bool
}

var _ multistep.Step = (*stepModifyInstanceAttrs)(nil)

func (s *stepModifyInstanceAttrs) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	id := getInstance(state).InstanceId
	ui := getUI(state)
	if s.ena != config.TriUnset {
		ui.Say(fmt.Sprintf("Setting ENA support of instance %s to %t...", aws.ToString(id), s.ena.True()))
		if _, err := s.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId: id, EnaSupport: &types.AttributeBooleanValue{Value: aws.Bool(s.ena.True())},
		}); err != nil {
			return halt(state, fmt.Errorf("setting `ena_support` on instance %s (needs ec2:ModifyInstanceAttribute): %w", aws.ToString(id), err))
		}
	}
	if s.sriov {
		ui.Say(fmt.Sprintf("Enabling SR-IOV networking on instance %s...", aws.ToString(id)))
		if _, err := s.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId: id, SriovNetSupport: &types.AttributeValue{Value: aws.String("simple")},
		}); err != nil {
			return halt(state, fmt.Errorf("setting `sriov_support` on instance %s (needs ec2:ModifyInstanceAttribute): %w", aws.ToString(id), err))
		}
	}
	return multistep.ActionContinue
}

func (s *stepModifyInstanceAttrs) Cleanup(multistep.StateBag) {}

func (s *stepModifyInstanceAttrs) awsCalls() []awsCall {
	if s.ena == config.TriUnset && !s.sriov {
		return nil
	}
	return []awsCall{{action: "ec2:ModifyInstanceAttribute",
		grants: []Grant{{Sid: "SetOwnInstanceAttributes", EC2: []string{"instance/*"}, Tagged: ResourceTagged}},
		check: func(ctx context.Context) error {
			_, err := s.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{DryRun: dryRun, InstanceId: aws.String(placeholderInstance),
				EnaSupport: &types.AttributeBooleanValue{Value: aws.Bool(true)}})
			return err
		}}}
}
