package ebs

import (
	"encoding/base64"
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

// preparedInstanceConfig is the InstanceConfig Prepare makes of a template.
func preparedInstanceConfig(t *testing.T, over map[string]interface{}) InstanceConfig {
	t.Helper()
	var c Config
	if _, err := c.Prepare(validConfig(over)); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return c.InstanceConfig
}

// TestStepRunInstance_instanceOptions checks that every instance option
// reaches the one RunInstancesInput the step builds.
func TestStepRunInstance_instanceOptions(t *testing.T) {
	opts := preparedInstanceConfig(t, map[string]interface{}{
		"user_data":                "#cloud-config\nruncmd: [echo hi]\n",
		"metadata_options":         map[string]interface{}{"http_tokens": "optional", "http_put_response_hop_limit": 2, "instance_metadata_tags": "enabled"},
		"ebs_optimized":            true,
		"enable_unlimited_credits": true,
		"shutdown_behavior":        "terminate",
		"placement":                map[string]interface{}{"tenancy": "dedicated"},
		"launch_block_device_mappings": []map[string]interface{}{
			{"device_name": "/dev/xvda", "volume_size": 20, "volume_type": "gp3", "iops": 4000, "throughput": 250},
			{"device_name": "/dev/sdf", "volume_size": 5, "volume_type": "io2", "iops": 2500, "delete_on_termination": false},
		},
	})
	f := newFakeInstances(t)
	f.RunInstancesCalls.Return(launched("i-1"), nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameRunning)), nil)
	state, ui := stateForLaunch(t, "k")
	step := newRunStep(f)
	step.options = opts

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	in := f.RunInstancesCalls.Input(t)
	if got, _ := base64.StdEncoding.DecodeString(aws.ToString(in.UserData)); string(got) != "#cloud-config\nruncmd: [echo hi]\n" {
		t.Errorf("UserData decodes to %q, want the template's user_data", got)
	}
	wantMeta := &types.InstanceMetadataOptionsRequest{HttpEndpoint: "enabled", HttpTokens: "optional", HttpPutResponseHopLimit: aws.Int32(2), InstanceMetadataTags: "enabled"}
	if !reflect.DeepEqual(in.MetadataOptions, wantMeta) {
		t.Errorf("MetadataOptions = %s, want %s", jsonString(in.MetadataOptions), jsonString(wantMeta))
	}
	if !aws.ToBool(in.EbsOptimized) {
		t.Error("EbsOptimized not set")
	}
	if in.CreditSpecification == nil || aws.ToString(in.CreditSpecification.CpuCredits) != "unlimited" {
		t.Errorf("CreditSpecification = %s, want unlimited", jsonString(in.CreditSpecification))
	}
	if in.InstanceInitiatedShutdownBehavior != types.ShutdownBehaviorTerminate {
		t.Errorf("InstanceInitiatedShutdownBehavior = %q, want terminate", in.InstanceInitiatedShutdownBehavior)
	}
	if in.Placement == nil || in.Placement.Tenancy != types.TenancyDedicated || in.Placement.HostId != nil {
		t.Errorf("Placement = %s, want tenancy dedicated only", jsonString(in.Placement))
	}
	wantBDM := []types.BlockDeviceMapping{
		{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(20), VolumeType: "gp3", Iops: aws.Int32(4000), Throughput: aws.Int32(250), DeleteOnTermination: aws.Bool(true)}},
		{DeviceName: aws.String("/dev/sdf"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(5), VolumeType: "io2", Iops: aws.Int32(2500), DeleteOnTermination: aws.Bool(false)}},
	}
	if !reflect.DeepEqual(in.BlockDeviceMappings, wantBDM) {
		t.Errorf("BlockDeviceMappings\n got %s\nwant %s", jsonString(in.BlockDeviceMappings), jsonString(wantBDM))
	}
	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(nil, apiErr("InvalidInstanceID.NotFound"))
	step.Cleanup(state)
}

// TestStepRunInstance_defaultOptions checks what an untouched template
// launches with: IMDSv2 only, and nothing else the user did not ask for.
func TestStepRunInstance_defaultOptions(t *testing.T) {
	f := newFakeInstances(t)
	f.RunInstancesCalls.Return(launched("i-1"), nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameRunning)), nil)
	state, ui := stateForLaunch(t, "k")
	step := newRunStep(f)
	step.options = preparedInstanceConfig(t, nil)

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	in := f.RunInstancesCalls.Input(t)
	if want := (&types.InstanceMetadataOptionsRequest{HttpEndpoint: "enabled", HttpTokens: "required"}); !reflect.DeepEqual(in.MetadataOptions, want) {
		t.Errorf("MetadataOptions = %s, want %s", jsonString(in.MetadataOptions), jsonString(want))
	}
	if in.UserData != nil || in.EbsOptimized != nil || in.CreditSpecification != nil || in.InstanceInitiatedShutdownBehavior != "" ||
		in.Placement != nil || in.BlockDeviceMappings != nil {
		t.Errorf("options the template did not set were sent: %s", jsonString(in))
	}
	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(nil, apiErr("InvalidInstanceID.NotFound"))
	step.Cleanup(state)
}

// TestStepRunInstance_newVolumeWithoutSize stops before RunInstances (the
// fake fails on any call) when a launch mapping adds a device of no size.
func TestStepRunInstance_newVolumeWithoutSize(t *testing.T) {
	f := newFakeInstances(t)
	state, ui := stateForLaunch(t, "k")
	step := newRunStep(f)
	step.options.LaunchMappings = BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "gp3"}}

	wantHalt(t, step.Run(t.Context(), state), state, ui, "`launch_block_device_mappings` /dev/sdf: a new volume needs `volume_size`")
	wantNoKeys(t, state, keyInstance, keyInstanceID)
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state)
}

func TestStepStopInstance_disabled(t *testing.T) {
	f := newFakeStopper(t) // no StopInstances scripted: calling it fails the test
	f.DescribeInstancesCalls.
		Return(described(instance("i-1", types.InstanceStateNameRunning)), nil). // the provisioner has not stopped it yet
		Return(described(instance("i-1", types.InstanceStateNameStopping)), nil).
		Return(described(instance("i-1", types.InstanceStateNameStopped)), nil)
	state, ui := stateWithInstance(t, "i-1")
	step := &stepStopInstance{ec2: f, poll: fastPoll, disabled: true}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	if !strings.Contains(ui.Out.String(), "disable_stop_instance: not stopping instance i-1") {
		t.Errorf("user was not told the builder leaves the stop to the provisioner:\n%s", ui.Out.String())
	}
	if f.StopInstancesCalls.Called() != 0 {
		t.Errorf("StopInstances called with disable_stop_instance")
	}
}

func TestStepStopInstance_disabledFails(t *testing.T) {
	terminated := instance("i-1", types.InstanceStateNameTerminated)
	terminated.StateTransitionReason = aws.String("User initiated shutdown")
	tests := []struct {
		name  string
		poll  bakery.Poll
		reply *ec2.DescribeInstancesOutput
		want  []string
	}{
		{
			name:  "never stopped",
			poll:  bakery.Poll{Interval: time.Millisecond, Timeout: 20 * time.Millisecond},
			reply: described(instance("i-1", types.InstanceStateNameRunning)),
			want:  []string{"timed out", "with `disable_stop_instance`, the last provisioner must stop the instance"},
		},
		{
			name:  "terminated by a shutdown",
			poll:  fastPoll,
			reply: described(terminated),
			want:  []string{"instance i-1 is terminated instead of stopping: User initiated shutdown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeStopper(t)
			f.DescribeInstancesCalls.ReturnAlways(tt.reply, nil)
			state, ui := stateWithInstance(t, "i-1")
			step := &stepStopInstance{ec2: f, poll: tt.poll, disabled: true}
			wantHalt(t, step.Run(t.Context(), state), state, ui, tt.want...)
			if f.StopInstancesCalls.Called() != 0 {
				t.Errorf("StopInstances called with disable_stop_instance")
			}
		})
	}
}

func TestStepCreateImage_amiBlockDeviceMappings(t *testing.T) {
	mappings := BlockDevices{
		{DeviceName: "/dev/xvda", VolumeSize: 30, VolumeType: "gp3", Throughput: aws.Int64(500)},
		{DeviceName: "/dev/sdf", NoDevice: true},
	}.ec2(false)
	for _, tt := range []struct {
		name     string
		mappings []types.BlockDeviceMapping
	}{
		{name: "ami_block_device_mappings", mappings: mappings},
		{name: "none: the instance's own", mappings: nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeImageCreator(t)
			f.CreateImageCalls.Return(&ec2.CreateImageOutput{ImageId: aws.String("ami-0new")}, nil)
			f.DescribeImagesCalls.Return(images(builtImage("ami-0new", types.ImageStateAvailable)), nil)
			state, ui := stateWithInstance(t, "i-1")
			step := newCreateImageStep(f)
			step.mappings = tt.mappings

			wantContinue(t, step.Run(t.Context(), state), state, ui)

			if got := f.CreateImageCalls.Input(t).BlockDeviceMappings; !reflect.DeepEqual(got, tt.mappings) {
				t.Errorf("CreateImage BlockDeviceMappings\n got %s\nwant %s", jsonString(got), jsonString(tt.mappings))
			}
		})
	}
}
