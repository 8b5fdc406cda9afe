package ebs

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

func TestStepSpotNoStop(t *testing.T) {
	state, ui := newState(t)
	putInstance(state, instance("i-1", types.InstanceStateNameRunning))
	step := &stepSpotNoStop{}
	wantContinue(t, step.Run(t.Context(), state), state, ui)
	if !strings.Contains(ui.Out.String(), "Not stopping spot instance i-1") {
		t.Errorf("user was not told why the instance is not stopped: %q", ui.Out.String())
	}
	step.Cleanup(state)
}

// A spot build must not call StopInstances: EC2 refuses it for the one-time
// spot instance of an instant fleet.
func TestWithSpotLaunchSkipsTheStop(t *testing.T) {
	stop := &stepStopInstance{}
	steps := withSpotLaunch([]multistep.Step{newRunStep(nil), stop}, &SpotConfig{}, nil, "n", nil)
	if steps[1] != stop {
		t.Errorf("on demand, the stop step is %T, want stepStopInstance", steps[1])
	}
	steps = withSpotLaunch([]multistep.Step{newRunStep(nil), stop}, &SpotConfig{SpotPrice: "auto"}, nil, "n", nil)
	if _, ok := steps[1].(*stepSpotNoStop); !ok {
		t.Errorf("for a spot instance the stop step is %T, want stepSpotNoStop", steps[1])
	}
}
