package ebs

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// stepValidateRegion checks, before anything else, that EC2 knows the
// build region and every `ami_regions` copy.
type stepValidateRegion struct {
	ec2    regionDescriber
	region string
	copies []string
	// refusalChecked: the permission check runs next and lists a refused
	// DescribeRegions with every other missing permission.
	refusalChecked bool
}

var _ multistep.Step = (*stepValidateRegion)(nil)

func (s *stepValidateRegion) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	err := validateRegion(ctx, s.ec2, s.region, s.copies...)
	if err != nil && !(isAuthorizationError(err) && s.refusalChecked) {
		return halt(state, err)
	}
	return multistep.ActionContinue
}

func (s *stepValidateRegion) Cleanup(multistep.StateBag) {}

func (s *stepValidateRegion) awsCalls() []awsCall {
	calls := describe("ec2:DescribeRegions")
	calls[0].check = func(ctx context.Context) error {
		_, err := s.ec2.DescribeRegions(ctx, &ec2.DescribeRegionsInput{DryRun: dryRun})
		return err
	}
	return calls
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
