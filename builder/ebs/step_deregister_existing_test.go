package ebs

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func existingImage() *ec2.DescribeImagesOutput {
	return &ec2.DescribeImagesOutput{Images: []types.Image{{
		ImageId: aws.String("ami-0old"), Name: aws.String("web"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{Ebs: &types.EbsBlockDevice{SnapshotId: aws.String("snap-old")}}},
	}}}
}

func TestStepDeregisterExisting(t *testing.T) {
	tests := []struct {
		name            string
		force, snaps    bool
		script          func(f *fakeImageDeleter)
		wantDeregister  bool
		wantSnapDeleted bool
	}{
		{name: "without force nothing is asked", script: func(*fakeImageDeleter) {}},
		{name: "force deregisters, snapshots stay", force: true, wantDeregister: true,
			script: func(f *fakeImageDeleter) {
				f.DescribeImagesCalls.Return(existingImage(), nil)
				f.DeregisterImageCalls.Return(nil, nil)
			}},
		{name: "force_delete_snapshot deletes them too", force: true, snaps: true, wantDeregister: true, wantSnapDeleted: true,
			script: func(f *fakeImageDeleter) {
				f.DescribeImagesCalls.Return(existingImage(), nil) // the lookup by name
				f.DescribeImagesCalls.Return(existingImage(), nil) // deleteImage's own look at it
				f.DeregisterImageCalls.Return(nil, nil)
				f.DeleteSnapshotCalls.Return(nil, nil)
			}},
		{name: "no AMI of that name", force: true,
			script: func(f *fakeImageDeleter) { f.DescribeImagesCalls.Return(&ec2.DescribeImagesOutput{}, nil) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeImageDeleter(t)
			tc.script(f)
			state, ui := newState(t)
			step := &stepDeregisterExisting{ec2: f, name: "web", force: tc.force, deleteSnapshots: tc.snaps}
			wantContinue(t, step.Run(t.Context(), state), state, ui)
			if got := f.DeregisterImageCalls.Called() == 1; got != tc.wantDeregister {
				t.Errorf("deregistered: %v, want %v", got, tc.wantDeregister)
			}
			if got := f.DeleteSnapshotCalls.Called() == 1; got != tc.wantSnapDeleted {
				t.Errorf("snapshot deleted: %v, want %v", got, tc.wantSnapDeleted)
			}
			if tc.force && f.DescribeImagesCalls.Called() > 0 {
				in := f.DescribeImagesCalls.Inputs[0]
				if len(in.Owners) != 1 || in.Owners[0] != "self" || in.Filters[0].Values[0] != "web" {
					t.Errorf("looked up %+v, want this account's AMI named web", in)
				}
			}
			if tc.wantDeregister && !strings.Contains(ui.Out.String(), "ami-0old") {
				t.Errorf("the user was not told which AMI was replaced")
			}
		})
	}
}

func TestStepDeregisterExisting_failureHalts(t *testing.T) {
	f := newFakeImageDeleter(t)
	f.DescribeImagesCalls.Return(existingImage(), nil)
	f.DeregisterImageCalls.Return(nil, apiErr("UnauthorizedOperation"))
	state, ui := newState(t)
	step := &stepDeregisterExisting{ec2: f, name: "web", force: true}
	wantHalt(t, step.Run(t.Context(), state), state, ui, `replacing AMI ami-0old named "web"`)
}
