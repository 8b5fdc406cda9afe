package ebs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// stepCheckAMIName fails the build before anything is launched when the AMI
// name is already taken: CreateImage would refuse it only after the whole
// provisioning run.
type stepCheckAMIName struct {
	ec2    bakery.ImageDescriber
	name   string
	region string
	force  bool // force_deregister: a taken name is replaced, later
}

var _ multistep.Step = (*stepCheckAMIName)(nil)

func (s *stepCheckAMIName) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	getUI(state).Say(fmt.Sprintf("Checking that AMI name %q is free in %s...", s.name, s.region))
	out, err := s.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{s.name}}},
	})
	if err != nil {
		return halt(state, fmt.Errorf("looking for an existing AMI named %q: %w", s.name, err))
	}
	if len(out.Images) > 0 && s.force {
		getUI(state).Say(fmt.Sprintf("AMI %s has that name; `force_deregister` replaces it once the new one can be made",
			aws.ToString(out.Images[0].ImageId)))
		return multistep.ActionContinue
	}
	if len(out.Images) > 0 {
		return halt(state, fmt.Errorf("an AMI named %q already exists in %s (%s): choose another `ami_name`, set `force_deregister = true`, or run `packer build -force`",
			s.name, s.region, aws.ToString(out.Images[0].ImageId)))
	}
	return multistep.ActionContinue
}

func (s *stepCheckAMIName) Cleanup(multistep.StateBag) {}

func (s *stepCheckAMIName) awsCalls() []awsCall {
	return describeImages(s.ec2)
}
