package ebs

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

type imageSharer interface {
	ModifyImageAttribute(context.Context, *ec2.ModifyImageAttributeInput, ...func(*ec2.Options)) (*ec2.ModifyImageAttributeOutput, error)
	ModifySnapshotAttribute(context.Context, *ec2.ModifySnapshotAttributeInput, ...func(*ec2.Options)) (*ec2.ModifySnapshotAttributeOutput, error)
}

// stepShareImages grants launch permission on the AMI (`ami_users`,
// `ami_groups`, `ami_org_arns`, `ami_ou_arns`) and create-volume permission
// on its snapshots (`snapshot_users`, `snapshot_groups`) in every region.
// It runs last, so nothing is shared before it is finished.
type stepShareImages struct {
	client         func(region string) imageSharer
	buildRegion    string
	users          []string
	groups         []string
	orgARNs        []string
	ouARNs         []string
	snapshotUsers  []string
	snapshotGroups []string
	// kmsKey is the key the user configured for a region ("" for none).
	kmsKey func(region string) string
}

var _ multistep.Step = (*stepShareImages)(nil)

func (s *stepShareImages) launchPermissions() []types.LaunchPermission {
	var perms []types.LaunchPermission
	for _, u := range s.users {
		perms = append(perms, types.LaunchPermission{UserId: aws.String(u)})
	}
	for _, g := range s.groups {
		perms = append(perms, types.LaunchPermission{Group: types.PermissionGroup(g)})
	}
	for _, arn := range s.orgARNs {
		perms = append(perms, types.LaunchPermission{OrganizationArn: aws.String(arn)})
	}
	for _, arn := range s.ouARNs {
		perms = append(perms, types.LaunchPermission{OrganizationalUnitArn: aws.String(arn)})
	}
	return perms
}

func (s *stepShareImages) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	perms := s.launchPermissions()
	if len(perms) == 0 && len(s.snapshotUsers) == 0 && len(s.snapshotGroups) == 0 {
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
		img := images[r]
		id := aws.ToString(img.ImageId)
		client := s.client(r)
		if len(perms) > 0 {
			s.warnDefaultKey(ui.Say, r, img)
			ui.Say(fmt.Sprintf("%s: sharing AMI %s with %s", r, id, s.launchWho()))
			if _, err := client.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
				ImageId:          img.ImageId,
				LaunchPermission: &types.LaunchPermissionModifications{Add: perms},
			}); err != nil {
				return halt(state, fmt.Errorf("sharing AMI %s in %s: %w", id, r, err))
			}
		}
		if len(s.snapshotUsers) == 0 && len(s.snapshotGroups) == 0 {
			continue
		}
		for _, snap := range snapshotIDs(img) {
			ui.Say(fmt.Sprintf("%s: sharing snapshot %s with %s", r, snap, strings.Join(append(append([]string{}, s.snapshotUsers...), s.snapshotGroups...), ", ")))
			// UserIds/GroupNames rather than CreateVolumePermission: EC2
			// takes both, and EC2-compatible APIs (moto) only the former.
			if _, err := client.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
				SnapshotId:    aws.String(snap),
				Attribute:     types.SnapshotAttributeNameCreateVolumePermission,
				OperationType: types.OperationTypeAdd,
				UserIds:       s.snapshotUsers,
				GroupNames:    s.snapshotGroups,
			}); err != nil {
				return halt(state, fmt.Errorf("sharing snapshot %s of AMI %s in %s: %w", snap, id, r, err))
			}
		}
	}
	return multistep.ActionContinue
}

func (s *stepShareImages) launchWho() string {
	var who []string
	who = append(who, s.users...)
	for _, g := range s.groups {
		if g == "all" {
			g = "everyone (public)"
		}
		who = append(who, g)
	}
	who = append(who, s.orgARNs...)
	who = append(who, s.ouARNs...)
	return strings.Join(who, ", ")
}

// warnDefaultKey: an AMI that is encrypted although the template names no
// key (its source AMI was) uses a key the build knows nothing about; if
// it is the region's default EBS key, the accounts it is shared with
// cannot launch it. Prepare refuses the cases it can see; this is the one
// only the image shows.
func (s *stepShareImages) warnDefaultKey(say func(string), region string, img types.Image) {
	if s.kmsKey(region) != "" || (len(s.users) == 0 && len(s.orgARNs) == 0 && len(s.ouARNs) == 0) {
		return
	}
	for _, bdm := range img.BlockDeviceMappings {
		if bdm.Ebs != nil && aws.ToBool(bdm.Ebs.Encrypted) {
			key := aws.ToString(bdm.Ebs.KmsKeyId)
			if key == "" {
				key = "a key EC2 does not name (likely the default EBS key)"
			}
			say(fmt.Sprintf("Warning: %s: AMI %s is encrypted with %s. Accounts it is shared with can launch it only if that is a customer managed key whose policy lets them use it; the default EBS key (aws/ebs) cannot be shared. Set `encrypt_boot = true` with `kms_key_id`/`region_kms_key_ids` to re-encrypt with a key you can share.",
				region, aws.ToString(img.ImageId), key))
			return
		}
	}
}

func (s *stepShareImages) Cleanup(multistep.StateBag) {}

func (s *stepShareImages) awsCalls() []awsCall {
	var calls []awsCall
	client := s.client(s.buildRegion)
	if len(s.launchPermissions()) > 0 {
		calls = append(calls, modifyImageAttribute(client))
	}
	if len(s.snapshotUsers)+len(s.snapshotGroups) > 0 {
		calls = append(calls, awsCall{action: "ec2:ModifySnapshotAttribute",
			grants: []Grant{{Sid: "ShareSnapshots", EC2: []string{"snapshot/*"}, AMIRegions: true}},
			check: func(ctx context.Context) error {
				_, err := client.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{DryRun: dryRun, SnapshotId: aws.String(placeholderSnapshot),
					Attribute: types.SnapshotAttributeNameCreateVolumePermission, OperationType: types.OperationTypeAdd, UserIds: []string{"123456789012"}})
				return err
			}})
	}
	return calls
}
