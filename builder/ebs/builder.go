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
	return generatedDataNames, warnings, nil
}

func (b *Builder) Run(ctx context.Context, ui packersdk.Ui, hook packersdk.Hook) (packersdk.Artifact, error) {
	// Last: after the cleanups, which may still call AWS.
	defer bakery.EndRunShare()
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
	dist := &b.config.AMIDistributionConfig
	copyRegions := dist.copyRegions(region)
	if dist.AMISkipBuildRegion && len(copyRegions) == 0 {
		return nil, fmt.Errorf("`skip_save_build_region`: `ami_regions` lists only the build region %s, so the build would keep no AMI: add another region", region)
	}
	if !b.config.SkipRegionValidation {
		// Refused, it is listed with every other missing permission by
		// the permission check below.
		if err := validateRegion(ctx, client, region, copyRegions...); err != nil && (!isAuthorizationError(err) || b.config.SkipPermissionCheck) {
			return nil, withPermissionHint(err)
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
			regions := []string{region}
			for _, r := range left {
				names = append(names, fmt.Sprintf("%s %s (%s)", r.Kind, r.ID, r.Region))
				if !slices.Contains(regions, r.Region) { // copies in ami_regions
					regions = append(regions, r.Region)
				}
			}
			ui.Error(fmt.Sprintf("This build left in AWS: %s.\nRemove them with: packer-plugin-bakery sweep --region %s --build-id %s",
				strings.Join(names, ", "), strings.Join(regions, ","), buildID))
		}
		_ = jrnl.Close()
	}()
	// Options that may use {{ .SourceAMIName }} and the like: their values
	// are filled in by stepRenderTemplates (see buildTemplates).
	templates := newBuildTemplates(b.config.ctx)
	runTags := templates.TagsBetween("run_tags", bakery.Tags{"Name": "Packer Builder"}, b.config.RunTags, temporary)
	poll := b.config.PollingConfig.poll(b.config.StateTimeout)

	state := new(multistep.BasicStateBag)
	state.Put("hook", hook)
	state.Put(keyUI, ui)

	keyPairTags := bakery.Tags{"Name": tempName}.Merge(temporary)
	groupTags := bakery.Tags{"Name": "packer_bakery_" + buildID}.Merge(temporary)
	// The permission check runs before the source AMI is known, so its dry
	// runs carry the tag templates unrendered: the keys the policy asks for
	// (bakery:*) are there all the same.
	source := new(sourceImageLookup)
	pin := new(hostKeyPin)
	steps := []multistep.Step{newStepPreflight(&b.config, client, sess.IAM(), "packer_bakery_permission_check_"+buildID, source,
		bakery.Tags{"Name": "Packer Builder"}.Merge(b.config.RunTags, temporary), bakery.Tags(b.config.VolumeRunTags).Merge(temporary), keyPairTags, groupTags)}
	if !dist.AMISkipCreateImage {
		steps = append(steps, b.nameChecks(sess, region, copyRegions)...)
	}
	steps = append(steps,
		&stepSourceAMI{ec2: client, sourceAMI: b.config.SourceAMI, filter: b.config.SourceAMIFilter, region: region, lookup: source},
		&stepRenderTemplates{templates: templates, region: region},
		&stepCheckEnhancedNetworking{ena: dist.AMIENASupport, sriov: dist.AMISriovNetSupport, virtType: dist.AMIVirtType},
		&stepNetwork{ec2: client, vpcID: b.config.VpcID, vpcFilter: b.config.VpcFilter, subnetID: b.config.SubnetID,
			subnetFilter: b.config.SubnetFilter, availabilityZone: b.config.AvailabilityZone},
		&stepKeyPair{ec2: client, comm: &b.config.Comm, name: tempName, tags: keyPairTags, journal: jrnl},
		&stepSecurityGroup{ec2: client, ids: b.config.SecurityGroupIDs, filter: b.config.SecurityGroupFilter, name: "packer_bakery_" + buildID,
			port: b.config.Comm.Port(), cidrs: b.config.TemporarySGSourceCidrs, publicIP: b.config.TemporarySGSourcePublicIP, tags: groupTags, poll: poll, journal: jrnl},
		&stepIAMInstanceProfile{iam: sess.IAM(), existing: b.config.IamInstanceProfile, skipValidation: b.config.SkipProfileValidation,
			document: b.config.TemporaryIamInstanceProfilePolicyDocument, name: "packer_bakery_" + buildID,
			tags: templates.TagsBetween("run_tags", nil, b.config.RunTags, temporary), poll: poll, journal: jrnl},
		&stepRunInstance{ec2: &profileLauncher{instanceRunner: client, say: ui.Say}, instanceType: b.config.InstanceType, associatePublicIP: b.config.AssociatePublicIpAddress,
			tags: runTags, volumeTags: templates.TagsBetween("run_volume_tags", nil, b.config.VolumeRunTags, temporary), options: b.config.InstanceConfig,
			clientToken: "bakery-" + buildID, poll: poll, journal: jrnl},
		&stepConnect{
			inner: &communicator.StepConnect{
				Config:    &b.config.Comm,
				Host:      sshHost(b.config.Comm.SSHHost, b.config.SSHInterface.SSHInterface),
				SSHConfig: pin.wrap(b.config.Comm.SSHConfigFunc()),
			},
			ec2: client, comm: &b.config.Comm, keyName: tempName, pin: pin,
			host: sshHost(b.config.Comm.SSHHost, b.config.SSHInterface.SSHInterface),
		},
		&commonsteps.StepProvision{},
		&commonsteps.StepCleanupTempKeys{Comm: &b.config.Comm},
		&stepStopInstance{ec2: client, poll: poll, disabled: b.config.DisableStopInstance},
		&stepModifyInstanceAttrs{ec2: client, ena: dist.AMIENASupport, sriov: dist.AMISriovNetSupport},
	)
	if !dist.AMISkipCreateImage { // else a test run: no image, so no name to check either
		steps = append(steps, b.imageSteps(sess, buildID, region, copyRegions, temporary, templates, poll, jrnl)...)
	}

	spot := b.config.SpotConfig
	spot.SpotTags, spot.FleetTags = templates.Tags("spot_tags", spot.SpotTags), templates.Tags("fleet_tags", spot.FleetTags)
	steps = withSpotLaunch(steps, &spot, client, "packer_bakery_"+buildID, temporary)

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
	if dist.AMISkipCreateImage {
		ui.Say("`skip_create_ami` is set: no AMI was made, so this build has no artifact")
		return nil, nil
	}
	images := getImages(state, region)
	if len(images) == 0 {
		return nil, errors.New("build finished without an AMI")
	}
	return newArtifact(images, region, getSourceImage(state), state.Get("generated_data"),
		func(r string) imageDeleter { return sess.EC2(r) }), nil
}

type regionDescriber interface {
	DescribeRegions(context.Context, *ec2.DescribeRegionsInput, ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
}

// validateRegion checks the build region and the `ami_regions` copies with
// one call to EC2 itself, rather than a list built into the plugin, which
// would go stale.
func validateRegion(ctx context.Context, client regionDescriber, region string, copies ...string) error {
	out, err := client.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("checking region %s with EC2 DescribeRegions (set `skip_region_validation = true` to skip): %w", region, err)
	}
	names := make([]string, 0, len(out.Regions))
	for _, r := range out.Regions {
		names = append(names, aws.ToString(r.RegionName))
	}
	var errs []error
	if !slices.Contains(names, region) {
		errs = append(errs, fmt.Errorf("region %q is not one EC2 knows (%d regions listed); check `region`, or set `skip_region_validation = true`", region, len(names)))
	}
	for _, r := range copies {
		if !slices.Contains(names, r) {
			errs = append(errs, fmt.Errorf("`ami_regions`: region %q is not one EC2 knows (%d regions listed); check it, or set `skip_region_validation = true`", r, len(names)))
		}
	}
	return errors.Join(errs...)
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
