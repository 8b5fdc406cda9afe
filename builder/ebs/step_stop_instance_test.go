package ebs

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

func stateWithInstance(t *testing.T, id string) (*multistep.BasicStateBag, *uiOutput) {
	state, ui := newState(t)
	putInstance(state, instance(id, types.InstanceStateNameRunning))
	return state, ui
}

func TestStepStopInstance_stops(t *testing.T) {
	f := newFakeStopper(t)
	f.StopInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.
		Return(described(instance("i-1", types.InstanceStateNameRunning)), nil). // the stop is not visible yet
		Return(described(instance("i-1", types.InstanceStateNameStopping)), nil).
		Return(described(instance("i-1", types.InstanceStateNameStopped)), nil)
	state, ui := stateWithInstance(t, "i-1")
	step := &stepStopInstance{ec2: f, poll: fastPoll}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	if got := f.StopInstancesCalls.Input(t).InstanceIds; !reflect.DeepEqual(got, []string{"i-1"}) {
		t.Errorf("stopped %v, want [i-1]", got)
	}
	if f.StopInstancesCalls.Input(t).Force != nil {
		t.Errorf("the instance was force-stopped; its disks may not be quiet")
	}
	for _, said := range []string{"Stopping instance i-1", "now stopping"} {
		if !strings.Contains(ui.Out.String(), said) {
			t.Errorf("user was not told %q:\n%s", said, ui.Out.String())
		}
	}
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state) // nothing to undo
}

func TestStepStopInstance_fails(t *testing.T) {
	shutDown := instance("i-1", types.InstanceStateNameTerminated)
	shutDown.StateTransitionReason = aws.String("User initiated shutdown")
	tests := []struct {
		name  string
		poll  bakery.Poll
		setup func(*fakeStopper)
		want  []string
		is    error
	}{
		{
			name: "stop refused",
			poll: fastPoll,
			setup: func(f *fakeStopper) {
				f.StopInstancesCalls.Return(nil, apiErr("UnsupportedOperation"))
			},
			want: []string{"stopping instance i-1", "UnsupportedOperation"},
		},
		{
			name: "terminated instead",
			poll: fastPoll,
			setup: func(f *fakeStopper) {
				f.StopInstancesCalls.Return(nil, nil)
				f.DescribeInstancesCalls.Return(described(shutDown), nil)
			},
			want: []string{"instance i-1 is terminated instead of stopping", "User initiated shutdown"},
		},
		{
			name: "never stops",
			poll: bakery.Poll{Interval: time.Millisecond, Timeout: 30 * time.Millisecond},
			setup: func(f *fakeStopper) {
				f.StopInstancesCalls.Return(nil, nil)
				f.DescribeInstancesCalls.ReturnAlways(described(instance("i-1", types.InstanceStateNameStopping)), nil)
			},
			want: []string{"instance i-1 to stop", "last state stopping"},
			is:   bakery.ErrWaitTimeout,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeStopper(t)
			tt.setup(f)
			state, ui := stateWithInstance(t, "i-1")
			step := &stepStopInstance{ec2: f, poll: tt.poll}

			err := wantHalt(t, step.Run(t.Context(), state), state, ui, tt.want...)
			if tt.is != nil {
				wantErrorIs(t, err, tt.is)
			}
			state.Put(multistep.StateHalted, true)
			step.Cleanup(state)
		})
	}
}

func TestStateReason(t *testing.T) {
	tests := []struct {
		name string
		inst types.Instance
		want string
	}{
		{name: "state reason message",
			inst: types.Instance{StateReason: &types.StateReason{Message: aws.String("Client.UserInitiatedShutdown")}, StateTransitionReason: aws.String("User initiated (2024-01-01)")},
			want: "Client.UserInitiatedShutdown"},
		{name: "nothing", inst: types.Instance{}, want: "(no reason given)"},
		{name: "transition reason only",
			inst: types.Instance{StateTransitionReason: aws.String("User initiated shutdown")},
			want: "User initiated shutdown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stateReason(tt.inst); got != tt.want {
				t.Errorf("stateReason = %q, want %q", got, tt.want)
			}
		})
	}
}
