package ebs

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// stepSourceAMI finds the AMI the build instance starts from, by ID or by
// filter, and checks that an EBS-backed instance can be built from it.
type stepSourceAMI struct {
	ec2       bakery.ImageDescriber
	sourceAMI string
	filter    bakery.AMIFilterOptions
	region    string
	lookup    *sourceImageLookup // shared with the permission check; may be nil
}

// sourceImageLookup finds the source AMI once per build: the permission
// check needs its ID for the dry-run launch, stepSourceAMI the image. Only
// a success is kept, so a lookup that failed is made again by the step that
// reports it. A nil lookup always asks.
type sourceImageLookup struct {
	mu  sync.Mutex
	img *types.Image
}

func (l *sourceImageLookup) find(ctx context.Context, lookup func(context.Context) (types.Image, error)) (types.Image, error) {
	if l == nil {
		return lookup(ctx)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.img != nil {
		return *l.img, nil
	}
	img, err := lookup(ctx)
	if err == nil {
		l.img = &img
	}
	return img, err
}

var _ multistep.Step = (*stepSourceAMI)(nil)

func (s *stepSourceAMI) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	img, err := s.lookup.find(ctx, s.find)
	if err != nil {
		return halt(state, err)
	}
	if img.RootDeviceType != types.DeviceTypeEbs {
		return halt(state, fmt.Errorf("source AMI %s has a %q root device; bakery-ebs needs an EBS-backed AMI", aws.ToString(img.ImageId), img.RootDeviceType))
	}
	if img.State != "" && img.State != types.ImageStateAvailable {
		return halt(state, fmt.Errorf("source AMI %s is %s, not available", aws.ToString(img.ImageId), img.State))
	}
	ui.Say(fmt.Sprintf("Source AMI: %s (%s)", aws.ToString(img.ImageId), aws.ToString(img.Name)))
	putSourceImage(state, img)

	data := packerbuilderdata.GeneratedData{State: state}
	for name, value := range newBuildInfo(img, s.region).generated() {
		data.Put(name, value)
	}
	return multistep.ActionContinue
}

func (s *stepSourceAMI) find(ctx context.Context) (types.Image, error) {
	if s.sourceAMI == "" {
		img, err := s.filter.Find(ctx, s.ec2)
		if err != nil {
			return types.Image{}, fmt.Errorf("finding the source AMI with `source_ami_filter`: %w", err)
		}
		return img, nil
	}
	out, err := s.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{s.sourceAMI}})
	if err != nil {
		return types.Image{}, fmt.Errorf("describing source AMI %s: %w", s.sourceAMI, err)
	}
	if len(out.Images) == 0 {
		return types.Image{}, fmt.Errorf("source AMI %s does not exist in %s (or is not shared with this account)", s.sourceAMI, s.region)
	}
	return out.Images[0], nil
}

func (s *stepSourceAMI) Cleanup(multistep.StateBag) {}

// imageID is the source AMI's ID for the permission check's launch, before
// this step has run: looked up by the same lookup the step then uses, or a
// placeholder if the lookup fails (the step then reports why).
func (s *stepSourceAMI) imageID(ctx context.Context) string {
	if s.sourceAMI != "" {
		return s.sourceAMI
	}
	if img, err := s.lookup.find(ctx, s.find); err == nil {
		return aws.ToString(img.ImageId)
	}
	return placeholderImage
}

func (s *stepSourceAMI) awsCalls() []awsCall {
	return describeImages(s.ec2)
}

// describeImages is the DescribeImages of the steps that look images up.
func describeImages(client bakery.ImageDescriber) []awsCall {
	calls := describe("ec2:DescribeImages")
	calls[0].check = func(ctx context.Context) error {
		_, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{DryRun: dryRun, Owners: []string{"self"}})
		return err
	}
	return calls
}
