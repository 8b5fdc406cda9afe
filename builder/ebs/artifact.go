package ebs

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"
)

// Artifact is the AMIs a build made, by region.
type Artifact struct {
	// Amis maps region to AMI ID.
	Amis map[string]string
	// StateData is what Packer's HCP integration and post-processors read.
	StateData map[string]interface{}
	// BuildRegion is where the instance ran; SourceAMI what it started
	// from. Both label every image in the HCP Packer registry.
	BuildRegion string
	SourceAMI   string
	// client gives an EC2 client per region for Destroy.
	client func(region string) imageDeleter
}

// newArtifact is the artifact of a build that made images (region → AMI).
func newArtifact(images map[string]types.Image, buildRegion string, source types.Image, generated interface{}, client func(string) imageDeleter) *Artifact {
	amis := make(map[string]string, len(images))
	for r, img := range images {
		amis[r] = aws.ToString(img.ImageId)
	}
	return &Artifact{
		Amis:        amis,
		StateData:   map[string]interface{}{"generated_data": generated},
		BuildRegion: buildRegion,
		SourceAMI:   aws.ToString(source.ImageId),
		client:      client,
	}
}

func (*Artifact) BuilderId() string { return BuilderID }

func (*Artifact) Files() []string { return nil }

func (a *Artifact) regions() []string {
	regions := make([]string, 0, len(a.Amis))
	for r := range a.Amis {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	return regions
}

// Id is "region:ami-…" pairs, comma-separated, as amazon-ebs reports them.
func (a *Artifact) Id() string {
	parts := make([]string, 0, len(a.Amis))
	for _, r := range a.regions() {
		parts = append(parts, r+":"+a.Amis[r])
	}
	return strings.Join(parts, ",")
}

func (a *Artifact) String() string {
	lines := []string{"AMIs were created:"}
	for _, r := range a.regions() {
		lines = append(lines, fmt.Sprintf("%s: %s", r, a.Amis[r]))
	}
	return strings.Join(lines, "\n")
}

// State answers Packer's HCP integration (image.ArtifactStateURI) with one
// registry image per region, and anything else from StateData.
func (a *Artifact) State(name string) interface{} {
	if name == registryimage.ArtifactStateURI {
		return a.registryImages()
	}
	return a.StateData[name]
}

func (a *Artifact) registryImages() []*registryimage.Image {
	images := make([]*registryimage.Image, 0, len(a.Amis))
	for _, r := range a.regions() {
		labels := map[string]string{"build_region": a.BuildRegion}
		if a.SourceAMI != "" {
			labels["source_ami"] = a.SourceAMI
		}
		images = append(images, &registryimage.Image{
			ImageID:        a.Amis[r],
			ProviderName:   "aws",
			ProviderRegion: r,
			SourceImageID:  a.SourceAMI,
			Labels:         labels,
		})
	}
	return images
}

// Destroy deregisters every AMI and deletes its snapshots.
func (a *Artifact) Destroy() error {
	ctx, cancel := cleanupContext()
	defer cancel()
	var errs []error
	for _, r := range a.regions() {
		if err := deleteImage(ctx, a.client(r), a.Amis[r]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}
