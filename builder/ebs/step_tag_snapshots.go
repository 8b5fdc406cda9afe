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
	// written is the tags as written, for the permission check and the policy.
	written asWritten
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

func (s *stepTagSnapshots) awsCalls() []awsCall {
	tags := s.written.of(s.tags)
	if len(tags) == 0 {
		return nil
	}
	return []awsCall{tagSnapshots(s.ec2, tags)}
}

// tagSnapshots is CreateTags on the snapshots of the build's AMIs, with
// the snapshots' tags only (tags under snapshot_tags).
func tagSnapshots(client tagCreator, tags bakery.Tags) awsCall {
	return awsCall{action: "ec2:CreateTags",
		grants: []Grant{{Sid: "TagSnapshots", EC2: []string{"snapshot/*"}, AMIRegions: true, TagKeys: knownTagKeys(tags)}},
		check: func(ctx context.Context) error {
			_, err := client.CreateTags(ctx, &ec2.CreateTagsInput{DryRun: dryRun, Resources: []string{placeholderSnapshot}, Tags: tags.EC2()})
			return err
		}}
}
