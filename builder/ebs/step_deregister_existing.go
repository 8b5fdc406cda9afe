package ebs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// stepDeregisterExisting makes way for the new AMI under `force_deregister`:
// the AMI of the same name goes right before CreateImage, so a build that
// fails earlier leaves it in place.
type stepDeregisterExisting struct {
	ec2             imageDeleter
	name            string
	force           bool
	deleteSnapshots bool
}

var _ multistep.Step = (*stepDeregisterExisting)(nil)

func (s *stepDeregisterExisting) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	if !s.force {
		return multistep.ActionContinue
	}
	ui := getUI(state)
	out, err := s.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{s.name}}},
	})
	if err != nil {
		return halt(state, fmt.Errorf("looking for the AMI named %q to replace: %w", s.name, err))
	}
	for _, img := range out.Images {
		id := aws.ToString(img.ImageId)
		if s.deleteSnapshots {
			ui.Say(fmt.Sprintf("Deregistering AMI %s (same name) and deleting its snapshots...", id))
			err = deleteImage(ctx, s.ec2, id)
		} else {
			ui.Say(fmt.Sprintf("Deregistering AMI %s (same name); its snapshots stay (`force_delete_snapshot` would delete them)...", id))
			_, err = s.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: img.ImageId})
		}
		if err != nil {
			return halt(state, fmt.Errorf("replacing AMI %s named %q: %w", id, s.name, err))
		}
	}
	return multistep.ActionContinue
}

func (s *stepDeregisterExisting) Cleanup(multistep.StateBag) {}

func (s *stepDeregisterExisting) awsCalls() []awsCall {
	if !s.force {
		return nil
	}
	return replaceImageCalls(s.ec2, s.deleteSnapshots)
}
