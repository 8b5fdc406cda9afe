package ebs

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

func sourceImage(id, created string) types.Image {
	return types.Image{
		ImageId:        aws.String(id),
		Name:           aws.String("base-" + id),
		OwnerId:        aws.String("123456789012"),
		CreationDate:   aws.String(created),
		RootDeviceType: types.DeviceTypeEbs,
		State:          types.ImageStateAvailable,
	}
}

func TestStepSourceAMI_byID(t *testing.T) {
	img := sourceImage("ami-0source", "2024-03-01T10:00:00.000Z")
	f := newFakeImages(t)
	f.DescribeImagesCalls.Return(&ec2.DescribeImagesOutput{Images: []types.Image{img}}, nil)
	state, ui := newState(t)
	step := &stepSourceAMI{ec2: f, sourceAMI: "ami-0source", region: "eu-west-1"}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	if got := f.DescribeImagesCalls.Input(t).ImageIds; !reflect.DeepEqual(got, []string{"ami-0source"}) {
		t.Errorf("ImageIds = %v, want [ami-0source]", got)
	}
	if got := getSourceImage(state); aws.ToString(got.ImageId) != "ami-0source" {
		t.Errorf("source image in state = %s, want ami-0source", aws.ToString(got.ImageId))
	}
	want := map[string]interface{}{
		"SourceAMI":             "ami-0source",
		"SourceAMIName":         "base-ami-0source",
		"SourceAMIOwner":        "123456789012",
		"SourceAMICreationDate": "2024-03-01T10:00:00.000Z",
		"BuildRegion":           "eu-west-1",
		"SourceAMIOwnerName":    "",
	}
	if got := state.Get("generated_data"); !reflect.DeepEqual(got, want) {
		t.Errorf("generated_data = %v, want %v", got, want)
	}
	step.Cleanup(state)
}

func TestStepSourceAMI_byFilterTakesNewest(t *testing.T) {
	f := newFakeImages(t)
	f.DescribeImagesCalls.Return(&ec2.DescribeImagesOutput{Images: []types.Image{
		sourceImage("ami-0old", "2024-01-01T00:00:00.000Z"),
		sourceImage("ami-0new", "2024-06-01T00:00:00.000Z"),
		sourceImage("ami-0mid", "2024-03-01T00:00:00.000Z"),
	}}, nil)
	state, ui := newState(t)
	step := &stepSourceAMI{ec2: f, region: "eu-west-1", filter: bakery.AMIFilterOptions{
		Filters:    map[string]string{"name": "base-*"},
		Owners:     []string{"amazon"},
		MostRecent: true,
	}}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	in := f.DescribeImagesCalls.Input(t)
	if !reflect.DeepEqual(in.Owners, []string{"amazon"}) || len(in.ImageIds) != 0 {
		t.Errorf("DescribeImages got owners %v and image IDs %v, want the filter's owners and no IDs", in.Owners, in.ImageIds)
	}
	if got := aws.ToString(getSourceImage(state).ImageId); got != "ami-0new" {
		t.Errorf("source image = %s, want the newest, ami-0new", got)
	}
}

func TestStepSourceAMI_errors(t *testing.T) {
	instanceStore := sourceImage("ami-0src", "2024-01-01T00:00:00Z")
	instanceStore.RootDeviceType = types.DeviceTypeInstanceStore
	deregistered := sourceImage("ami-0src", "2024-01-01T00:00:00Z")
	deregistered.State = types.ImageStateDeregistered

	tests := []struct {
		name   string
		filter bakery.AMIFilterOptions
		out    *ec2.DescribeImagesOutput
		err    error
		want   []string
	}{
		{name: "AMI not found", out: &ec2.DescribeImagesOutput{},
			want: []string{"ami-0src does not exist in eu-west-1"}},
		{name: "API error", err: apiErr("InvalidAMIID.Malformed"),
			want: []string{"describing source AMI ami-0src"}},
		{name: "instance-store root", out: &ec2.DescribeImagesOutput{Images: []types.Image{instanceStore}},
			want: []string{"ami-0src", `"instance-store" root device`, "EBS-backed"}},
		{name: "not available", out: &ec2.DescribeImagesOutput{Images: []types.Image{deregistered}},
			want: []string{"ami-0src is deregistered"}},
		{name: "filter matches nothing", out: &ec2.DescribeImagesOutput{},
			filter: bakery.AMIFilterOptions{Filters: map[string]string{"name": "nope-*"}, Owners: []string{"self"}},
			want:   []string{"`source_ami_filter`", "no AMI matches"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeImages(t)
			f.DescribeImagesCalls.Return(tt.out, tt.err)
			state, ui := newState(t)
			step := &stepSourceAMI{ec2: f, filter: tt.filter, region: "eu-west-1"}
			if tt.filter.Empty() {
				step.sourceAMI = "ami-0src"
			}

			err := wantHalt(t, step.Run(t.Context(), state), state, ui, tt.want...)
			if tt.err != nil {
				wantAPICode(t, err, "InvalidAMIID.Malformed")
			}
			if !tt.filter.Empty() {
				wantErrorIs(t, err, bakery.ErrNoImage)
			}
			wantNoKeys(t, state, keySourceImage, "generated_data")
			step.Cleanup(state)
		})
	}
}

// TestStepSourceAMI_sharedLookup: the image the permission check already
// looked up is used without asking EC2 again (the fake fails on a call it
// was not scripted for); a lookup that failed is made again.
func TestStepSourceAMI_sharedLookup(t *testing.T) {
	filter := bakery.AMIFilterOptions{Filters: map[string]string{"name": "base-*"}, Owners: []string{"amazon"}}
	lookup := new(sourceImageLookup)
	if _, err := lookup.find(t.Context(), func(context.Context) (types.Image, error) {
		return types.Image{}, apiErr("RequestLimitExceeded")
	}); err == nil {
		t.Fatal("the failing lookup succeeded")
	}

	f := newFakeImages(t)
	f.DescribeImagesCalls.Return(&ec2.DescribeImagesOutput{Images: []types.Image{sourceImage("ami-0new", "2024-06-01T00:00:00.000Z")}}, nil)
	state, ui := newState(t)
	wantContinue(t, (&stepSourceAMI{ec2: f, filter: filter, region: "eu-west-1", lookup: lookup}).Run(t.Context(), state), state, ui)

	again := newFakeImages(t) // scripted for no call
	state, ui = newState(t)
	wantContinue(t, (&stepSourceAMI{ec2: again, filter: filter, region: "eu-west-1", lookup: lookup}).Run(t.Context(), state), state, ui)
	if got := aws.ToString(getSourceImage(state).ImageId); got != "ami-0new" {
		t.Errorf("source image = %s, want the one looked up before, ami-0new", got)
	}
}
