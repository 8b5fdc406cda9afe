package ebs

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// stepSpotNoStop takes the place of stepStopInstance for a spot build
// instance, as amazon-ebs skips its stop step: EC2 cannot stop a spot
// instance of an instant fleet (its request is one-time), so the AMI is
// made from the running instance, which CreateImage reboots for a
// consistent file system.
type stepSpotNoStop struct{}

var _ multistep.Step = (*stepSpotNoStop)(nil)

func (s *stepSpotNoStop) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	getUI(state).Say(fmt.Sprintf("Not stopping spot instance %s: EC2 cannot stop it; CreateImage reboots it for a consistent image",
		*getInstance(state).InstanceId))
	return multistep.ActionContinue
}

func (s *stepSpotNoStop) Cleanup(multistep.StateBag) {}
