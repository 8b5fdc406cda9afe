package ebs

import (
	"reflect"
	"slices"
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
func TestPlanSkipsTheStopOfASpotInstance(t *testing.T) {
	has := func(steps []multistep.Step, want multistep.Step) bool {
		return slices.ContainsFunc(steps, func(s multistep.Step) bool { return reflect.TypeOf(s) == reflect.TypeOf(want) })
	}
	onDemand := plan(preparedConfig(t, nil), planDeps{region: "us-east-1", buildID: "b1", clients: noClients()})
	if !has(onDemand, &stepStopInstance{}) || has(onDemand, &stepSpotNoStop{}) {
		t.Errorf("on demand, the plan is %v, want stepStopInstance", stepNames(onDemand))
	}
	spot := plan(preparedConfig(t, map[string]interface{}{"spot_price": "auto"}), planDeps{region: "us-east-1", buildID: "b1", clients: noClients()})
	if has(spot, &stepStopInstance{}) || !has(spot, &stepSpotNoStop{}) {
		t.Errorf("for a spot instance the plan is %v, want stepSpotNoStop", stepNames(spot))
	}
}
