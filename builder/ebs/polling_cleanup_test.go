package ebs

import (
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// aws_polling.max_attempts bounds the build's waits, but not the cleanup
// waits: a small limit must not leave the instance or the security group
// behind.
var oneAttempt = bakery.Poll{Interval: time.Millisecond, Timeout: time.Minute, Attempts: 1}

func TestPollAttempts_boundTheLaunchWait(t *testing.T) {
	f := newFakeInstances(t)
	f.RunInstancesCalls.Return(launched("i-1"), nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNamePending)), nil)
	state, ui := stateForLaunch(t, "")
	step := newRunStep(f)
	step.poll = oneAttempt

	wantHalt(t, step.Run(t.Context(), state), state, ui, "instance i-1 to run", "timed out after 1 checks")
	if n := f.DescribeInstancesCalls.Called(); n != 1 {
		t.Errorf("%d DescribeInstances calls, want 1 (max_attempts)", n)
	}
	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameTerminated)), nil)
	step.Cleanup(state)
}

func TestPollAttempts_doNotBoundInstanceCleanup(t *testing.T) {
	f := newFakeInstances(t)
	f.RunInstancesCalls.Return(launched("i-1"), nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameRunning)), nil)
	state, ui := stateForLaunch(t, "")
	step := newRunStep(f)
	step.poll = oneAttempt
	wantContinue(t, step.Run(t.Context(), state), state, ui)

	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.
		Return(described(instance("i-1", types.InstanceStateNameShuttingDown)), nil).
		Return(described(instance("i-1", types.InstanceStateNameShuttingDown)), nil).
		Return(described(instance("i-1", types.InstanceStateNameTerminated)), nil)
	step.Cleanup(state)
	if ui.Err.Len() > 0 {
		t.Errorf("Cleanup gave up: %s", ui.Err.String())
	}
	if n := f.DescribeInstancesCalls.Called(); n != 4 {
		t.Errorf("%d DescribeInstances calls, want 1 for the launch and 3 until terminated", n)
	}
}

func TestPollAttempts_doNotBoundSecurityGroupCleanup(t *testing.T) {
	f := newFakeSecurityGroups(t)
	f.CreateSecurityGroupCalls.Return(&ec2.CreateSecurityGroupOutput{GroupId: aws.String("sg-temp")}, nil)
	f.AuthorizeIngressCalls.Return(nil, nil)
	f.DeleteSecurityGroupCalls.
		Return(nil, apiErr("DependencyViolation")).
		Return(nil, apiErr("DependencyViolation")).
		Return(nil, nil)
	state, ui := stateWithNetwork(t)
	step := newTempSGStep(f)
	step.poll = oneAttempt

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	step.Cleanup(state)
	if ui.Err.Len() > 0 {
		t.Errorf("Cleanup gave up: %s", ui.Err.String())
	}
	for _, in := range f.DeleteSecurityGroupCalls.Inputs {
		if !reflect.DeepEqual(aws.ToString(in.GroupId), "sg-temp") {
			t.Errorf("deleted %s, want sg-temp", aws.ToString(in.GroupId))
		}
	}
	if n := f.DeleteSecurityGroupCalls.Called(); n != 3 {
		t.Errorf("%d DeleteSecurityGroup calls, want 3 (until the group is released)", n)
	}
}
