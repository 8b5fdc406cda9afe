package ebs

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

var (
	runTags    = bakery.Tags{"Name": "Packer Builder", "team": "bakers", bakery.TagBuildID: "b1"}
	volumeTags = bakery.Tags{"disk": "scratch", bakery.TagBuildID: "b1"}
)

func stateForLaunch(t *testing.T, keyName string) (*multistep.BasicStateBag, *uiOutput) {
	state, ui := newState(t)
	state.Put(keySourceImage, sourceImage("ami-0source", "2024-01-01T00:00:00Z"))
	state.Put(keyNetwork, network{VpcID: "vpc-1", SubnetID: "subnet-1", AvailabilityZone: "eu-west-1a"})
	state.Put(keySGIDs, []string{"sg-1"})
	if keyName != "" {
		state.Put(keyKeyPairName, keyName)
	}
	return state, ui
}

func newRunStep(f instanceRunner) *stepRunInstance {
	return &stepRunInstance{ec2: f, instanceType: "t3.micro", tags: runTags, volumeTags: volumeTags, clientToken: "bakery-b1", poll: fastPoll}
}

func instance(id string, state types.InstanceStateName) types.Instance {
	return types.Instance{InstanceId: aws.String(id), State: &types.InstanceState{Name: state}}
}

func described(insts ...types.Instance) *ec2.DescribeInstancesOutput {
	return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: insts}}}
}

func launched(id string) *ec2.RunInstancesOutput {
	return &ec2.RunInstancesOutput{Instances: []types.Instance{instance(id, types.InstanceStateNamePending)}}
}

func TestStepRunInstance_launch(t *testing.T) {
	running := instance("i-1", types.InstanceStateNameRunning)
	running.PrivateIpAddress = aws.String("10.0.0.5")
	running.PublicIpAddress = aws.String("203.0.113.5")
	f := newFakeInstances(t)
	f.RunInstancesCalls.Return(launched("i-1"), nil)
	f.DescribeInstancesCalls.
		Return(nil, apiErr("InvalidInstanceID.NotFound")). // not visible right after launch
		Return(described(instance("i-1", types.InstanceStateNamePending)), nil).
		Return(described(instance("i-other", types.InstanceStateNameRunning), running), nil)
	state, ui := stateForLaunch(t, "packer_bakery_b1")
	step := newRunStep(f)

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	in := f.RunInstancesCalls.Input(t)
	if aws.ToString(in.ImageId) != "ami-0source" || in.InstanceType != "t3.micro" {
		t.Errorf("launched %s from %s, want t3.micro from ami-0source", in.InstanceType, aws.ToString(in.ImageId))
	}
	if aws.ToInt32(in.MinCount) != 1 || aws.ToInt32(in.MaxCount) != 1 {
		t.Errorf("count %d-%d, want exactly 1", aws.ToInt32(in.MinCount), aws.ToInt32(in.MaxCount))
	}
	if got := aws.ToString(in.ClientToken); got != "bakery-b1" {
		t.Errorf("ClientToken = %q, want bakery-b1 so a retried launch does not start a second instance", got)
	}
	if got := aws.ToString(in.KeyName); got != "packer_bakery_b1" {
		t.Errorf("KeyName = %q, want packer_bakery_b1", got)
	}
	if in.MetadataOptions == nil || in.MetadataOptions.HttpTokens != types.HttpTokensStateRequired ||
		in.MetadataOptions.HttpEndpoint != types.InstanceMetadataEndpointStateEnabled {
		t.Errorf("MetadataOptions = %s, want IMDSv2 only (HttpTokens required, endpoint enabled)", jsonString(in.MetadataOptions))
	}
	if aws.ToString(in.SubnetId) != "subnet-1" || !reflect.DeepEqual(in.SecurityGroupIds, []string{"sg-1"}) {
		t.Errorf("launched in %q with groups %v, want subnet-1 with [sg-1]", aws.ToString(in.SubnetId), in.SecurityGroupIds)
	}
	if in.NetworkInterfaces != nil {
		t.Errorf("NetworkInterfaces set without associate_public_ip_address: %s", jsonString(in.NetworkInterfaces))
	}
	specs := map[types.ResourceType]map[string]string{}
	for _, spec := range in.TagSpecifications {
		specs[spec.ResourceType] = tagMap(spec.Tags)
	}
	want := map[types.ResourceType]map[string]string{
		types.ResourceTypeInstance: runTags,
		types.ResourceTypeVolume:   volumeTags,
	}
	if !reflect.DeepEqual(specs, want) || len(in.TagSpecifications) != 2 {
		t.Errorf("TagSpecifications = %s, want instance tagged %v and volumes %v", jsonString(in.TagSpecifications), runTags, volumeTags)
	}
	for _, d := range f.DescribeInstancesCalls.Inputs {
		if !reflect.DeepEqual(d.InstanceIds, []string{"i-1"}) {
			t.Errorf("DescribeInstances of %v, want [i-1]", d.InstanceIds)
		}
	}

	got := getInstance(state)
	if aws.ToString(got.PublicIpAddress) != "203.0.113.5" || aws.ToString(got.PrivateIpAddress) != "10.0.0.5" {
		t.Errorf("instance in state = %s, want the running one with its addresses", jsonString(got))
	}
	if id := state.Get(keyInstanceID); id != "i-1" {
		t.Errorf("state[%q] = %v, want i-1", keyInstanceID, id)
	}
	for _, said := range []string{"Instance i-1 launched", "now pending", "Instance i-1 is running (private IP 10.0.0.5, public IP 203.0.113.5)"} {
		if !strings.Contains(ui.Out.String(), said) {
			t.Errorf("user was not told %q:\n%s", said, ui.Out.String())
		}
	}

	// Cleanup terminates the instance and waits until it is gone.
	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.
		Return(described(instance("i-1", types.InstanceStateNameShuttingDown)), nil).
		Return(described(instance("i-1", types.InstanceStateNameTerminated)), nil)
	step.Cleanup(state)
	if got := f.TerminateInstancesCalls.Input(t).InstanceIds; !reflect.DeepEqual(got, []string{"i-1"}) {
		t.Errorf("terminated %v, want [i-1]", got)
	}
	if ui.Err.Len() > 0 {
		t.Errorf("Cleanup showed an error: %s", ui.Err.String())
	}
	step.Cleanup(state) // nothing left to terminate
}

func TestStepRunInstance_publicIPAndNoKey(t *testing.T) {
	f := newFakeInstances(t)
	f.RunInstancesCalls.Return(launched("i-1"), nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameRunning)), nil)
	state, ui := stateForLaunch(t, "")
	step := newRunStep(f)
	step.associatePublicIP = aws.Bool(false)

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	in := f.RunInstancesCalls.Input(t)
	if in.KeyName != nil {
		t.Errorf("KeyName = %q, want none when no key pair is used", aws.ToString(in.KeyName))
	}
	// EC2 rejects a subnet or groups both at the top level and in an interface.
	if in.SubnetId != nil || in.SecurityGroupIds != nil {
		t.Errorf("SubnetId %v / SecurityGroupIds %v set besides the network interface", aws.ToString(in.SubnetId), in.SecurityGroupIds)
	}
	if len(in.NetworkInterfaces) != 1 {
		t.Fatalf("NetworkInterfaces = %s, want one", jsonString(in.NetworkInterfaces))
	}
	ni := in.NetworkInterfaces[0]
	if aws.ToInt32(ni.DeviceIndex) != 0 || aws.ToString(ni.SubnetId) != "subnet-1" || !reflect.DeepEqual(ni.Groups, []string{"sg-1"}) ||
		ni.AssociatePublicIpAddress == nil || *ni.AssociatePublicIpAddress || !aws.ToBool(ni.DeleteOnTermination) {
		t.Errorf("network interface = %s, want device 0 in subnet-1 with [sg-1], no public IP, deleted on termination", jsonString(ni))
	}
	if !strings.Contains(ui.Out.String(), "public IP none") {
		t.Errorf("user was not told there is no public IP: %q", ui.Out.String())
	}
	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(nil, apiErr("InvalidInstanceID.NotFound"))
	step.Cleanup(state)
}

func TestStepRunInstance_launchFails(t *testing.T) {
	tests := []struct {
		name string
		out  *ec2.RunInstancesOutput
		err  error
		want string
	}{
		{name: "API error", err: apiErr("InsufficientInstanceCapacity"), want: "launching the build instance"},
		{name: "no instance returned", out: &ec2.RunInstancesOutput{}, want: "EC2 returned 0 instances, expected 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeInstances(t)
			f.RunInstancesCalls.Return(tt.out, tt.err)
			state, ui := stateForLaunch(t, "k")
			step := newRunStep(f)

			err := wantHalt(t, step.Run(t.Context(), state), state, ui, tt.want)
			if tt.err != nil {
				wantAPICode(t, err, "InsufficientInstanceCapacity")
			}
			wantNoKeys(t, state, keyInstance, keyInstanceID)
			state.Put(multistep.StateHalted, true)
			step.Cleanup(state) // nothing to terminate
		})
	}
}

func TestStepRunInstance_instanceDiesWhileStarting(t *testing.T) {
	dead := instance("i-1", types.InstanceStateNameTerminated)
	dead.StateReason = &types.StateReason{Code: aws.String("Server.InternalError"), Message: aws.String("Server.InternalError: Internal error on launch")}
	f := newFakeInstances(t)
	f.RunInstancesCalls.Return(launched("i-1"), nil)
	f.DescribeInstancesCalls.Return(described(dead), nil)
	state, ui := stateForLaunch(t, "k")
	step := newRunStep(f)

	wantHalt(t, step.Run(t.Context(), state), state, ui, "instance i-1 is terminated instead of running", "Internal error on launch")

	// The instance exists in EC2, so Cleanup still terminates it.
	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(described(dead), nil)
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state)
	if f.TerminateInstancesCalls.Called() != 1 {
		t.Errorf("Cleanup did not terminate the failed instance")
	}
}

func TestStepRunInstance_cancelDuringWait(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	f := newFakeInstances(t)
	f.RunInstancesCalls.Return(launched("i-1"), nil)
	f.DescribeInstancesCalls.ReturnFunc(func(*ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error) {
		cancel() // Ctrl-C while the instance is pending
		return described(instance("i-1", types.InstanceStateNamePending)), nil
	})
	state, ui := stateForLaunch(t, "k")
	step := newRunStep(f)
	// Only the cancel can end the wait quickly; without it the wait times out.
	step.poll = bakery.Poll{Interval: time.Hour, Timeout: 3 * time.Second}

	start := time.Now()
	if got := step.Run(ctx, state); got != multistep.ActionHalt {
		t.Errorf("action = %v, want ActionHalt", got)
	}
	// Packer itself reports a cancelled build; the step adds no error.
	if _, ok := state.GetOk(keyError); ok || ui.Err.Len() > 0 {
		t.Errorf("a cancel was reported as an error: %v %q", state.Get(keyError), ui.Err.String())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %s to notice the cancel", d)
	}
	// Nothing after the cancel: the fake fails any unscripted call, and the
	// order says none was scripted for it.
	if want := []string{"RunInstances", "DescribeInstances"}; !slices.Equal(f.Order, want) {
		t.Errorf("calls until Run returned %q, want %q", f.Order, want)
	}

	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameTerminated)), nil)
	state.Put(multistep.StateCancelled, true)
	step.Cleanup(state)
	if want := []string{"RunInstances", "DescribeInstances", "TerminateInstances", "DescribeInstances"}; !slices.Equal(f.Order, want) {
		t.Errorf("calls after Cleanup %q, want %q", f.Order, want)
	}
	if got := f.TerminateInstancesCalls.Input(t).InstanceIds; !slices.Equal(got, []string{"i-1"}) {
		t.Errorf("Cleanup terminated %q, want the launched i-1", got)
	}
	wantLiveCleanupContexts(t, "TerminateInstances", f.TerminateInstancesCalls.CtxErrs, f.TerminateInstancesCalls.HadDeadline)
	if !strings.Contains(ui.Out.String(), "Terminating instance i-1") || strings.Contains(ui.Err.String(), "Could not delete") {
		t.Errorf("Cleanup after a cancel did not terminate cleanly:\n%s\n%s", ui.Out.String(), ui.Err.String())
	}
}

func TestStepRunInstance_cleanupInstanceAlreadyGone(t *testing.T) {
	f := newFakeInstances(t)
	f.RunInstancesCalls.Return(launched("i-1"), nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameRunning)), nil)
	state, ui := stateForLaunch(t, "k")
	step := newRunStep(f)
	wantContinue(t, step.Run(t.Context(), state), state, ui)

	f.TerminateInstancesCalls.Return(nil, apiErr("InvalidInstanceID.NotFound"))
	f.DescribeInstancesCalls.Return(nil, apiErr("InvalidInstanceID.NotFound"))
	step.Cleanup(state)
	if ui.Err.Len() > 0 {
		t.Errorf("an instance that is already gone is not a cleanup failure: %s", ui.Err.String())
	}
}

func TestStepRunInstance_cleanupFails(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*fakeInstances)
		want  string
	}{
		{
			name: "terminate refused",
			setup: func(f *fakeInstances) {
				f.TerminateInstancesCalls.Return(nil, apiErr("OperationNotPermitted"))
			},
			want: "OperationNotPermitted",
		},
		{
			name: "describe fails while waiting",
			setup: func(f *fakeInstances) {
				f.TerminateInstancesCalls.Return(nil, nil)
				f.DescribeInstancesCalls.Return(nil, apiErr("UnauthorizedOperation"))
			},
			want: "UnauthorizedOperation",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeInstances(t)
			f.RunInstancesCalls.Return(launched("i-1"), nil)
			f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameRunning)), nil)
			state, ui := stateForLaunch(t, "k")
			step := newRunStep(f)
			wantContinue(t, step.Run(t.Context(), state), state, ui)

			tt.setup(f)
			step.Cleanup(state)
			for _, w := range []string{"i-1", tt.want, "aws ec2 terminate-instances --instance-ids i-1"} {
				if !strings.Contains(ui.Err.String(), w) {
					t.Errorf("cleanup error %q does not mention %q", ui.Err.String(), w)
				}
			}
		})
	}
}

// No capacity for the type in the subnet: the VPC's other subnets, then the
// next type, each attempt with a ClientToken of its own; the instance that
// launches is the build's, recorded as any launch is.
func TestStepRunInstance_capacityFallback(t *testing.T) {
	f := newFakeInstances(t)
	net := newFakeNetwork(t)
	net.DescribeSubnetsCalls.Return(&ec2.DescribeSubnetsOutput{Subnets: []types.Subnet{
		{SubnetId: aws.String("subnet-3")}, {SubnetId: aws.String("subnet-1")}, {SubnetId: aws.String("subnet-2")},
	}}, nil)
	f.RunInstancesCalls.Return(nil, apiErr("InsufficientInstanceCapacity")). // t3.micro subnet-1
											Return(nil, apiErr("InsufficientInstanceCapacity")). // t3.micro subnet-2
											Return(nil, apiErr("Unsupported")).                  // t3.micro subnet-3
											Return(nil, apiErr("InsufficientInstanceCapacity")). // t3a.micro subnet-1
											Return(launched("i-1"), nil)                         // t3a.micro subnet-2
	f.DescribeInstancesCalls.ReturnAlways(described(instance("i-1", types.InstanceStateNameRunning)), nil)
	state, ui := stateForLaunch(t, "k")
	step := newRunStep(f)
	step.fallbackTypes, step.fallbackSubnets, step.subnets = []string{"t3a.micro"}, true, net

	if got := step.Run(t.Context(), state); got != multistep.ActionContinue {
		t.Fatalf("Run = %v: %v\n%s", got, state.Get("error"), ui.Out.String())
	}
	var tried, tokens []string
	for _, in := range f.RunInstancesCalls.Inputs {
		tried = append(tried, string(in.InstanceType)+" "+aws.ToString(in.SubnetId))
		tokens = append(tokens, aws.ToString(in.ClientToken))
	}
	want := []string{"t3.micro subnet-1", "t3.micro subnet-2", "t3.micro subnet-3", "t3a.micro subnet-1", "t3a.micro subnet-2"}
	if !reflect.DeepEqual(tried, want) {
		t.Errorf("launches tried %q, want %q", tried, want)
	}
	if want := []string{"bakery-b1", "bakery-b1-1", "bakery-b1-2", "bakery-b1-3", "bakery-b1-4"}; !reflect.DeepEqual(tokens, want) {
		t.Errorf("client tokens %q, want %q", tokens, want)
	}
	vpc := net.DescribeSubnetsCalls.Input(t).Filters
	if len(vpc) != 2 || aws.ToString(vpc[0].Name) != "vpc-id" || vpc[0].Values[0] != "vpc-1" {
		t.Errorf("other subnets listed with filters %+v, want the build's VPC", vpc)
	}
	if step.instanceID != "i-1" {
		t.Errorf("instance %q recorded, want i-1", step.instanceID)
	}
	if !strings.Contains(ui.Out.String(), "EC2 has no capacity for t3.micro in subnet-1 (InsufficientInstanceCapacity)") {
		t.Errorf("the build does not say why it moved on:\n%s", ui.Out.String())
	}
}

// Every type and subnet refused: the build fails naming each attempt and
// what to do; another error stops at once, without trying further.
func TestStepRunInstance_capacityFallbackExhausted(t *testing.T) {
	f := newFakeInstances(t)
	f.RunInstancesCalls.Return(nil, apiErr("InsufficientInstanceCapacity")).Return(nil, apiErr("Unsupported"))
	state, ui := stateForLaunch(t, "k")
	step := newRunStep(f)
	step.fallbackTypes = []string{"t3a.micro"}
	err := wantHalt(t, step.Run(t.Context(), state), state, ui,
		"no capacity for any type and subnet tried (t3.micro in subnet-1: InsufficientInstanceCapacity; t3a.micro in subnet-1: Unsupported): add types to `fallback_instance_types`")
	wantAPICode(t, err, "Unsupported")

	f = newFakeInstances(t)
	f.RunInstancesCalls.Return(nil, apiErr("InvalidAMIID.NotFound"))
	state, ui = stateForLaunch(t, "k")
	step = newRunStep(f)
	step.fallbackTypes = []string{"t3a.micro"}
	wantHalt(t, step.Run(t.Context(), state), state, ui, "launching the build instance")
	if n := f.RunInstancesCalls.Called(); n != 1 {
		t.Errorf("%d launches after an error that is not about capacity, want 1", n)
	}
}

// With fallback_subnets the launch may use any subnet of the VPC, and lists
// them: the permission check and the policy cover both.
func TestStepRunInstance_fallbackSubnetsCalls(t *testing.T) {
	step := newRunStep(nil)
	step.subnetID = "subnet-1"
	if res := step.launchResources(); !slices.Contains(res, "subnet/subnet-1") {
		t.Errorf("without fallback_subnets: %v, want the one subnet", res)
	}
	step.fallbackSubnets = true
	if res := step.launchResources(); !slices.Contains(res, "subnet/*") || slices.Contains(res, "subnet/subnet-1") {
		t.Errorf("with fallback_subnets: %v, want every subnet", res)
	}
	var actions []string
	for _, c := range step.awsCalls() {
		actions = append(actions, c.action)
	}
	if !slices.Contains(actions, "ec2:DescribeSubnets") {
		t.Errorf("declared calls %v lack ec2:DescribeSubnets", actions)
	}
}
