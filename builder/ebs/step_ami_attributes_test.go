package ebs

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestStepAMIAttributes_everyRegion(t *testing.T) {
	at := time.Date(2031, 1, 2, 3, 4, 0, 0, time.UTC)
	fakes := map[string]*fakeImageAttrs{"us-east-1": newFakeImageAttrs(t), "eu-west-1": newFakeImageAttrs(t)}
	for _, f := range fakes {
		f.ModifyImageAttributeCalls.Return(nil, nil)
		f.EnableImageDeprecationCalls.Return(nil, nil)
	}
	state, ui := newState(t)
	putImages(state, map[string]types.Image{
		"us-east-1": builtImage("ami-0home", types.ImageStateAvailable),
		"eu-west-1": builtImage("ami-0eu", types.ImageStateAvailable),
	})
	step := &stepAMIAttributes{client: func(r string) imageAttributeSetter { return fakes[r] }, buildRegion: "us-east-1",
		imdsSupport: "v2.0", deprecateAt: at}

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	for r, id := range map[string]string{"us-east-1": "ami-0home", "eu-west-1": "ami-0eu"} {
		m := fakes[r].ModifyImageAttributeCalls.Input(t)
		if aws.ToString(m.ImageId) != id || m.ImdsSupport == nil || aws.ToString(m.ImdsSupport.Value) != "v2.0" {
			t.Errorf("%s: ModifyImageAttribute(%s), want imds v2.0 on %s", r, jsonString(m), id)
		}
		d := fakes[r].EnableImageDeprecationCalls.Input(t)
		if aws.ToString(d.ImageId) != id || !aws.ToTime(d.DeprecateAt).Equal(at) {
			t.Errorf("%s: EnableImageDeprecation(%s), want %s at %s", r, jsonString(d), id, at)
		}
	}
}

func TestStepAMIAttributes_nothingSetCallsNothing(t *testing.T) {
	state, ui := newState(t)
	step := &stepAMIAttributes{client: func(string) imageAttributeSetter { return newFakeImageAttrs(t) }, buildRegion: "us-east-1"}
	wantContinue(t, step.Run(t.Context(), state), state, ui)
}

func TestStepAMIAttributes_deprecationRefusedHalts(t *testing.T) {
	f := newFakeImageAttrs(t)
	f.EnableImageDeprecationCalls.Return(nil, apiErr("InvalidParameterValue"))
	state, ui := newState(t)
	state.Put(keyImage, builtImage("ami-0home", types.ImageStateAvailable))
	step := &stepAMIAttributes{client: func(string) imageAttributeSetter { return f }, buildRegion: "us-east-1",
		deprecateAt: time.Now().Add(time.Hour)}
	err := wantHalt(t, step.Run(t.Context(), state), state, ui, "`deprecate_at`", "ami-0home", "us-east-1")
	wantAPICode(t, err, "InvalidParameterValue")
}
