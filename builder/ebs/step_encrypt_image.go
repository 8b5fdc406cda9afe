package ebs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// stepEncryptImage, with `encrypt_boot = true`, turns the unencrypted
// intermediate AMI stepCreateImage made into the encrypted AMI named
// `ami_name` in the build region: CopyImage with encryption (and
// `kms_key_id`), then the intermediate and its snapshots are removed, as
// amazon-ebs does. If the build fails afterwards, Cleanup removes the
// encrypted copy.
type stepEncryptImage struct {
	ec2          imageCopier
	region       string
	name         string
	description  *string // ami_description, rendered
	kmsKey       string
	buildID      string
	tags         bakery.Tags
	snapshotTags bakery.Tags
	owner        bakery.Tags // ownedTags
	poll         bakery.Poll
	journal      *journal.Journal
	imageID      string
	written      asWritten // the tags as written, for the permission check and the policy
}

var _ multistep.Step = (*stepEncryptImage)(nil)

func (s *stepEncryptImage) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	src, ok := getImage(state)
	if !ok {
		return multistep.ActionContinue
	}
	srcID := aws.ToString(src.ImageId)
	key := s.kmsKey
	if key == "" {
		key = "the region's default EBS key"
	}
	ui.Say(fmt.Sprintf("Encrypting: copying AMI %s as %q with %s...", srcID, s.name, key))
	img, err := imageCopy{
		client: s.ec2, region: s.region, sourceRegion: s.region, sourceID: srcID,
		name: s.name, description: aws.ToString(s.description), encrypt: true, kmsKey: s.kmsKey,
		token: copyToken(s.buildID, "encrypt", s.region), tags: s.tags, snapshotTags: s.snapshotTags, owner: s.owner,
		poll: s.poll, say: ui.Say,
		started: func(id string) {
			s.imageID = id
			_ = s.journal.RecordImage(id, s.region, srcID)
			ui.Say(fmt.Sprintf("Encrypted AMI %s requested", id))
		},
	}.run(ctx)
	if err != nil {
		return halt(state, fmt.Errorf("encrypting AMI %s (`encrypt_boot`): %w", srcID, err))
	}
	ui.Say(fmt.Sprintf("Removing the unencrypted intermediate AMI %s and its snapshots...", srcID))
	if err := deleteImage(ctx, s.ec2, srcID); err != nil {
		// An unencrypted copy of what the user asked to encrypt must not
		// stay behind: fail, and let the cleanups remove both.
		return halt(state, fmt.Errorf("removing the unencrypted intermediate AMI %s: %w", srcID, err))
	}
	_ = s.journal.Forget(srcID)
	putImage(state, img)
	ui.Say(fmt.Sprintf("AMI %s (encrypted) is available in %s", s.imageID, s.region))
	return multistep.ActionContinue
}

func (s *stepEncryptImage) Cleanup(state multistep.StateBag) {
	if s.imageID == "" {
		return
	}
	if !buildFailed(state) {
		_ = s.journal.Forget(s.imageID)
		return
	}
	ui := getUI(state)
	ctx, cancel := cleanupContext()
	defer cancel()
	ui.Say(fmt.Sprintf("The build failed: deregistering encrypted AMI %s and deleting its snapshots...", s.imageID))
	if err := deleteImage(ctx, s.ec2, s.imageID); err != nil {
		cleanupFailed(ui, "AMI", s.imageID, fmt.Sprintf("aws ec2 deregister-image --region %s --image-id %s (then delete its snapshots)", s.region, s.imageID), err)
		return
	}
	_ = s.journal.Forget(s.imageID)
}

func (s *stepEncryptImage) awsCalls() []awsCall {
	var keys []string
	if s.kmsKey != "" {
		keys = []string{s.kmsKey}
	}
	return copyCalls(s.ec2, s.region, s.written.of(s.tags), s.written.of(s.snapshotTags), s.owner, keys)
}
