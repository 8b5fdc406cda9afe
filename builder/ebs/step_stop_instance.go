package ebs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

type instanceStopper interface {
	StopInstances(context.Context, *ec2.StopInstancesInput, ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error)
	instanceDescriber
}

// stepStopInstance stops the instance so that the image is taken from
// quiet disks. With disable_stop_instance it leaves the stop to the last
// provisioner and only waits for it.
type stepStopInstance struct {
	ec2      instanceStopper
	poll     bakery.Poll
	disabled bool // disable_stop_instance
}

var _ multistep.Step = (*stepStopInstance)(nil)

func (s *stepStopInstance) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	id := *getInstance(state).InstanceId
	if s.disabled {
		ui.Say(fmt.Sprintf("disable_stop_instance: not stopping instance %s; waiting for the provisioner's stop...", id))
	} else {
		ui.Say(fmt.Sprintf("Stopping instance %s...", id))
		if _, err := s.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
			return halt(state, fmt.Errorf("stopping instance %s: %w", id, err))
		}
	}
	err := bakery.Wait(ctx, ui.Say, "instance "+id+" to stop", s.poll, func(ctx context.Context) (bool, string, error) {
		inst, ok, err := describeInstance(ctx, s.ec2, id)
		if err != nil || !ok {
			return false, "not visible", err
		}
		switch name := instanceState(inst); name {
		case types.InstanceStateNameStopped:
			return true, string(name), nil
		case types.InstanceStateNameStopping, types.InstanceStateNameRunning:
			return false, string(name), nil
		default:
			return false, string(name), fmt.Errorf("instance %s is %s instead of stopping: %s", id, name, stateReason(inst))
		}
	})
	if err != nil && s.disabled {
		err = fmt.Errorf("%w: with `disable_stop_instance`, the last provisioner must stop the instance", err)
	}
	if err != nil {
		return halt(state, err)
	}
	return multistep.ActionContinue
}

func (s *stepStopInstance) Cleanup(multistep.StateBag) {}

func (s *stepStopInstance) awsCalls() []awsCall {
	calls := describe("ec2:DescribeInstances")
	calls[0].check = func(ctx context.Context) error {
		_, err := s.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{DryRun: dryRun})
		return err
	}
	if s.disabled {
		return calls
	}
	return append(calls, awsCall{action: "ec2:StopInstances",
		grants: []Grant{{Sid: "StopOwnInstance", EC2: []string{"instance/*"}, Tagged: ResourceTagged}},
		check: func(ctx context.Context) error {
			_, err := s.ec2.StopInstances(ctx, &ec2.StopInstancesInput{DryRun: dryRun, InstanceIds: []string{placeholderInstance}})
			return err
		}})
}
