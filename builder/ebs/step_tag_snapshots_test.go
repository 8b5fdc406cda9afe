package ebs

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

func TestStepTagSnapshots_tags(t *testing.T) {
	f := newFakeTagger(t)
	f.CreateTagsCalls.Return(nil, nil)
	state, ui := newState(t)
	state.Put(keyImage, builtImage("ami-0new", types.ImageStateAvailable))
	step := &stepTagSnapshots{ec2: f, tags: bakery.Tags{"b": "2", "a": "1"}}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	in := f.CreateTagsCalls.Input(t)
	if !reflect.DeepEqual(in.Resources, []string{"snap-root", "snap-data"}) {
		t.Errorf("tagged %v, want exactly the AMI's snapshots [snap-root snap-data]", in.Resources)
	}
	want := []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")}}
	if !reflect.DeepEqual(in.Tags, want) {
		t.Errorf("tags = %s, want %s", jsonString(in.Tags), jsonString(want))
	}
	step.Cleanup(state)
}

func TestStepTagSnapshots_nothingToTag(t *testing.T) {
	noSnapshots := types.Image{ImageId: aws.String("ami-0new"), BlockDeviceMappings: []types.BlockDeviceMapping{
		{DeviceName: aws.String("/dev/xvdb"), VirtualName: aws.String("ephemeral0")}}}
	tests := []struct {
		name  string
		image *types.Image
		tags  bakery.Tags
	}{
		{name: "no snapshot_tags", image: &noSnapshots},
		{name: "no image", tags: bakery.Tags{"a": "1"}},
		{name: "image without snapshots", image: &noSnapshots, tags: bakery.Tags{"a": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTagger(t) // fails on any call
			state, ui := newState(t)
			if tt.image != nil {
				state.Put(keyImage, *tt.image)
			}
			step := &stepTagSnapshots{ec2: f, tags: tt.tags}
			wantContinue(t, step.Run(t.Context(), state), state, ui)
		})
	}
}

func TestStepTagSnapshots_fails(t *testing.T) {
	f := newFakeTagger(t)
	f.CreateTagsCalls.Return(nil, apiErr("TagLimitExceeded"))
	state, ui := newState(t)
	state.Put(keyImage, builtImage("ami-0new", types.ImageStateAvailable))
	step := &stepTagSnapshots{ec2: f, tags: bakery.Tags{"a": "1"}}

	err := wantHalt(t, step.Run(t.Context(), state), state, ui, "tagging snapshots", "snap-root", "snap-data")
	wantAPICode(t, err, "TagLimitExceeded")
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state) // nothing to undo
}
