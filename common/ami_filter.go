//go:generate go tool packer-sdc struct-markdown

package common

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// AMIFilterOptions selects an AMI by EC2 DescribeImages filters, as in
// amazon-ebs's `source_ami_filter`.
type AMIFilterOptions struct {
	// Filters as in the DescribeImages API, e.g.
	// `{ name = "amzn2-ami-hvm-*-x86_64-gp2", virtualization-type = "hvm" }`.
	// Several values of one filter are not supported in this map form.
	Filters map[string]string `mapstructure:"filters" required:"false"`
	// Account IDs or aliases (`amazon`, `self`, `aws-marketplace`) whose AMIs
	// may be chosen. Required: without it anyone's AMI could match.
	Owners []string `mapstructure:"owners" required:"true"`
	// With several matches, take the newest by creation date. Without it,
	// several matches are an error.
	MostRecent bool `mapstructure:"most_recent" required:"false"`
	// Let deprecated AMIs match too.
	IncludeDeprecated bool `mapstructure:"include_deprecated" required:"false"`
}

// Empty is true when no filter block was given.
func (f *AMIFilterOptions) Empty() bool {
	return f == nil || (len(f.Filters) == 0 && len(f.Owners) == 0 && !f.MostRecent && !f.IncludeDeprecated)
}

// Prepare validates the block; key is its HCL name for messages.
func (f *AMIFilterOptions) Prepare(key string) []error {
	if f.Empty() {
		return nil
	}
	var errs []error
	if len(f.Owners) == 0 {
		errs = append(errs, fmt.Errorf("`%s` needs `owners`: without it an AMI published by anyone could match", key))
	}
	for name := range f.Filters {
		if strings.TrimSpace(name) == "" {
			errs = append(errs, fmt.Errorf("`%s` has a filter with an empty name: name each filter as DescribeImages does, e.g. `name` or `architecture`", key))
		}
	}
	return errs
}

// ImageDescriber is the one EC2 call an AMI lookup needs.
type ImageDescriber interface {
	DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
}

// ErrNoImage is wrapped when nothing matches.
var ErrNoImage = errors.New("no AMI matches")

// Find returns the one AMI the filter selects.
func (f *AMIFilterOptions) Find(ctx context.Context, client ImageDescriber) (types.Image, error) {
	in := &ec2.DescribeImagesInput{
		Owners:            f.Owners,
		IncludeDeprecated: aws.Bool(f.IncludeDeprecated),
	}
	names := make([]string, 0, len(f.Filters))
	for name := range f.Filters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		in.Filters = append(in.Filters, types.Filter{Name: aws.String(name), Values: []string{f.Filters[name]}})
	}

	var images []types.Image
	pages := ec2.NewDescribeImagesPaginator(client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return types.Image{}, fmt.Errorf("describing AMIs: %w", err)
		}
		images = append(images, page.Images...)
	}
	switch {
	case len(images) == 0:
		return types.Image{}, fmt.Errorf("%w filters %v owned by %v", ErrNoImage, f.Filters, f.Owners)
	case len(images) > 1 && !f.MostRecent:
		return types.Image{}, fmt.Errorf("%d AMIs match filters %v owned by %v: narrow the filters or set `most_recent = true`", len(images), f.Filters, f.Owners)
	}
	return Newest(images), nil
}

// Newest returns the image with the latest CreationDate.
func Newest(images []types.Image) types.Image {
	best := images[0]
	bestTime := creationTime(best)
	for _, img := range images[1:] {
		if t := creationTime(img); t.After(bestTime) {
			best, bestTime = img, t
		}
	}
	return best
}

func creationTime(img types.Image) time.Time {
	t, err := time.Parse(time.RFC3339, aws.ToString(img.CreationDate))
	if err != nil {
		return time.Time{}
	}
	return t
}
