package ebs

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
)

func TestStepModifyInstanceAttrs_enaAndSriov(t *testing.T) {
	f := newFakeInstanceAttrs(t)
	f.ModifyInstanceAttributeCalls.Return(nil, nil).Return(nil, nil)
	state, ui := stateWithInstance(t, "i-1")
	step := &stepModifyInstanceAttrs{ec2: f, ena: config.TriTrue, sriov: true}

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	ena, sriov := f.ModifyInstanceAttributeCalls.Inputs[0], f.ModifyInstanceAttributeCalls.Inputs[1]
	if aws.ToString(ena.InstanceId) != "i-1" || ena.EnaSupport == nil || !aws.ToBool(ena.EnaSupport.Value) || ena.SriovNetSupport != nil {
		t.Errorf("first call %s, want ENA on for i-1 alone (EC2 takes one attribute per call)", jsonString(ena))
	}
	if aws.ToString(sriov.InstanceId) != "i-1" || sriov.SriovNetSupport == nil || aws.ToString(sriov.SriovNetSupport.Value) != "simple" || sriov.EnaSupport != nil {
		t.Errorf("second call %s, want SriovNetSupport simple for i-1", jsonString(sriov))
	}
}

func TestStepModifyInstanceAttrs_enaFalseTurnsItOff(t *testing.T) {
	f := newFakeInstanceAttrs(t)
	f.ModifyInstanceAttributeCalls.Return(nil, nil)
	state, ui := stateWithInstance(t, "i-1")
	wantContinue(t, (&stepModifyInstanceAttrs{ec2: f, ena: config.TriFalse}).Run(t.Context(), state), state, ui)
	if in := f.ModifyInstanceAttributeCalls.Input(t); in.EnaSupport == nil || aws.ToBool(in.EnaSupport.Value) {
		t.Errorf("call %s, want ENA explicitly off", jsonString(in))
	}
}

func TestStepModifyInstanceAttrs_unsetCallsNothing(t *testing.T) {
	f := newFakeInstanceAttrs(t) // any call fails the test
	state, ui := stateWithInstance(t, "i-1")
	wantContinue(t, (&stepModifyInstanceAttrs{ec2: f}).Run(t.Context(), state), state, ui)
}

func TestStepModifyInstanceAttrs_failureHalts(t *testing.T) {
	f := newFakeInstanceAttrs(t)
	f.ModifyInstanceAttributeCalls.Return(nil, apiErr("UnauthorizedOperation"))
	state, ui := stateWithInstance(t, "i-1")
	err := wantHalt(t, (&stepModifyInstanceAttrs{ec2: f, sriov: true}).Run(t.Context(), state), state, ui,
		"`sriov_support`", "i-1", "ec2:ModifyInstanceAttribute")
	wantAPICode(t, err, "UnauthorizedOperation")
}
