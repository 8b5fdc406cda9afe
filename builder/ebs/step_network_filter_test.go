package ebs

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func vpcs(ids ...string) *ec2.DescribeVpcsOutput {
	out := &ec2.DescribeVpcsOutput{}
	for _, id := range ids {
		out.Vpcs = append(out.Vpcs, types.Vpc{VpcId: aws.String(id)})
	}
	return out
}

func subnets(subs ...types.Subnet) *ec2.DescribeSubnetsOutput {
	return &ec2.DescribeSubnetsOutput{Subnets: subs}
}

var classBuild = map[string]string{"tag:Class": "build"}

func TestStepNetwork_filters(t *testing.T) {
	tests := []struct {
		name        string
		step        stepNetwork
		setup       func(*fakeNetwork)
		wantVpcs    map[string][]string // DescribeVpcs' filters, nil: no call
		wantSubnets map[string][]string // the last DescribeSubnets' filters, nil: no call
		want        network
	}{
		{
			name:     "vpc_filter matches one VPC: its most free subnet",
			step:     stepNetwork{vpcFilter: VpcFilterOptions{Filters: classBuild}},
			wantVpcs: map[string][]string{"tag:Class": {"build"}, "state": {"available"}},
			setup: func(f *fakeNetwork) {
				f.DescribeVpcsCalls.Return(vpcs("vpc-build"), nil)
				f.DescribeSubnetsCalls.Return(subnets(
					subnet("subnet-a", "vpc-build", "eu-west-1a", 10, types.SubnetStateAvailable),
					subnet("subnet-b", "vpc-build", "eu-west-1b", 99, types.SubnetStateAvailable)), nil)
			},
			wantSubnets: map[string][]string{"vpc-id": {"vpc-build"}},
			want:        network{VpcID: "vpc-build", SubnetID: "subnet-b", AvailabilityZone: "eu-west-1b"},
		},
		{
			name: "subnet_filter matches one subnet",
			step: stepNetwork{subnetFilter: SubnetFilterOptions{Filters: map[string]string{"tag:Class": "build", "cidr-block": "10.0.1.0/24, 10.0.2.0/24"}}},
			setup: func(f *fakeNetwork) {
				f.DescribeSubnetsCalls.Return(subnets(subnet("subnet-1", "vpc-7", "eu-west-1c", 5, types.SubnetStateAvailable)), nil)
			},
			wantSubnets: map[string][]string{"tag:Class": {"build"}, "cidr-block": {"10.0.1.0/24", "10.0.2.0/24"}, "state": {"available"}},
			want:        network{VpcID: "vpc-7", SubnetID: "subnet-1", AvailabilityZone: "eu-west-1c"},
		},
		{
			name:     "vpc_filter and subnet_filter: the subnet is looked for in the VPC and zone",
			step:     stepNetwork{vpcFilter: VpcFilterOptions{Filters: classBuild}, subnetFilter: SubnetFilterOptions{Filters: classBuild}, availabilityZone: "eu-west-1b"},
			wantVpcs: map[string][]string{"tag:Class": {"build"}, "state": {"available"}},
			setup: func(f *fakeNetwork) {
				f.DescribeVpcsCalls.Return(vpcs("vpc-build"), nil)
				f.DescribeSubnetsCalls.Return(subnets(subnet("subnet-b", "vpc-build", "eu-west-1b", 5, types.SubnetStateAvailable)), nil)
			},
			wantSubnets: map[string][]string{"tag:Class": {"build"}, "state": {"available"}, "vpc-id": {"vpc-build"}, "availability-zone": {"eu-west-1b"}},
			want:        network{VpcID: "vpc-build", SubnetID: "subnet-b", AvailabilityZone: "eu-west-1b"},
		},
		{
			name: "several subnets with most_free",
			step: stepNetwork{vpcID: "vpc-1", subnetFilter: SubnetFilterOptions{Filters: classBuild, MostFree: true}},
			setup: func(f *fakeNetwork) {
				f.DescribeSubnetsCalls.Return(subnets(
					subnet("subnet-small", "vpc-1", "eu-west-1a", 3, types.SubnetStateAvailable),
					subnet("subnet-big", "vpc-1", "eu-west-1b", 250, types.SubnetStateAvailable),
					subnet("subnet-mid", "vpc-1", "eu-west-1c", 40, types.SubnetStateAvailable)), nil)
			},
			wantSubnets: map[string][]string{"tag:Class": {"build"}, "state": {"available"}, "vpc-id": {"vpc-1"}},
			want:        network{VpcID: "vpc-1", SubnetID: "subnet-big", AvailabilityZone: "eu-west-1b"},
		},
		{
			name: "several subnets with random",
			step: stepNetwork{subnetFilter: SubnetFilterOptions{Filters: classBuild, Random: true}, pick: func(n int) int {
				if n != 3 {
					panic("random pick among the wrong number of subnets")
				}
				return 2
			}},
			setup: func(f *fakeNetwork) {
				f.DescribeSubnetsCalls.Return(subnets(
					subnet("subnet-1", "vpc-1", "eu-west-1a", 300, types.SubnetStateAvailable),
					subnet("subnet-2", "vpc-1", "eu-west-1b", 300, types.SubnetStateAvailable),
					subnet("subnet-3", "vpc-1", "eu-west-1c", 1, types.SubnetStateAvailable)), nil)
			},
			wantSubnets: map[string][]string{"tag:Class": {"build"}, "state": {"available"}},
			want:        network{VpcID: "vpc-1", SubnetID: "subnet-3", AvailabilityZone: "eu-west-1c"},
		},
		{
			name: "subnets over several pages",
			step: stepNetwork{subnetFilter: SubnetFilterOptions{Filters: classBuild, MostFree: true}},
			setup: func(f *fakeNetwork) {
				page1 := subnets(subnet("subnet-1", "vpc-1", "eu-west-1a", 10, types.SubnetStateAvailable))
				page1.NextToken = aws.String("page2")
				f.DescribeSubnetsCalls.Return(page1, nil).
					Return(subnets(subnet("subnet-2", "vpc-1", "eu-west-1b", 20, types.SubnetStateAvailable)), nil)
			},
			wantSubnets: map[string][]string{"tag:Class": {"build"}, "state": {"available"}},
			want:        network{VpcID: "vpc-1", SubnetID: "subnet-2", AvailabilityZone: "eu-west-1b"},
		},
		{
			name:     "subnet_id checked against vpc_filter's VPC",
			step:     stepNetwork{subnetID: "subnet-9", vpcFilter: VpcFilterOptions{Filters: classBuild}},
			wantVpcs: map[string][]string{"tag:Class": {"build"}, "state": {"available"}},
			setup: func(f *fakeNetwork) {
				f.DescribeVpcsCalls.Return(vpcs("vpc-build"), nil)
				f.DescribeSubnetsCalls.Return(subnets(subnet("subnet-9", "vpc-build", "eu-west-1a", 5, "")), nil)
			},
			want: network{VpcID: "vpc-build", SubnetID: "subnet-9", AvailabilityZone: "eu-west-1a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeNetwork(t)
			tt.setup(f)
			state, ui := newState(t)
			step := tt.step
			step.ec2 = f

			wantContinue(t, step.Run(t.Context(), state), state, ui)

			if tt.wantVpcs != nil {
				if got := filterMap(f.DescribeVpcsCalls.Input(t).Filters); !reflect.DeepEqual(got, tt.wantVpcs) {
					t.Errorf("DescribeVpcs filters = %v, want %v", got, tt.wantVpcs)
				}
			} else if n := f.DescribeVpcsCalls.Called(); n != 0 {
				t.Errorf("DescribeVpcs called %d times, want none", n)
			}
			if tt.wantSubnets != nil {
				calls := f.DescribeSubnetsCalls.Inputs
				if got := filterMap(calls[len(calls)-1].Filters); !reflect.DeepEqual(got, tt.wantSubnets) {
					t.Errorf("DescribeSubnets filters = %v, want %v", got, tt.wantSubnets)
				}
			}
			if got := getNetwork(state); got != tt.want {
				t.Errorf("network = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStepNetwork_filterErrors(t *testing.T) {
	tests := []struct {
		name  string
		step  stepNetwork
		setup func(*fakeNetwork)
		want  []string
		code  string
	}{
		{
			name:  "vpc_filter matches no VPC",
			step:  stepNetwork{vpcFilter: VpcFilterOptions{Filters: classBuild}},
			setup: func(f *fakeNetwork) { f.DescribeVpcsCalls.Return(vpcs(), nil) },
			want:  []string{"`vpc_filter` (state=available tag:Class=build) must match exactly one available VPC; it matches 0", "set `vpc_id`"},
		},
		{
			name:  "vpc_filter matches two VPCs",
			step:  stepNetwork{vpcFilter: VpcFilterOptions{Filters: classBuild}},
			setup: func(f *fakeNetwork) { f.DescribeVpcsCalls.Return(vpcs("vpc-1", "vpc-2"), nil) },
			want:  []string{"must match exactly one available VPC; it matches 2 (vpc-1, vpc-2)", "narrow the filters"},
		},
		{
			name:  "DescribeVpcs fails",
			step:  stepNetwork{vpcFilter: VpcFilterOptions{Filters: classBuild}},
			setup: func(f *fakeNetwork) { f.DescribeVpcsCalls.Return(nil, apiErr("UnauthorizedOperation")) },
			want:  []string{"looking for the VPC of `vpc_filter`"},
			code:  "UnauthorizedOperation",
		},
		{
			name:  "subnet_filter matches nothing",
			step:  stepNetwork{vpcID: "vpc-1", subnetFilter: SubnetFilterOptions{Filters: classBuild}},
			setup: func(f *fakeNetwork) { f.DescribeSubnetsCalls.Return(subnets(), nil) },
			want:  []string{"`subnet_filter` (state=available tag:Class=build vpc-id=vpc-1) matches no available subnet", "set `subnet_id`"},
		},
		{
			name: "subnet_filter matches several without most_free or random",
			step: stepNetwork{subnetFilter: SubnetFilterOptions{Filters: classBuild}},
			setup: func(f *fakeNetwork) {
				f.DescribeSubnetsCalls.Return(subnets(
					subnet("subnet-1", "vpc-1", "eu-west-1a", 3, types.SubnetStateAvailable),
					subnet("subnet-2", "vpc-1", "eu-west-1b", 4, types.SubnetStateAvailable)), nil)
			},
			want: []string{"matches 2 subnets (subnet-1, subnet-2)", "set `most_free = true` or `random = true`"},
		},
		{
			name:  "DescribeSubnets fails",
			step:  stepNetwork{subnetFilter: SubnetFilterOptions{Filters: classBuild, Random: true}},
			setup: func(f *fakeNetwork) { f.DescribeSubnetsCalls.Return(nil, apiErr("RequestLimitExceeded")) },
			want:  []string{"looking for the subnet of `subnet_filter`"},
			code:  "RequestLimitExceeded",
		},
		{
			name: "subnet_id outside vpc_filter's VPC",
			step: stepNetwork{subnetID: "subnet-9", vpcFilter: VpcFilterOptions{Filters: classBuild}},
			setup: func(f *fakeNetwork) {
				f.DescribeVpcsCalls.Return(vpcs("vpc-build"), nil)
				f.DescribeSubnetsCalls.Return(subnets(subnet("subnet-9", "vpc-other", "eu-west-1a", 5, "")), nil)
			},
			want: []string{"subnet subnet-9 is in VPC vpc-other, not in the VPC of `vpc_filter`, vpc-build"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeNetwork(t)
			tt.setup(f)
			state, ui := newState(t)
			step := tt.step
			step.ec2 = f

			err := wantHalt(t, step.Run(t.Context(), state), state, ui, tt.want...)
			if tt.code != "" {
				wantAPICode(t, err, tt.code)
			}
			wantNoKeys(t, state, keyNetwork)
		})
	}
}
