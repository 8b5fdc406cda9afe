package ebs

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

type networkDescriber interface {
	DescribeVpcs(context.Context, *ec2.DescribeVpcsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
}

// stepNetwork decides the VPC, subnet and zone: the configured subnet, or
// else the default VPC's subnet with the most free addresses.
type stepNetwork struct {
	ec2              networkDescriber
	vpcID            string
	subnetID         string
	availabilityZone string
}

var _ multistep.Step = (*stepNetwork)(nil)

func (s *stepNetwork) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	net, err := s.resolve(ctx)
	if err != nil {
		return halt(state, err)
	}
	getUI(state).Say(fmt.Sprintf("Network: VPC %s, subnet %s (%s)", net.VpcID, net.SubnetID, net.AvailabilityZone))
	state.Put(keyNetwork, net)
	return multistep.ActionContinue
}

func (s *stepNetwork) resolve(ctx context.Context) (network, error) {
	if s.subnetID != "" {
		out, err := s.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{s.subnetID}})
		if err != nil {
			return network{}, fmt.Errorf("describing subnet %s: %w", s.subnetID, err)
		}
		if len(out.Subnets) == 0 {
			return network{}, fmt.Errorf("subnet %s not found", s.subnetID)
		}
		sub := out.Subnets[0]
		if s.vpcID != "" && s.vpcID != aws.ToString(sub.VpcId) {
			return network{}, fmt.Errorf("subnet %s is in VPC %s, not in `vpc_id` %s", s.subnetID, aws.ToString(sub.VpcId), s.vpcID)
		}
		return network{VpcID: aws.ToString(sub.VpcId), SubnetID: s.subnetID, AvailabilityZone: aws.ToString(sub.AvailabilityZone)}, nil
	}

	vpcID := s.vpcID
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
