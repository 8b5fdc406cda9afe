package ebs

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

type tagCreator interface {
	CreateTags(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
}

// stepTagSnapshots tags the AMI's snapshots once CreateImage has made them.
// CreateImage can tag snapshots at creation on AWS, but not on every
// EC2-compatible API (moto answers 500), so this is done as a second call,
// as amazon-ebs does.
type stepTagSnapshots struct {
	ec2  tagCreator
	tags bakery.Tags
}

var _ multistep.Step = (*stepTagSnapshots)(nil)

func (s *stepTagSnapshots) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	img, ok := getImage(state)
	if !ok || len(s.tags) == 0 {
		return multistep.ActionContinue
	}
	ids := snapshotIDs(img)
	if len(ids) == 0 {
		return multistep.ActionContinue
	}
	getUI(state).Say(fmt.Sprintf("Tagging snapshots %s", strings.Join(ids, ", ")))
	if _, err := s.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids, Tags: s.tags.EC2()}); err != nil {
		return halt(state, fmt.Errorf("tagging snapshots %v: %w", ids, err))
	}
	return multistep.ActionContinue
}

func (s *stepTagSnapshots) Cleanup(multistep.StateBag) {}
