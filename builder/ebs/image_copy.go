package ebs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// imageCopier is what copying an AMI into one region takes, and removing
// the copy again.
type imageCopier interface {
	CopyImage(context.Context, *ec2.CopyImageInput, ...func(*ec2.Options)) (*ec2.CopyImageOutput, error)
	CreateTags(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	imageDeleter
}

// imageCopy is one CopyImage into region, waited for and tagged.
type imageCopy struct {
	client       imageCopier
	region       string // where the copy is made
	sourceRegion string
	sourceID     string
	name         string
	description  string
	encrypt      bool
	kmsKey       string // "" with encrypt: the region's default EBS key
	token        string // ClientToken: a retried CopyImage makes no second copy
	tags         bakery.Tags
	snapshotTags bakery.Tags
	owner        bakery.Tags // given to the copy and its snapshots in CopyImage (ownedTags)
	poll         bakery.Poll
	say          func(string)
	// started is called the moment EC2 returns the copy's ID, before any
	// wait, so that a failed or killed build knows what to remove.
	started func(id string)
}

// run copies, waits until the copy is available, and tags it and its
// snapshots. The copy's ID is passed to started even when run fails later.
func (c imageCopy) run(ctx context.Context) (types.Image, error) {
	in := &ec2.CopyImageInput{
		SourceImageId: aws.String(c.sourceID),
		SourceRegion:  aws.String(c.sourceRegion),
		Name:          aws.String(c.name),
		ClientToken:   aws.String(c.token),
		// The user's tags follow (after the call, as amazon-ebs does); the
		// holder's principal must be there from the start: the policy
		// removes only what carries it.
		TagSpecifications: imageTagSpecs(nil, c.owner),
	}
	if c.description != "" {
		in.Description = aws.String(c.description)
	}
	if c.encrypt {
		in.Encrypted = aws.Bool(true)
		if c.kmsKey != "" {
			in.KmsKeyId = aws.String(c.kmsKey)
		}
	}
	out, err := c.client.CopyImage(ctx, in)
	if err != nil {
		return types.Image{}, fmt.Errorf("copying AMI %s from %s to %s: %w", c.sourceID, c.sourceRegion, c.region, err)
	}
	id := aws.ToString(out.ImageId)
	c.started(id)
	// Tagged at once (not after the wait), so that whoever looks at the
	// region while the copy runs sees what it is.
	if len(c.tags) > 0 {
		if _, err := c.client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: c.tags.EC2()}); err != nil {
			return types.Image{}, fmt.Errorf("tagging AMI %s in %s: %w", id, c.region, err)
		}
	}
	img, err := waitForImage(ctx, c.client, id, c.region, c.poll, c.say)
	if err != nil {
		return types.Image{}, err
	}
	if snaps := snapshotIDs(img); len(snaps) > 0 && len(c.snapshotTags) > 0 {
		if _, err := c.client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: snaps, Tags: c.snapshotTags.EC2()}); err != nil {
			return types.Image{}, fmt.Errorf("tagging snapshots %v of AMI %s in %s: %w", snaps, id, c.region, err)
		}
	}
	return img, nil
}

// waitForImage waits until AMI id in region is available and returns it.
func waitForImage(ctx context.Context, client bakery.ImageDescriber, id, region string, poll bakery.Poll, say func(string)) (types.Image, error) {
	var img types.Image
	err := bakery.Wait(ctx, say, fmt.Sprintf("AMI %s in %s to become available", id, region), poll, func(ctx context.Context) (bool, string, error) {
		out, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		if apiErrorCode(err) == "InvalidAMIID.NotFound" || (err == nil && len(out.Images) == 0) {
			return false, "not visible yet", nil
		}
		if err != nil {
			return false, "", fmt.Errorf("describing AMI %s in %s: %w", id, region, err)
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
			return false, string(img.State), fmt.Errorf("AMI %s in %s is %s: %s", id, region, img.State, reason)
		}
	})
	return img, err
}

// imageTagSpecs are the TagSpecifications of an AMI made by CreateImage or
// CopyImage: the AMI gets tags and owner, its snapshots owner (their
// user's tags follow in CreateTags, stepTagSnapshots).
func imageTagSpecs(tags, owner bakery.Tags) []types.TagSpecification {
	return append(tags.Merge(owner).Spec(types.ResourceTypeImage), owner.Spec(types.ResourceTypeSnapshot)...)
}

// ownedTags are the tags the build's product carries besides the user's:
// bakery:principal, so that the policy's holder may remove what it made and
// nothing else. Not the build id, nor created-at/-by: those mark
// temporaries, which the sweep removes. Empty when the principal is
// unknown (skip_credential_validation).
func ownedTags(principal string) bakery.Tags {
	if principal == "" {
		return nil
	}
	return bakery.Tags{bakery.TagPrincipal: principal}
}

// copyCalls are the calls of imageCopy into a region, and of removing the
// copy: with tags, the copy is tagged after CopyImage (`tags` only); keys
// are the KMS keys it is encrypted with. The source is always the build's
// own AMI, which carries the holder as its principal; the copy and its
// snapshots are made in the holder's name.
func copyCalls(client imageCopier, sourceRegion string, tags, snapshotTags, owner bakery.Tags, keys []string) []awsCall {
	calls := []awsCall{{action: "ec2:CopyImage", grants: []Grant{
		{Sid: "CopyOwnImage", EC2: []string{"image/*", "snapshot/*"}, AMIRegions: true, Tagged: ResourceOwned},
		{Sid: "CopyToOwnedImage", EC2: []string{"image/*", "snapshot/*"}, AMIRegions: true, Tagged: RequestOwned}},
		check: func(ctx context.Context) error {
			_, err := client.CopyImage(ctx, &ec2.CopyImageInput{DryRun: dryRun, Name: aws.String(placeholderName),
				SourceImageId: aws.String(placeholderImage), SourceRegion: aws.String(sourceRegion), TagSpecifications: imageTagSpecs(nil, owner)})
			return err
		}},
		{action: "ec2:CreateTags", partOf: "ec2:CopyImage", grants: []Grant{{Sid: "TagOnCreate", EC2: []string{"image/*", "snapshot/*"},
			AMIRegions: true, CreateActions: []string{"CopyImage"}}}}}
	if len(tags) > 0 {
		calls = append(calls, awsCall{action: "ec2:CreateTags",
			grants: []Grant{{Sid: "TagCopies", EC2: []string{"image/*"}, AMIRegions: true, TagKeys: knownTagKeys(tags)}},
			check: func(ctx context.Context) error {
				_, err := client.CreateTags(ctx, &ec2.CreateTagsInput{DryRun: dryRun, Resources: []string{placeholderImage}, Tags: tags.EC2()})
				return err
			}})
	}
	if len(snapshotTags) > 0 {
		calls = append(calls, tagSnapshots(client, snapshotTags))
	}
	return append(append(calls, removeImageCalls(client, true)...), kmsCalls("ec2:CopyImage", "UseImageKeys", true, keys)...)
}
