package ebs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// What the on-demand and the spot launch share: waiting for the build
// instance to run, and terminating it.

type instanceTerminator interface {
	instanceDescriber
	TerminateInstances(context.Context, *ec2.TerminateInstancesInput, ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
}

// waitUntilRunning waits until instance id runs and returns it; an instance
// that ends up in any state but running fails with EC2's reason.
func waitUntilRunning(ctx context.Context, client instanceDescriber, say func(string), id string, poll bakery.Poll) (types.Instance, error) {
	var inst types.Instance
	err := bakery.Wait(ctx, say, "instance "+id+" to run", poll, func(ctx context.Context) (bool, string, error) {
		found, ok, err := describeInstance(ctx, client, id)
		if err != nil || !ok {
			return false, "not visible yet", err
		}
		inst = found
		switch name := instanceState(found); name {
		case types.InstanceStateNameRunning:
			return true, string(name), nil
		case types.InstanceStateNamePending:
			return false, string(name), nil
		default:
			return false, string(name), fmt.Errorf("instance %s is %s instead of running: %s", id, name, stateReason(found))
		}
	})
	return inst, err
}

// terminateInstance terminates instance id and waits until it is gone; one
// EC2 no longer knows is gone already. ctx is a cleanup context.
func terminateInstance(ctx context.Context, client instanceTerminator, say func(string), id string, poll bakery.Poll) error {
	if _, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		if apiErrorCode(err) != "InvalidInstanceID.NotFound" {
			return err
		}
	}
	poll.Timeout = cleanupTimeout
	return bakery.Wait(ctx, say, "instance "+id+" to terminate", poll, func(ctx context.Context) (bool, string, error) {
		inst, ok, err := describeInstance(ctx, client, id)
		if err != nil {
			return false, "", err
		}
		if !ok {
			return true, "gone", nil
		}
		name := instanceState(inst)
		return name == types.InstanceStateNameTerminated, string(name), nil
	})
}
