package ebs

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

type imageDeleter interface {
	DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	DeregisterImage(context.Context, *ec2.DeregisterImageInput, ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error)
	DeleteSnapshot(context.Context, *ec2.DeleteSnapshotInput, ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error)
}

// deleteImage deregisters an AMI and deletes the EBS snapshots behind it,
// which DeregisterImage alone leaves (and bills) behind.
func deleteImage(ctx context.Context, client imageDeleter, id string) error {
	out, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if apiErrorCode(err) == "InvalidAMIID.NotFound" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("describing AMI %s: %w", id, err)
	}
	if len(out.Images) == 0 { // already deregistered
		return nil
	}
	var snapshots []string
	for _, img := range out.Images {
		snapshots = append(snapshots, snapshotIDs(img)...)
	}
	if _, err := client.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil && apiErrorCode(err) != "InvalidAMIID.NotFound" {
		return fmt.Errorf("deregistering AMI %s: %w", id, err)
	}
	var errs []error
	for _, snap := range snapshots {
		if _, err := client.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)}); err != nil && apiErrorCode(err) != "InvalidSnapshot.NotFound" {
			errs = append(errs, fmt.Errorf("deleting snapshot %s of AMI %s: %w", snap, id, err))
		}
	}
	return errors.Join(errs...)
}

func snapshotIDs(img types.Image) []string {
	var ids []string
	for _, bdm := range img.BlockDeviceMappings {
		if bdm.Ebs != nil && bdm.Ebs.SnapshotId != nil {
			ids = append(ids, *bdm.Ebs.SnapshotId)
		}
	}
	return ids
}

// removeImageCalls are the calls of deleteImage on what the build made: a
// failed build removes the AMI it started (or its copies), `encrypt_boot`
// and `skip_save_build_region` the intermediate, and the artifact's Destroy
// the AMIs. Each of them, and its snapshots, carries the holder as its
// principal from its creation (ownedTags), so the policy removes only
// images and snapshots the holder made.
func removeImageCalls(client imageDeleter, snapshots bool) []awsCall {
	return imageRemovals(client, snapshots, Grant{Sid: "RemoveOwnImage", EC2: []string{"image/*", "snapshot/*"}, AMIRegions: true, Tagged: ResourceOwned})
}

// replaceImageCalls are the calls of `force_deregister` (and
// `force_delete_snapshot`): the AMI it replaces is whoever's bears the
// name, made before this version or by another principal, so nothing but
// its name can scope it. Only those options bring this grant in.
func replaceImageCalls(client imageDeleter, snapshots bool) []awsCall {
	return imageRemovals(client, snapshots, Grant{Sid: "ReplaceNamedImage", EC2: []string{"image/*", "snapshot/*"}, AMIRegions: true})
}

func imageRemovals(client imageDeleter, snapshots bool, grant Grant) []awsCall {
	grants := []Grant{grant}
	calls := append(describeImages(client), awsCall{action: "ec2:DeregisterImage", grants: grants, check: func(ctx context.Context) error {
		_, err := client.DeregisterImage(ctx, &ec2.DeregisterImageInput{DryRun: dryRun, ImageId: aws.String(placeholderImage)})
		return err
	}})
	if !snapshots {
		return calls
	}
	return append(calls, awsCall{action: "ec2:DeleteSnapshot", grants: grants, check: func(ctx context.Context) error {
		_, err := client.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{DryRun: dryRun, SnapshotId: aws.String(placeholderSnapshot)})
		return err
	}})
}
