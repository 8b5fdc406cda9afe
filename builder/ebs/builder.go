package ebs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/multistep/commonsteps"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/uuid"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
	"github.com/packer-bakery/packer-plugin-bakery/version"
)

// BuilderID identifies this builder's artifacts.
const BuilderID = "packer-bakery.ebs"

// Builder bakes an EBS-backed AMI: launch, provision, stop, image, clean up.
type Builder struct {
	config Config
}

var _ packersdk.Builder = (*Builder)(nil)

func (b *Builder) ConfigSpec() hcldec.ObjectSpec { return b.config.FlatMapstructure().HCL2Spec() }

func (b *Builder) Prepare(raws ...interface{}) ([]string, []string, error) {
	warnings, err := b.config.Prepare(raws...)
	if err != nil {
		return nil, warnings, err
	}
	generated := []string{"SourceAMI", "SourceAMIName", "SourceAMIOwner", "SourceAMICreationDate", "BuildRegion"}
	return generated, warnings, nil
}

func (b *Builder) Run(ctx context.Context, ui packersdk.Ui, hook packersdk.Hook) (packersdk.Artifact, error) {
	sess, err := bakery.NewSession(ctx, &b.config.AccessConfig)
	if err != nil {
		return nil, err
	}
	region := sess.Region()
	id, err := sess.Identify(ctx)
	if err != nil {
		return nil, err
	}
	ui.Say(fmt.Sprintf("AWS credentials: %s; region %s", id, region))

	client := sess.EC2("")
	if !b.config.SkipRegionValidation {
		if err := validateRegion(ctx, client, region); err != nil {
			return nil, err
		}
	}

	buildID := uuid.TimeOrderedUUID()
	tempName := "packer_bakery_" + buildID
	if b.config.Comm.SSHTemporaryKeyPairName != "" {
		tempName = b.config.Comm.SSHTemporaryKeyPairName
	}
	temporary := bakery.Tags{
		bakery.TagBuildID:   buildID,
		bakery.TagCreatedAt: time.Now().UTC().Format(time.RFC3339),
		bakery.TagCreatedBy: createdBy(),
	}
	// What this build creates is written down as AWS returns it, so that a
	// killed build's leftovers can be swept. A journal that cannot be
	// written does not stop the build; the tags still find its resources.
	jrnl, err := journal.Open(buildID, region)
	if err != nil {
		ui.Error(fmt.Sprintf("Not keeping a journal of this build's resources (%v); `packer-plugin-bakery sweep` will find them by tag only", err))
		jrnl = nil
	}
	defer func() {
		// After -on-error=abort, or a cleanup that failed: say exactly
		// what still exists and how to remove it.
		if left := jrnl.Remaining(); len(left) > 0 {
			names := make([]string, 0, len(left))
			for _, r := range left {
				names = append(names, fmt.Sprintf("%s %s (%s)", r.Kind, r.ID, r.Region))
			}
			ui.Error(fmt.Sprintf("This build left in AWS: %s.\nRemove them with: packer-plugin-bakery sweep --region %s --build-id %s",
				strings.Join(names, ", "), region, buildID))
		}
		_ = jrnl.Close()
	}()
	runTags := bakery.Tags{"Name": "Packer Builder"}.Merge(b.config.RunTags, temporary)
	poll := bakery.Poll{Timeout: b.config.StateTimeout}

	state := new(multistep.BasicStateBag)
	state.Put("hook", hook)
	state.Put(keyUI, ui)

	steps := []multistep.Step{
		&stepCheckAMIName{ec2: client, name: b.config.AMIName, region: region, force: b.config.AMIForceDeregister},
		&stepSourceAMI{ec2: client, sourceAMI: b.config.SourceAMI, filter: b.config.SourceAMIFilter, region: region},
		&stepNetwork{ec2: client, vpcID: b.config.VpcID, vpcFilter: b.config.VpcFilter, subnetID: b.config.SubnetID,
			subnetFilter: b.config.SubnetFilter, availabilityZone: b.config.AvailabilityZone},
		&stepKeyPair{ec2: client, comm: &b.config.Comm, name: tempName, tags: bakery.Tags{"Name": tempName}.Merge(temporary), journal: jrnl},
		&stepSecurityGroup{ec2: client, ids: b.config.SecurityGroupIDs, filter: b.config.SecurityGroupFilter, name: "packer_bakery_" + buildID,
			port: b.config.Comm.Port(), cidrs: b.config.TemporarySGSourceCidrs, publicIP: b.config.TemporarySGSourcePublicIP, tags: bakery.Tags{"Name": "packer_bakery_" + buildID}.Merge(temporary), poll: poll, journal: jrnl},
		&stepRunInstance{ec2: client, instanceType: b.config.InstanceType, associatePublicIP: b.config.AssociatePublicIpAddress,
			tags: runTags, volumeTags: bakery.Tags(b.config.VolumeRunTags).Merge(temporary), options: b.config.InstanceConfig,
			clientToken: "bakery-" + buildID, poll: poll, journal: jrnl},
		&stepConnect{
			inner: &communicator.StepConnect{
				Config:    &b.config.Comm,
				Host:      sshHost(b.config.Comm.SSHHost, b.config.SSHInterface.SSHInterface),
				SSHConfig: b.config.Comm.SSHConfigFunc(),
			},
			ec2: client, comm: &b.config.Comm, keyName: tempName,
			host: sshHost(b.config.Comm.SSHHost, b.config.SSHInterface.SSHInterface),
		},
		&commonsteps.StepProvision{},
		&commonsteps.StepCleanupTempKeys{Comm: &b.config.Comm},
		&stepStopInstance{ec2: client, poll: poll, disabled: b.config.DisableStopInstance},
		&stepDeregisterExisting{ec2: client, name: b.config.AMIName, force: b.config.AMIForceDeregister,
			deleteSnapshots: b.config.AMIForceDeleteSnapshot},
		&stepCreateImage{ec2: client, name: b.config.AMIName, description: b.config.AMIDescription,
			tags: b.config.AMITags, mappings: b.config.AMIMappings.ec2(false), region: region, poll: poll, journal: jrnl},
		&stepTagSnapshots{ec2: client, tags: b.config.SnapshotTags},
	}

	runner := commonsteps.NewRunner(steps, b.config.PackerConfig, ui)
	runner.Run(ctx, state)

	if err, ok := state.GetOk(keyError); ok {
		// A context of its own: the build's may be what was cancelled.
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return nil, sess.DecodeAuthorizationError(dctx, err.(error))
	}
	if buildFailed(state) {
		return nil, errors.New("build was cancelled")
	}
	img, ok := getImage(state)
	if !ok {
		return nil, errors.New("build finished without an AMI")
	}
	return &Artifact{
		Amis:      map[string]string{region: aws.ToString(img.ImageId)},
		StateData: map[string]interface{}{"generated_data": state.Get("generated_data")},
		client:    func(r string) imageDeleter { return sess.EC2(r) },
	}, nil
}

type regionDescriber interface {
	DescribeRegions(context.Context, *ec2.DescribeRegionsInput, ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
}

// validateRegion checks the region with EC2 itself rather than a list built
// into the plugin, which would go stale.
func validateRegion(ctx context.Context, client regionDescriber, region string) error {
	out, err := client.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("checking region %s with EC2 DescribeRegions (set `skip_region_validation = true` to skip): %w", region, err)
	}
	names := make([]string, 0, len(out.Regions))
	for _, r := range out.Regions {
		names = append(names, aws.ToString(r.RegionName))
	}
	if !slices.Contains(names, region) {
		return fmt.Errorf("region %q is not one EC2 knows (%d regions listed); check `region`, or set `skip_region_validation = true`", region, len(names))
	}
	return nil
}

// createdBy says who made a resource: the plugin and version, the user and
// the host, for whoever finds it later.
func createdBy() string {
	host, _ := os.Hostname()
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	return fmt.Sprintf("packer-plugin-bakery %s %s@%s", version.PluginVersion.FormattedVersion(), who, host)
}
