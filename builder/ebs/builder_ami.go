package ebs

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// imageSteps are the steps from CreateImage on: the image, its encryption,
// copies, attributes and sharing. The name checks of the copy regions run
// first of all, before anything is launched.
func (b *Builder) imageSteps(sess *bakery.Session, buildID, region string, copyRegions []string,
	temporary bakery.Tags, poll bakery.Poll, jrnl *journal.Journal) []multistep.Step {
	c := &b.config
	dist := &c.AMIDistributionConfig
	client := sess.EC2("")
	encrypt := dist.AMIEncryptBootVolume.True()

	// With encrypt_boot or skip_save_build_region, CreateImage makes an
	// intermediate AMI under a name of its own; it is tagged as a
	// temporary, like the instance, so that it is never taken for a
	// product.
	name, tags := c.AMIName, bakery.Tags(c.AMITags)
	intermediate := encrypt || dist.AMISkipBuildRegion
	if intermediate {
		name = "packer-bakery-intermediate-" + buildID
		tags = bakery.Tags{"Name": name}.Merge(temporary)
	}
	var bootMode types.BootModeOverrideValues
	if dist.BootMode == bootModeUEFI {
		bootMode = types.BootModeOverrideValuesUefi
	}
	var deprecateAt time.Time
	if dist.DeprecationTime != "" {
		deprecateAt, _ = time.Parse(time.RFC3339, dist.DeprecationTime) // checked by Prepare
	}
	kmsKey := func(r string) string { return dist.kmsKey(r, region) }

	var steps []multistep.Step
	if !dist.AMISkipBuildRegion {
		steps = append(steps, &stepDeregisterExisting{ec2: client, name: c.AMIName, force: c.AMIForceDeregister,
			deleteSnapshots: c.AMIForceDeleteSnapshot})
	}
	for _, r := range copyRegions {
		steps = append(steps, &stepDeregisterExisting{ec2: sess.EC2(r), name: c.AMIName, force: c.AMIForceDeregister,
			deleteSnapshots: c.AMIForceDeleteSnapshot})
	}
	steps = append(steps,
		&stepCreateImage{ec2: client, name: name, description: c.AMIDescription,
			tags: tags, mappings: c.AMIMappings.ec2(false), region: region, poll: poll, journal: jrnl, bootMode: bootMode},
		&stepTagSnapshots{ec2: client, tags: c.SnapshotTags},
	)
	if encrypt && !dist.AMISkipBuildRegion {
		steps = append(steps, &stepEncryptImage{ec2: client, region: region, name: c.AMIName, description: c.AMIDescription,
			kmsKey: kmsKey(region), buildID: buildID, tags: c.AMITags, snapshotTags: c.SnapshotTags, poll: poll, journal: jrnl})
	}
	steps = append(steps,
		&stepCopyImages{client: func(r string) imageCopier { return sess.EC2(r) }, buildRegion: region, regions: copyRegions,
			name: c.AMIName, description: c.AMIDescription, encrypt: encrypt, kmsKey: kmsKey, buildID: buildID,
			tags: c.AMITags, snapshotTags: c.SnapshotTags, skipBuildRegion: dist.AMISkipBuildRegion, poll: poll, journal: jrnl},
		&stepAMIAttributes{client: func(r string) imageAttributeSetter { return sess.EC2(r) }, buildRegion: region,
			imdsSupport: dist.AMIIMDSSupport, deprecateAt: deprecateAt},
		&stepShareImages{client: func(r string) imageSharer { return sess.EC2(r) }, buildRegion: region,
			users: dist.AMIUsers, groups: dist.AMIGroups, orgARNs: dist.AMIOrgArns, ouARNs: dist.AMIOuArns,
			snapshotUsers: dist.SnapshotUsers, snapshotGroups: dist.SnapshotGroups, kmsKey: kmsKey},
	)
	return steps
}

// nameChecks are the checks, before anything is launched, that ami_name is
// free in every region that will hold the AMI.
func (b *Builder) nameChecks(sess *bakery.Session, region string, copyRegions []string) []multistep.Step {
	c := &b.config
	var steps []multistep.Step
	if !c.AMISkipBuildRegion {
		steps = append(steps, &stepCheckAMIName{ec2: sess.EC2(""), name: c.AMIName, region: region, force: c.AMIForceDeregister})
	}
	for _, r := range copyRegions {
		steps = append(steps, &stepCheckAMIName{ec2: sess.EC2(r), name: c.AMIName, region: r, force: c.AMIForceDeregister})
	}
	return steps
}
