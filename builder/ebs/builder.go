package ebs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
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
	dist := &b.config.AMIDistributionConfig
	if dist.AMISkipBuildRegion && len(dist.copyRegions(region)) == 0 {
		return nil, fmt.Errorf("`skip_save_build_region`: `ami_regions` lists only the build region %s, so the build would keep no AMI: add another region", region)
	}

	buildID := uuid.TimeOrderedUUID()
	jrnl := startJournal(ui, buildID, region)
	_ = jrnl.SetOnError(b.config.PackerOnError) // the sweep keeps what -on-error=abort left unless asked
	defer reportJournal(ui, jrnl, buildID, region)
	principal := ""
	if id.ARN != "" {
		principal = ownerPrincipal(ctx, sess.IAM(), id.ARN)
	}
	steps := plan(&b.config, planDeps{region: region, buildID: buildID, principal: principal, clients: sessionClients(sess), journal: jrnl, ui: ui})

	state := newBuildState(ui, hook)
	commonsteps.NewRunner(steps, b.config.PackerConfig, ui).Run(ctx, state)

	if err, ok := getError(state); ok {
		return nil, err
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
	return newArtifact(images, region, getSourceImage(state), getGeneratedData(state),
		func(r string) imageDeleter { return sess.EC2(r) }), nil
}

// openJournal starts the record of what this build creates, written down
// as AWS returns it, so that a killed build's leftovers can be swept. A
// journal that cannot be written does not stop the build; the tags still
// find its resources.
func startJournal(ui packersdk.Ui, buildID, region string) *journal.Journal {
	jrnl, err := journal.Open(buildID, region)
	if err != nil {
		ui.Error(fmt.Sprintf("Not keeping a journal of this build's resources (%v); `packer-plugin-bakery sweep` will find them by tag only", err))
		return nil
	}
	return jrnl
}

// closeJournal, after -on-error=abort or a cleanup that failed, says
// exactly what still exists and how to remove it.
func reportJournal(ui packersdk.Ui, jrnl *journal.Journal, buildID, region string) {
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
