package ebs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func subnet(id, vpc, az string, free int32, state types.SubnetState) types.Subnet {
	return types.Subnet{SubnetId: aws.String(id), VpcId: aws.String(vpc), AvailabilityZone: aws.String(az),
		AvailableIpAddressCount: aws.Int32(free), State: state}
}

// filterMap turns EC2 filters into name → values.
func filterMap(filters []types.Filter) map[string][]string {
	m := map[string][]string{}
	for _, f := range filters {
		m[aws.ToString(f.Name)] = f.Values
	}
	return m
}

func TestStepNetwork_configuredSubnet(t *testing.T) {
	f := newFakeNetwork(t)
	f.DescribeSubnetsCalls.Return(&ec2.DescribeSubnetsOutput{Subnets: []types.Subnet{
		subnet("subnet-1", "vpc-1", "eu-west-1b", 10, types.SubnetStateAvailable)}}, nil)
	state, ui := newState(t)
	step := &stepNetwork{ec2: f, subnetID: "subnet-1", vpcID: "vpc-1"}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	if got := f.DescribeSubnetsCalls.Input(t).SubnetIds; !reflect.DeepEqual(got, []string{"subnet-1"}) {
		t.Errorf("SubnetIds = %v, want [subnet-1]", got)
	}
	want := network{VpcID: "vpc-1", SubnetID: "subnet-1", AvailabilityZone: "eu-west-1b"}
	if got := getNetwork(state); got != want {
		t.Errorf("network = %+v, want %+v", got, want)
	}
	if !strings.Contains(ui.Out.String(), "VPC vpc-1, subnet subnet-1 (eu-west-1b)") {
		t.Errorf("user was not told the network: %q", ui.Out.String())
	}
	step.Cleanup(state)
}

func TestStepNetwork_defaultVPCMostFreeSubnet(t *testing.T) {
	f := newFakeNetwork(t)
	f.DescribeVpcsCalls.Return(&ec2.DescribeVpcsOutput{Vpcs: []types.Vpc{{VpcId: aws.String("vpc-default")}}}, nil)
	f.DescribeSubnetsCalls.Return(&ec2.DescribeSubnetsOutput{Subnets: []types.Subnet{
		subnet("subnet-c", "vpc-default", "eu-west-1c", 50, types.SubnetStateAvailable),
		subnet("subnet-full", "vpc-default", "eu-west-1a", 500, types.SubnetStatePending), // not usable
		subnet("subnet-b", "vpc-default", "eu-west-1b", 50, types.SubnetStateAvailable),   // ties with c, lower ID
		subnet("subnet-a", "vpc-default", "eu-west-1a", 3, types.SubnetStateAvailable),
	}}, nil)
	state, ui := newState(t)
	step := &stepNetwork{ec2: f}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	if got := filterMap(f.DescribeVpcsCalls.Input(t).Filters); !reflect.DeepEqual(got, map[string][]string{"is-default": {"true"}}) {
		t.Errorf("DescribeVpcs filters = %v, want is-default=true", got)
	}
	if got := filterMap(f.DescribeSubnetsCalls.Input(t).Filters); !reflect.DeepEqual(got, map[string][]string{"vpc-id": {"vpc-default"}}) {
		t.Errorf("DescribeSubnets filters = %v, want vpc-id=vpc-default", got)
	}
	want := network{VpcID: "vpc-default", SubnetID: "subnet-b", AvailabilityZone: "eu-west-1b"}
	if got := getNetwork(state); got != want {
		t.Errorf("network = %+v, want %+v", got, want)
	}
}

func TestStepNetwork_vpcAndZone(t *testing.T) {
	f := newFakeNetwork(t)
	f.DescribeSubnetsCalls.Return(&ec2.DescribeSubnetsOutput{Subnets: []types.Subnet{
		subnet("subnet-z", "vpc-9", "eu-west-1c", 7, "")}}, nil)
	state, ui := newState(t)
	step := &stepNetwork{ec2: f, vpcID: "vpc-9", availabilityZone: "eu-west-1c"}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	wantFilters := map[string][]string{"vpc-id": {"vpc-9"}, "availability-zone": {"eu-west-1c"}}
	if got := filterMap(f.DescribeSubnetsCalls.Input(t).Filters); !reflect.DeepEqual(got, wantFilters) {
		t.Errorf("DescribeSubnets filters = %v, want %v", got, wantFilters)
	}
	want := network{VpcID: "vpc-9", SubnetID: "subnet-z", AvailabilityZone: "eu-west-1c"}
	if got := getNetwork(state); got != want {
		t.Errorf("network = %+v, want %+v", got, want)
	}
}

func TestStepNetwork_errors(t *testing.T) {
	tests := []struct {
		name  string
		step  stepNetwork
		setup func(*fakeNetwork)
		want  []string
		code  string
	}{
		{
			name: "subnet not found",
			step: stepNetwork{subnetID: "subnet-x"},
			setup: func(f *fakeNetwork) {
				f.DescribeSubnetsCalls.Return(&ec2.DescribeSubnetsOutput{}, nil)
			},
			want: []string{"subnet subnet-x not found"},
		},
		{
			name: "subnet describe fails",
			step: stepNetwork{subnetID: "subnet-x"},
			setup: func(f *fakeNetwork) {
				f.DescribeSubnetsCalls.Return(nil, apiErr("InvalidSubnetID.NotFound"))
			},
			want: []string{"describing subnet subnet-x"},
			code: "InvalidSubnetID.NotFound",
		},
		{
			name: "subnet in another VPC",
			step: stepNetwork{subnetID: "subnet-1", vpcID: "vpc-mine"},
			setup: func(f *fakeNetwork) {
				f.DescribeSubnetsCalls.Return(&ec2.DescribeSubnetsOutput{Subnets: []types.Subnet{
					subnet("subnet-1", "vpc-other", "eu-west-1a", 9, "")}}, nil)
			},
			want: []string{"subnet-1 is in VPC vpc-other", "`vpc_id` vpc-mine"},
		},
		{
			name: "no default VPC",
			setup: func(f *fakeNetwork) {
				f.DescribeVpcsCalls.Return(&ec2.DescribeVpcsOutput{}, nil)
			},
			want: []string{"no default VPC", "`subnet_id`"},
		},
		{
			name: "default VPC lookup fails",
			setup: func(f *fakeNetwork) {
				f.DescribeVpcsCalls.Return(nil, apiErr("UnauthorizedOperation"))
			},
			want: []string{"looking for the default VPC"},
			code: "UnauthorizedOperation",
		},
		{
			name: "no available subnet in zone",
			step: stepNetwork{vpcID: "vpc-1", availabilityZone: "eu-west-1c"},
			setup: func(f *fakeNetwork) {
				f.DescribeSubnetsCalls.Return(&ec2.DescribeSubnetsOutput{Subnets: []types.Subnet{
					subnet("subnet-p", "vpc-1", "eu-west-1c", 9, types.SubnetStatePending)}}, nil)
			},
			want: []string{"no available subnet in VPC vpc-1 in eu-west-1c", "`subnet_id`"},
		},
		{
			name: "listing subnets fails",
			step: stepNetwork{vpcID: "vpc-1"},
			setup: func(f *fakeNetwork) {
				f.DescribeSubnetsCalls.Return(nil, apiErr("RequestLimitExceeded"))
			},
			want: []string{"listing subnets of VPC vpc-1"},
			code: "RequestLimitExceeded",
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
			step.Cleanup(state)
		})
	}
}
