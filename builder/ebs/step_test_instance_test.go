package ebs

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

func TestStepTestInstance_launchesFromTheNewAMI(t *testing.T) {
	f := newFakeInstances(t)
	f.RunInstancesCalls.Return(launched("i-test"), nil)
	running := instance("i-test", types.InstanceStateNameRunning)
	running.PrivateIpAddress = aws.String("10.0.0.9")
	f.DescribeInstancesCalls.Return(described(running), nil)
	state, ui := stateForLaunch(t, "packer_bakery_b1")
	state.Put(keyImage, types.Image{ImageId: aws.String("ami-0new")})
	tags := bakery.Tags{"Name": "Packer AMI test", bakery.TagBuildID: "b1"}
	step := &stepTestInstance{ec2: f, instanceType: "t3.small", tags: tags, clientToken: "bakery-b1-test", poll: fastPoll}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	in := f.RunInstancesCalls.Input(t)
	if aws.ToString(in.ImageId) != "ami-0new" || in.InstanceType != "t3.small" {
		t.Errorf("launched %s from %s, want t3.small from the new AMI ami-0new", in.InstanceType, aws.ToString(in.ImageId))
	}
	if aws.ToString(in.SubnetId) != "subnet-1" || !reflect.DeepEqual(in.SecurityGroupIds, []string{"sg-1"}) || aws.ToString(in.KeyName) != "packer_bakery_b1" {
		t.Errorf("launched in %q with %v and key %q; want the build's subnet, group and key pair", aws.ToString(in.SubnetId), in.SecurityGroupIds, aws.ToString(in.KeyName))
	}
	if aws.ToString(in.ClientToken) != "bakery-b1-test" {
		t.Errorf("ClientToken %q: a token of its own, not the build instance's", aws.ToString(in.ClientToken))
	}
	for _, spec := range in.TagSpecifications {
		if got := tagMap(spec.Tags); !reflect.DeepEqual(got, map[string]string(tags)) {
			t.Errorf("%s tagged %v, want %v (the build's id: sweep finds it)", spec.ResourceType, got, tags)
		}
	}
	if len(in.TagSpecifications) != 2 {
		t.Errorf("%d tag specifications, want instance and volume", len(in.TagSpecifications))
	}
	if got := getTestInstance(state); aws.ToString(got.PrivateIpAddress) != "10.0.0.9" {
		t.Errorf("test instance in state %s", jsonString(got))
	}
	if _, ok := state.GetOk(keyInstance); ok {
		t.Errorf("the test instance took the build instance's place in state")
	}

	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(described(instance("i-test", types.InstanceStateNameTerminated)), nil)
	step.Cleanup(state)
	if got := f.TerminateInstancesCalls.Input(t).InstanceIds; !reflect.DeepEqual(got, []string{"i-test"}) {
		t.Errorf("terminated %v, want [i-test]", got)
	}
}

func TestStepTestInstance_launchFails(t *testing.T) {
	f := newFakeInstances(t)
	f.RunInstancesCalls.Return(nil, apiErr("InsufficientInstanceCapacity"))
	state, ui := stateForLaunch(t, "k")
	state.Put(keyImage, types.Image{ImageId: aws.String("ami-0new")})
	step := &stepTestInstance{ec2: f, instanceType: "t3.micro", poll: fastPoll}
	wantHalt(t, step.Run(t.Context(), state), state, ui, "`ami_test`", "ami-0new", "InsufficientInstanceCapacity")
	step.Cleanup(state) // nothing launched: nothing to terminate (the fake fails on a call)
}
