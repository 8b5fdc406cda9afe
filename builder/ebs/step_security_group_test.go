package ebs

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

var sgTags = bakery.Tags{"Name": "packer_bakery_b1", bakery.TagBuildID: "b1"}

func newTempSGStep(f securityGroupManager) *stepSecurityGroup {
	return &stepSecurityGroup{ec2: f, name: "packer_bakery_b1", port: 2222,
		cidrs: []string{"203.0.113.0/24", "198.51.100.7/32"}, tags: sgTags, poll: fastPoll}
}

func stateWithNetwork(t *testing.T) (*multistep.BasicStateBag, *uiOutput) {
	state, ui := newState(t)
	state.Put(keyNetwork, network{VpcID: "vpc-1", SubnetID: "subnet-1", AvailabilityZone: "eu-west-1a"})
	return state, ui
}

func TestStepSecurityGroup_existingGroups(t *testing.T) {
	f := newFakeSecurityGroups(t) // fails on any call not scripted: no group is created
	f.DescribeGroupsCalls.Return(&ec2.DescribeSecurityGroupsOutput{SecurityGroups: []types.SecurityGroup{
		{GroupId: aws.String("sg-also"), VpcId: aws.String("vpc-1")},
		{GroupId: aws.String("sg-mine"), VpcId: aws.String("vpc-1")},
	}}, nil)
	state, ui := stateWithNetwork(t)
	step := &stepSecurityGroup{ec2: f, ids: []string{"sg-mine", "sg-also"}, port: 22, poll: fastPoll}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	if got := f.DescribeGroupsCalls.Input(t).GroupIds; !reflect.DeepEqual(got, []string{"sg-mine", "sg-also"}) {
		t.Errorf("DescribeSecurityGroups GroupIds = %v, want the configured groups", got)
	}

	if got := getSecurityGroupIDs(state); !reflect.DeepEqual(got, []string{"sg-mine", "sg-also"}) {
		t.Errorf("security groups in state = %v, want the configured ones", got)
	}
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state) // never deletes groups it did not create
}

func TestStepSecurityGroup_temporary(t *testing.T) {
	f := newFakeSecurityGroups(t)
	f.CreateSecurityGroupCalls.Return(&ec2.CreateSecurityGroupOutput{GroupId: aws.String("sg-temp")}, nil)
	f.AuthorizeIngressCalls.Return(nil, nil)
	state, ui := stateWithNetwork(t)
	step := newTempSGStep(f)

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	create := f.CreateSecurityGroupCalls.Input(t)
	if aws.ToString(create.GroupName) != "packer_bakery_b1" || aws.ToString(create.VpcId) != "vpc-1" {
		t.Errorf("CreateSecurityGroup name %q in %q, want packer_bakery_b1 in vpc-1", aws.ToString(create.GroupName), aws.ToString(create.VpcId))
	}
	if len(create.TagSpecifications) != 1 || create.TagSpecifications[0].ResourceType != types.ResourceTypeSecurityGroup ||
		!reflect.DeepEqual(tagMap(create.TagSpecifications[0].Tags), map[string]string(sgTags)) {
		t.Errorf("TagSpecifications = %s, want security-group tags %v", jsonString(create.TagSpecifications), sgTags)
	}

	auth := f.AuthorizeIngressCalls.Input(t)
	if aws.ToString(auth.GroupId) != "sg-temp" {
		t.Errorf("ingress added to %q, want sg-temp", aws.ToString(auth.GroupId))
	}
	if auth.CidrIp != nil || auth.IpProtocol != nil || auth.FromPort != nil || auth.SourceSecurityGroupName != nil {
		t.Errorf("ingress also uses the top-level shorthand fields: %s", jsonString(auth))
	}
	if len(auth.IpPermissions) != 1 {
		t.Fatalf("IpPermissions = %s, want exactly one rule", jsonString(auth.IpPermissions))
	}
	perm := auth.IpPermissions[0]
	if aws.ToString(perm.IpProtocol) != "tcp" || aws.ToInt32(perm.FromPort) != 2222 || aws.ToInt32(perm.ToPort) != 2222 {
		t.Errorf("rule = %s %d-%d, want tcp 2222-2222", aws.ToString(perm.IpProtocol), aws.ToInt32(perm.FromPort), aws.ToInt32(perm.ToPort))
	}
	var cidrs []string
	for _, r := range perm.IpRanges {
		cidrs = append(cidrs, aws.ToString(r.CidrIp))
	}
	if !reflect.DeepEqual(cidrs, []string{"203.0.113.0/24", "198.51.100.7/32"}) {
		t.Errorf("rule admits %v, want exactly the configured CIDRs", cidrs)
	}
	if len(perm.Ipv6Ranges) != 0 || len(perm.UserIdGroupPairs) != 0 || len(perm.PrefixListIds) != 0 {
		t.Errorf("rule admits more than the configured CIDRs: %s", jsonString(perm))
	}
	if got := getSecurityGroupIDs(state); !reflect.DeepEqual(got, []string{"sg-temp"}) {
		t.Errorf("security groups in state = %v, want [sg-temp]", got)
	}

	// The instance still holds the group for a while after termination.
	f.DeleteSecurityGroupCalls.
		Return(nil, apiErr("DependencyViolation")).
		Return(nil, apiErr("DependencyViolation")).
		Return(nil, nil)
	step.Cleanup(state)
	if n := f.DeleteSecurityGroupCalls.Called(); n != 3 {
		t.Errorf("DeleteSecurityGroup called %d times, want 3 (two refusals, then success)", n)
	}
	for _, in := range f.DeleteSecurityGroupCalls.Inputs {
		if aws.ToString(in.GroupId) != "sg-temp" {
			t.Errorf("DeleteSecurityGroup of %q, want sg-temp", aws.ToString(in.GroupId))
		}
	}
	if ui.Err.Len() > 0 {
		t.Errorf("Cleanup showed an error: %s", ui.Err.String())
	}
	if !strings.Contains(ui.Out.String(), "Deleting temporary security group sg-temp") {
		t.Errorf("user was not told the group is deleted: %q", ui.Out.String())
	}
	step.Cleanup(state) // nothing left to delete
}

func TestStepSecurityGroup_createFails(t *testing.T) {
	f := newFakeSecurityGroups(t)
	f.CreateSecurityGroupCalls.Return(nil, apiErr("UnauthorizedOperation"))
	state, ui := stateWithNetwork(t)
	step := newTempSGStep(f)

	err := wantHalt(t, step.Run(t.Context(), state), state, ui, `creating temporary security group "packer_bakery_b1"`)
	wantAPICode(t, err, "UnauthorizedOperation")
	wantNoKeys(t, state, keySGIDs)
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state) // nothing was created
}

func TestStepSecurityGroup_authorizeFailsDeletesGroup(t *testing.T) {
	f := newFakeSecurityGroups(t)
	f.CreateSecurityGroupCalls.Return(&ec2.CreateSecurityGroupOutput{GroupId: aws.String("sg-temp")}, nil)
	f.AuthorizeIngressCalls.Return(nil, apiErr("RulesPerSecurityGroupLimitExceeded"))
	state, ui := stateWithNetwork(t)
	step := newTempSGStep(f)

	err := wantHalt(t, step.Run(t.Context(), state), state, ui, "allowing port 2222 into security group sg-temp")
	wantAPICode(t, err, "RulesPerSecurityGroupLimitExceeded")
	wantNoKeys(t, state, keySGIDs)

	f.DeleteSecurityGroupCalls.Return(nil, nil)
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state)
	if got := aws.ToString(f.DeleteSecurityGroupCalls.Input(t).GroupId); got != "sg-temp" {
		t.Errorf("Cleanup deleted %q, want the half-made sg-temp", got)
	}
}

func TestStepSecurityGroup_cleanupAfterCancel(t *testing.T) {
	f := newFakeSecurityGroups(t)
	f.CreateSecurityGroupCalls.Return(&ec2.CreateSecurityGroupOutput{GroupId: aws.String("sg-temp")}, nil)
	f.AuthorizeIngressCalls.Return(nil, nil)
	f.DeleteSecurityGroupCalls.Return(nil, apiErr("DependencyViolation")).Return(nil, nil)
	state, ui := stateWithNetwork(t)
	ctx, cancel := context.WithCancel(t.Context())
	step := newTempSGStep(f)

	wantContinue(t, step.Run(ctx, state), state, ui)
	cancel()
	state.Put(multistep.StateCancelled, true)
	step.Cleanup(state)

	wantLiveCleanupContexts(t, "DeleteSecurityGroup", f.DeleteSecurityGroupCalls.CtxErrs, f.DeleteSecurityGroupCalls.HadDeadline)
	if ui.Err.Len() > 0 {
		t.Errorf("Cleanup after a cancel showed an error: %s", ui.Err.String())
	}
}

func TestStepSecurityGroup_cleanupGroupAlreadyGone(t *testing.T) {
	f := newFakeSecurityGroups(t)
	f.CreateSecurityGroupCalls.Return(&ec2.CreateSecurityGroupOutput{GroupId: aws.String("sg-temp")}, nil)
	f.AuthorizeIngressCalls.Return(nil, nil)
	f.DeleteSecurityGroupCalls.Return(nil, apiErr("InvalidGroup.NotFound"))
	state, ui := stateWithNetwork(t)
	step := newTempSGStep(f)

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	step.Cleanup(state)
	if ui.Err.Len() > 0 {
		t.Errorf("a group deleted by someone else is not a cleanup failure: %s", ui.Err.String())
	}
}

func TestStepSecurityGroup_cleanupFails(t *testing.T) {
	tests := []struct {
		name  string
		poll  bakery.Poll
		setup func(*fakeSecurityGroups)
		want  []string
	}{
		{
			name: "refused",
			poll: fastPoll,
			setup: func(f *fakeSecurityGroups) {
				f.DeleteSecurityGroupCalls.Return(nil, apiErr("UnauthorizedOperation"))
			},
			want: []string{"UnauthorizedOperation"},
		},
		{
			name: "still in use when the wait times out",
			poll: bakery.Poll{Interval: time.Millisecond, Timeout: 30 * time.Millisecond},
			setup: func(f *fakeSecurityGroups) {
				f.DeleteSecurityGroupCalls.ReturnAlways(nil, apiErr("DependencyViolation"))
			},
			want: []string{"in use", bakery.ErrWaitTimeout.Error()},
		},
		{
			name: "network error",
			poll: fastPoll,
			setup: func(f *fakeSecurityGroups) {
				f.DeleteSecurityGroupCalls.Return(nil, errors.New("dial tcp: connection refused"))
			},
			want: []string{"connection refused"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSecurityGroups(t)
			f.CreateSecurityGroupCalls.Return(&ec2.CreateSecurityGroupOutput{GroupId: aws.String("sg-temp")}, nil)
			f.AuthorizeIngressCalls.Return(nil, nil)
			tt.setup(f)
			state, ui := stateWithNetwork(t)
			step := newTempSGStep(f)
			step.poll = tt.poll

			wantContinue(t, step.Run(t.Context(), state), state, ui)
			step.Cleanup(state)

			want := append([]string{"sg-temp", "aws ec2 delete-security-group --group-id sg-temp"}, tt.want...)
			for _, w := range want {
				if !strings.Contains(ui.Err.String(), w) {
					t.Errorf("cleanup error %q does not mention %q", ui.Err.String(), w)
				}
			}
		})
	}
}

// Prepare accepts IPv6 blocks in temporary_security_group_source_cidrs
// (net.ParseCIDR does), so the step must send them as Ipv6Ranges: EC2
// rejects an IPv6 block in IpRanges.CidrIp.
func TestStepSecurityGroup_ipv6SourceCidr(t *testing.T) {
	f := newFakeSecurityGroups(t)
	f.CreateSecurityGroupCalls.Return(&ec2.CreateSecurityGroupOutput{GroupId: aws.String("sg-temp")}, nil)
	f.AuthorizeIngressCalls.Return(nil, nil)
	f.DeleteSecurityGroupCalls.Return(nil, nil)
	state, ui := stateWithNetwork(t)
	step := newTempSGStep(f)
	step.cidrs = []string{"203.0.113.0/24", "2001:db8::/32"}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	perm := f.AuthorizeIngressCalls.Input(t).IpPermissions[0]
	var v4, v6 []string
	for _, r := range perm.IpRanges {
		v4 = append(v4, aws.ToString(r.CidrIp))
	}
	for _, r := range perm.Ipv6Ranges {
		v6 = append(v6, aws.ToString(r.CidrIpv6))
	}
	if !reflect.DeepEqual(v4, []string{"203.0.113.0/24"}) || !reflect.DeepEqual(v6, []string{"2001:db8::/32"}) {
		t.Errorf("IpRanges %v, Ipv6Ranges %v; want [203.0.113.0/24] and [2001:db8::/32]", v4, v6)
	}
	step.Cleanup(state)
}

// After lost replies to CreateSecurityGroup and AuthorizeSecurityGroupIngress
// the retries meet what the first attempts made: the group with this build's
// id tag is used (and deleted at the end), the duplicate rule is fine.
func TestStepSecurityGroup_duplicateOfOwnGroupIsAdopted(t *testing.T) {
	f := newFakeSecurityGroups(t)
	f.CreateSecurityGroupCalls.Return(nil, apiErr("InvalidGroup.Duplicate"))
	f.DescribeGroupsCalls.Return(&ec2.DescribeSecurityGroupsOutput{SecurityGroups: []types.SecurityGroup{{
		GroupId: aws.String("sg-mine"), GroupName: aws.String("packer_bakery_b1"), Tags: sgTags.EC2(),
		Description: aws.String(tempGroupDescription),
	}}}, nil)
	f.AuthorizeIngressCalls.Return(nil, apiErr("InvalidPermission.Duplicate"))
	f.DeleteSecurityGroupCalls.Return(nil, nil)
	state, ui := stateWithNetwork(t)
	step := newTempSGStep(f)

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	if got := getSecurityGroupIDs(state); !reflect.DeepEqual(got, []string{"sg-mine"}) {
		t.Fatalf("security groups %v, want the adopted sg-mine", got)
	}
	filters := map[string][]string{}
	for _, flt := range f.DescribeGroupsCalls.Input(t).Filters {
		filters[aws.ToString(flt.Name)] = flt.Values
	}
	if !reflect.DeepEqual(filters, map[string][]string{"group-name": {"packer_bakery_b1"}, "vpc-id": {"vpc-1"}}) {
		t.Errorf("looked the group up by %v, want its name in the build's VPC", filters)
	}
	step.Cleanup(state)
	if got := aws.ToString(f.DeleteSecurityGroupCalls.Input(t).GroupId); got != "sg-mine" {
		t.Errorf("Cleanup deleted %q, want the adopted group", got)
	}
}

// A group pre-made by someone else with this build's tag (the build id is
// visible in the key pair's name) and a wide-open rule: not adopted, or the
// instance would be open to it.
func TestStepSecurityGroup_taggedGroupWithOthersContentFails(t *testing.T) {
	for _, g := range []types.SecurityGroup{
		{Description: aws.String(tempGroupDescription), IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"),
			IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}},
		{Description: aws.String("made by someone else")},
	} {
		f := newFakeSecurityGroups(t)
		f.CreateSecurityGroupCalls.Return(nil, apiErr("InvalidGroup.Duplicate"))
		g.GroupId, g.GroupName, g.Tags = aws.String("sg-planted"), aws.String("packer_bakery_b1"), sgTags.EC2()
		f.DescribeGroupsCalls.Return(&ec2.DescribeSecurityGroupsOutput{SecurityGroups: []types.SecurityGroup{g}}, nil)
		state, ui := stateWithNetwork(t)
		step := newTempSGStep(f)

		wantHalt(t, step.Run(t.Context(), state), state, ui, "sg-planted", "not what the build made", "left untouched")
		wantNoKeys(t, state, keySGIDs)
		state.Put(multistep.StateHalted, true)
		step.Cleanup(state) // not ours: the fake fails on DeleteSecurityGroup
	}
}

// A group of that name without this build's id tag is someone else's.
func TestStepSecurityGroup_duplicateOfOtherGroupFails(t *testing.T) {
	f := newFakeSecurityGroups(t)
	f.CreateSecurityGroupCalls.Return(nil, apiErr("InvalidGroup.Duplicate"))
	f.DescribeGroupsCalls.Return(&ec2.DescribeSecurityGroupsOutput{SecurityGroups: []types.SecurityGroup{{
		GroupId: aws.String("sg-theirs"), GroupName: aws.String("packer_bakery_b1"),
		Tags: []types.Tag{{Key: aws.String("bakery:build-id"), Value: aws.String("another-build")}},
	}}}, nil)
	state, ui := stateWithNetwork(t)
	step := newTempSGStep(f)

	wantHalt(t, step.Run(t.Context(), state), state, ui, "is not this build's")
	wantNoKeys(t, state, keySGIDs)
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state) // not ours: the fake fails on DeleteSecurityGroup
}
