package ebs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

type networkDescriber interface {
	DescribeVpcs(context.Context, *ec2.DescribeVpcsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
}

// stepNetwork decides the VPC, subnet and zone: the configured subnet, the
// one subnet_filter selects, or else the subnet with the most free addresses
// of the VPC (vpc_id, the one vpc_filter selects, or the default VPC).
type stepNetwork struct {
	ec2              networkDescriber
	vpcID            string
	vpcFilter        VpcFilterOptions
	subnetID         string
	subnetFilter     SubnetFilterOptions
	availabilityZone string
	pick             func(n int) int // subnet_filter's random choice; rand.IntN when nil
}

var _ multistep.Step = (*stepNetwork)(nil)

func (s *stepNetwork) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	net, err := s.resolve(ctx)
	if err != nil {
		return halt(state, err)
	}
	getUI(state).Say(fmt.Sprintf("Network: VPC %s, subnet %s (%s)", net.VpcID, net.SubnetID, net.AvailabilityZone))
	putNetwork(state, net)
	return multistep.ActionContinue
}

func (s *stepNetwork) resolve(ctx context.Context) (network, error) {
	vpcID := s.vpcID
	if vpcID == "" && !s.vpcFilter.Empty() {
		id, err := s.filterVpc(ctx)
		if err != nil {
			return network{}, err
		}
		vpcID = id
	}
	if s.subnetID != "" {
		out, err := s.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{s.subnetID}})
		if err != nil {
			return network{}, fmt.Errorf("describing subnet %s: %w", s.subnetID, err)
		}
		if len(out.Subnets) == 0 {
			return network{}, fmt.Errorf("subnet %s not found", s.subnetID)
		}
		sub := out.Subnets[0]
		if vpcID != "" && vpcID != aws.ToString(sub.VpcId) {
			which := "`vpc_id`"
			if s.vpcID == "" {
				which = "the VPC of `vpc_filter`,"
			}
			return network{}, fmt.Errorf("subnet %s is in VPC %s, not in %s %s", s.subnetID, aws.ToString(sub.VpcId), which, vpcID)
		}
		return network{VpcID: aws.ToString(sub.VpcId), SubnetID: s.subnetID, AvailabilityZone: aws.ToString(sub.AvailabilityZone)}, nil
	}

	if !s.subnetFilter.Empty() {
		return s.filterSubnet(ctx, vpcID)
	}
	if vpcID == "" {
		out, err := s.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{
			Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}},
		})
		if err != nil {
			return network{}, fmt.Errorf("looking for the default VPC: %w", err)
		}
		if len(out.Vpcs) == 0 {
			return network{}, errors.New("this region has no default VPC: set `subnet_id` (and `vpc_id`)")
		}
		vpcID = aws.ToString(out.Vpcs[0].VpcId)
	}
	filters := []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}
	if s.availabilityZone != "" {
		filters = append(filters, types.Filter{Name: aws.String("availability-zone"), Values: []string{s.availabilityZone}})
	}
	out, err := s.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: filters})
	if err != nil {
		return network{}, fmt.Errorf("listing subnets of VPC %s: %w", vpcID, err)
	}
	sub, ok := mostFree(out.Subnets)
	if !ok {
		where := "VPC " + vpcID
		if s.availabilityZone != "" {
			where += " in " + s.availabilityZone
		}
		return network{}, fmt.Errorf("no available subnet in %s: set `subnet_id`", where)
	}
	return network{VpcID: vpcID, SubnetID: aws.ToString(sub.SubnetId), AvailabilityZone: aws.ToString(sub.AvailabilityZone)}, nil
}

// filterVpc returns the one available VPC vpc_filter matches.
func (s *stepNetwork) filterVpc(ctx context.Context) (string, error) {
	filters, err := ec2Filters(s.vpcFilter.Filters, "state", "available")
	if err != nil {
		return "", fmt.Errorf("`vpc_filter`: %w", err)
	}
	var ids []string
	pages := ec2.NewDescribeVpcsPaginator(s.ec2, &ec2.DescribeVpcsInput{Filters: filters})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("looking for the VPC of `vpc_filter`: %w", err)
		}
		for _, v := range page.Vpcs {
			ids = append(ids, aws.ToString(v.VpcId))
		}
	}
	if len(ids) != 1 {
		return "", fmt.Errorf("`vpc_filter` %s must match exactly one available VPC; it matches %d%s: narrow the filters, or set `vpc_id`",
			describeFilters(filters), len(ids), listIDs(ids))
	}
	return ids[0], nil
}

// filterSubnet returns the subnet subnet_filter selects, within vpcID and
// the availability zone when they are known.
func (s *stepNetwork) filterSubnet(ctx context.Context, vpcID string) (network, error) {
	extra := []string{"state", "available"}
	if vpcID != "" {
		extra = append(extra, "vpc-id", vpcID)
	}
	if s.availabilityZone != "" {
		extra = append(extra, "availability-zone", s.availabilityZone)
	}
	filters, err := ec2Filters(s.subnetFilter.Filters, extra...)
	if err != nil {
		return network{}, fmt.Errorf("`subnet_filter`: %w", err)
	}
	var subnets []types.Subnet
	pages := ec2.NewDescribeSubnetsPaginator(s.ec2, &ec2.DescribeSubnetsInput{Filters: filters})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return network{}, fmt.Errorf("looking for the subnet of `subnet_filter`: %w", err)
		}
		subnets = append(subnets, page.Subnets...)
	}
	ids := make([]string, 0, len(subnets))
	for _, sub := range subnets {
		ids = append(ids, aws.ToString(sub.SubnetId))
	}
	var sub types.Subnet
	switch {
	case len(subnets) == 0:
		return network{}, fmt.Errorf("`subnet_filter` %s matches no available subnet: check the filters (and `vpc_id`, `vpc_filter`, `availability_zone`), or set `subnet_id`",
			describeFilters(filters))
	case len(subnets) == 1:
		sub = subnets[0]
	case s.subnetFilter.MostFree:
		sub, _ = mostFree(subnets)
	case s.subnetFilter.Random:
		pick := s.pick
		if pick == nil {
			pick = rand.IntN
		}
		sub = subnets[pick(len(subnets))]
	default:
		return network{}, fmt.Errorf("`subnet_filter` %s matches %d subnets%s: narrow the filters, or set `most_free = true` or `random = true` to let the build choose",
			describeFilters(filters), len(subnets), listIDs(ids))
	}
	return network{VpcID: aws.ToString(sub.VpcId), SubnetID: aws.ToString(sub.SubnetId), AvailabilityZone: aws.ToString(sub.AvailabilityZone)}, nil
}

// describeFilters shows EC2 filters as the user wrote them: name=a,b ...
func describeFilters(filters []types.Filter) string {
	parts := make([]string, 0, len(filters))
	for _, f := range filters {
		parts = append(parts, aws.ToString(f.Name)+"="+strings.Join(f.Values, ","))
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// listIDs is " (a, b, c)" for a few IDs, "" for none.
func listIDs(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	const show = 5
	if len(ids) > show {
		return fmt.Sprintf(" (%s, and %d more)", strings.Join(ids[:show], ", "), len(ids)-show)
	}
	return " (" + strings.Join(ids, ", ") + ")"
}

// mostFree picks the available subnet with the most free addresses; ties
// go to the lowest ID, so the choice is reproducible.
func mostFree(subnets []types.Subnet) (types.Subnet, bool) {
	var best types.Subnet
	found := false
	for _, sub := range subnets {
		if sub.State != "" && sub.State != types.SubnetStateAvailable {
			continue
		}
		free, bestFree := aws.ToInt32(sub.AvailableIpAddressCount), aws.ToInt32(best.AvailableIpAddressCount)
		if !found || free > bestFree || (free == bestFree && aws.ToString(sub.SubnetId) < aws.ToString(best.SubnetId)) {
			best, found = sub, true
		}
	}
	return best, found
}

func (s *stepNetwork) Cleanup(multistep.StateBag) {}

func (s *stepNetwork) awsCalls() []awsCall {
	calls := describe("ec2:DescribeVpcs", "ec2:DescribeSubnets")
	calls[0].check = func(ctx context.Context) error {
		_, err := s.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{DryRun: dryRun})
		return err
	}
	calls[1].check = func(ctx context.Context) error {
		_, err := s.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{DryRun: dryRun})
		return err
	}
	return calls
}
