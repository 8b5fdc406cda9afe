package ebs

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

type imageCreator interface {
	CreateImage(context.Context, *ec2.CreateImageInput, ...func(*ec2.Options)) (*ec2.CreateImageOutput, error)
	imageDeleter
}

// stepCreateImage makes the AMI from the stopped instance and waits until it
// is available. If the build fails after CreateImage (a failed wait, a
// later step, Ctrl-C), Cleanup removes the half-made AMI and its snapshots.
type stepCreateImage struct {
	ec2         imageCreator
	name        string
	description *string // nil or empty: none
	tags        bakery.Tags
	// owner is what the AMI and its snapshots carry besides tags, given in
	// CreateImage itself: bakery:principal (ownedTags), which the policy
	// asks for to create and to remove them.
	owner    bakery.Tags
	mappings []types.BlockDeviceMapping // ami_block_device_mappings
	region   string
	poll     bakery.Poll
	journal  *journal.Journal
	bootMode types.BootModeOverrideValues // `boot_mode = "uefi"`
	imageID  string
	written  asWritten // the tags as written, for the permission check and the policy
}

var _ multistep.Step = (*stepCreateImage)(nil)

func (s *stepCreateImage) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	instanceID := aws.ToString(getInstance(state).InstanceId)
	ui.Say(fmt.Sprintf("Creating AMI %q from instance %s...", s.name, instanceID))
	in := &ec2.CreateImageInput{
		InstanceId:        aws.String(instanceID),
		Name:              aws.String(s.name),
		TagSpecifications: imageTagSpecs(s.tags, s.owner),
		BootModeOverride:  s.bootMode,
	}
	in.BlockDeviceMappings = s.mappings
	if aws.ToString(s.description) != "" {
		in.Description = s.description
	}
	var sent attempts
	out, err := s.ec2.CreateImage(ctx, in, func(o *ec2.Options) { o.APIOptions = append(o.APIOptions, sent.apiOption) })
	switch {
	case apiErrorCode(err) == "InvalidAMIName.Duplicate" && !sent.earlierMayHaveTakenEffect():
		// No attempt of ours can have made it: the name was taken after
		// stepCheckAMIName, by someone else, even from our instance.
		err = s.taken(ctx, err)
	case apiErrorCode(err) == "InvalidAMIName.Duplicate":
		// CreateImage has no ClientToken: after a lost reply the SDK's
		// retry meets the AMI the first attempt started.
		if s.imageID, err = s.adopt(ctx, instanceID); err == nil {
			ui.Say(fmt.Sprintf("AMI %s was started by an attempt whose reply was lost; using it", s.imageID))
		}
	case err == nil:
		s.imageID = aws.ToString(out.ImageId)
		ui.Say(fmt.Sprintf("AMI %s requested", s.imageID))
	}
	if err != nil {
		return halt(state, fmt.Errorf("creating AMI %q: %w", s.name, err))
	}
	_ = s.journal.RecordImage(s.imageID, "", instanceID)

	var img types.Image
	err = bakery.Wait(ctx, ui.Say, "AMI "+s.imageID+" to become available", s.poll, func(ctx context.Context) (bool, string, error) {
		out, err := s.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{s.imageID}})
		if apiErrorCode(err) == "InvalidAMIID.NotFound" || (err == nil && len(out.Images) == 0) {
			return false, "not visible yet", nil
		}
		if err != nil {
			return false, "", fmt.Errorf("describing AMI %s: %w", s.imageID, err)
		}
		img = out.Images[0]
		switch img.State {
		case types.ImageStateAvailable:
			return true, string(img.State), nil
		case types.ImageStatePending:
			return false, string(img.State), nil
		default:
			reason := "no reason given"
			if img.StateReason != nil {
				reason = aws.ToString(img.StateReason.Message)
			}
			return false, string(img.State), fmt.Errorf("AMI %s is %s: %s", s.imageID, img.State, reason)
		}
	})
	if err != nil {
		return halt(state, err)
	}
	putImage(state, img)
	ui.Say(fmt.Sprintf("AMI %s is available in %s", s.imageID, s.region))
	return multistep.ActionContinue
}

// adopt returns the AMI named s.name if it was made from this build's
// instance. The name was free when the build started (stepCheckAMIName);
// where EC2 reports the source instance, it must be ours.
func (s *stepCreateImage) adopt(ctx context.Context, instanceID string) (string, error) {
	out, err := s.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{s.name}}},
	})
	if err != nil {
		return "", fmt.Errorf("the name is taken; describing that AMI: %w", err)
	}
	if len(out.Images) != 1 {
		return "", fmt.Errorf("the name is taken by %d AMIs: choose another `ami_name`", len(out.Images))
	}
	img := out.Images[0]
	// Only AWS's own record counts: the AMI was made from this build's
	// instance. Its name and tags are anyone's to copy, and an AMI made by
	// RegisterImage or CopyImage has no source instance at all.
	switch src := aws.ToString(img.SourceInstanceId); src {
	case instanceID:
	case "":
		return "", fmt.Errorf("the name is taken by %s, which was not made from this build's instance %s (it has no source instance: registered or copied by someone): choose another `ami_name`",
			aws.ToString(img.ImageId), instanceID)
	default:
		return "", fmt.Errorf("the name is taken by %s, made from instance %s, not this build's %s: choose another `ami_name`",
			aws.ToString(img.ImageId), src, instanceID)
	}
	return aws.ToString(img.ImageId), nil
}

// taken is the error for a name another principal took while the build
// ran: it names the AMI when it can, and leaves it alone.
func (s *stepCreateImage) taken(ctx context.Context, dup error) error {
	out, err := s.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{s.name}}},
	})
	if err != nil || len(out.Images) == 0 {
		return fmt.Errorf("the name was taken while the build ran, not by this build (its first CreateImage was refused): choose another `ami_name`: %w", dup)
	}
	ids := make([]string, 0, len(out.Images))
	for _, img := range out.Images {
		ids = append(ids, aws.ToString(img.ImageId))
	}
	return fmt.Errorf("the name was taken while the build ran by %s, not by this build (its first CreateImage was refused, so no attempt of ours made it; it is left alone): choose another `ami_name`",
		strings.Join(ids, ", "))
}

func (s *stepCreateImage) Cleanup(state multistep.StateBag) {
	if s.imageID == "" {
		return
	}
	if !buildFailed(state) {
		_ = s.journal.Forget(s.imageID) // the build's product: the user's now
		return
	}
	ui := getUI(state)
	ctx, cancel := cleanupContext()
	defer cancel()
	ui.Say(fmt.Sprintf("The build failed: deregistering AMI %s and deleting its snapshots...", s.imageID))
	if err := deleteImage(ctx, s.ec2, s.imageID); err != nil {
		cleanupFailed(ui, "AMI", s.imageID, "aws ec2 deregister-image --image-id "+s.imageID+" (then delete its snapshots)", err)
		return
	}
	_ = s.journal.Forget(s.imageID)
}

func (s *stepCreateImage) awsCalls() []awsCall {
	calls := []awsCall{{action: "ec2:CreateImage", grants: []Grant{
		{Sid: "ImageFromOwnInstance", EC2: []string{"instance/*"}, Tagged: ResourceTagged},
		{Sid: "CreateOwnedImage", EC2: []string{"image/*", "snapshot/*"}, Tagged: RequestOwned}},
		check: func(ctx context.Context) error {
			_, err := s.ec2.CreateImage(ctx, &ec2.CreateImageInput{DryRun: dryRun, InstanceId: aws.String(placeholderInstance),
				Name: aws.String(placeholderName), TagSpecifications: imageTagSpecs(s.written.of(s.tags), s.owner)})
			return err
		}}}
	// The AMI and its snapshots are always tagged in the call (owner).
	calls = append(calls, awsCall{action: "ec2:CreateTags", partOf: "ec2:CreateImage", grants: []Grant{tagOnCreate("CreateImage", "image/*", "snapshot/*")}})
	var keys []string
	for _, m := range s.mappings {
		if m.Ebs != nil && aws.ToString(m.Ebs.KmsKeyId) != "" {
			keys = append(keys, aws.ToString(m.Ebs.KmsKeyId))
		}
	}
	// Cleanup removes a half-made AMI with its snapshots.
	return append(append(calls, removeImageCalls(s.ec2, true)...), kmsCalls("ec2:CreateImage", "UseVolumeKeys", false, keys)...)
}
