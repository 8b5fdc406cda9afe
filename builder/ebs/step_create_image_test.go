package ebs

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

var amiTags = bakery.Tags{"Name": "web", "version": "1.2"}

func newCreateImageStep(f imageCreator) *stepCreateImage {
	return &stepCreateImage{ec2: f, name: "web 1.2", description: aws.String("the web tier"), tags: amiTags, region: "eu-west-1", poll: fastPoll}
}

// builtImage is an AMI with two EBS snapshots and an ephemeral disk.
func builtImage(id string, state types.ImageState) types.Image {
	return types.Image{
		ImageId: aws.String(id),
		State:   state,
		BlockDeviceMappings: []types.BlockDeviceMapping{
			{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String("snap-root")}},
			{DeviceName: aws.String("/dev/xvdb"), VirtualName: aws.String("ephemeral0")},
			{DeviceName: aws.String("/dev/xvdc"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String("snap-data")}},
		},
	}
}

func images(imgs ...types.Image) *ec2.DescribeImagesOutput {
	return &ec2.DescribeImagesOutput{Images: imgs}
}

// scriptImageDeletion scripts what deleting builtImage(id) takes.
func scriptImageDeletion(f *fakeImageDeleter, id string) {
	f.DescribeImagesCalls.Return(images(builtImage(id, types.ImageStateAvailable)), nil)
	f.DeregisterImageCalls.Return(nil, nil)
	f.DeleteSnapshotCalls.Return(nil, nil).Return(nil, nil)
}

func TestStepCreateImage_creates(t *testing.T) {
	f := newFakeImageCreator(t)
	f.CreateImageCalls.Return(&ec2.CreateImageOutput{ImageId: aws.String("ami-0new")}, nil)
	f.DescribeImagesCalls.
		Return(nil, apiErr("InvalidAMIID.NotFound")). // not visible right after CreateImage
		Return(images(), nil).
		Return(images(builtImage("ami-0new", types.ImageStatePending)), nil).
		Return(images(builtImage("ami-0new", types.ImageStateAvailable)), nil)
	state, ui := stateWithInstance(t, "i-1")
	step := newCreateImageStep(f)

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	in := f.CreateImageCalls.Input(t)
	if aws.ToString(in.InstanceId) != "i-1" || aws.ToString(in.Name) != "web 1.2" || aws.ToString(in.Description) != "the web tier" {
		t.Errorf("CreateImage(%s), want instance i-1, name %q, description %q", jsonString(in), "web 1.2", "the web tier")
	}
	if len(in.TagSpecifications) != 1 || in.TagSpecifications[0].ResourceType != types.ResourceTypeImage ||
		!reflect.DeepEqual(tagMap(in.TagSpecifications[0].Tags), map[string]string(amiTags)) {
		t.Errorf("TagSpecifications = %s, want image tags %v", jsonString(in.TagSpecifications), amiTags)
	}
	for _, d := range f.DescribeImagesCalls.Inputs {
		if !reflect.DeepEqual(d.ImageIds, []string{"ami-0new"}) {
			t.Errorf("DescribeImages of %v, want [ami-0new]", d.ImageIds)
		}
	}
	img, ok := getImage(state)
	if !ok || aws.ToString(img.ImageId) != "ami-0new" || img.State != types.ImageStateAvailable {
		t.Errorf("image in state = %s, want the available ami-0new", jsonString(img))
	}
	for _, said := range []string{"AMI ami-0new requested", "now pending", "AMI ami-0new is available in eu-west-1"} {
		if !strings.Contains(ui.Out.String(), said) {
			t.Errorf("user was not told %q:\n%s", said, ui.Out.String())
		}
	}

	step.Cleanup(state) // the build succeeded: the AMI is the artifact and stays
}

func TestStepCreateImage_noDescriptionNoTags(t *testing.T) {
	f := newFakeImageCreator(t)
	f.CreateImageCalls.Return(&ec2.CreateImageOutput{ImageId: aws.String("ami-0new")}, nil)
	f.DescribeImagesCalls.Return(images(builtImage("ami-0new", types.ImageStateAvailable)), nil)
	state, ui := stateWithInstance(t, "i-1")
	step := &stepCreateImage{ec2: f, name: "web", region: "eu-west-1", poll: fastPoll}

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	in := f.CreateImageCalls.Input(t)
	if in.Description != nil || in.TagSpecifications != nil {
		t.Errorf("CreateImage got description %v and tags %s, want neither", in.Description, jsonString(in.TagSpecifications))
	}
}

func TestStepCreateImage_createFails(t *testing.T) {
	f := newFakeImageCreator(t)
	f.CreateImageCalls.Return(nil, apiErr("UnauthorizedOperation"))
	state, ui := stateWithInstance(t, "i-1")
	step := newCreateImageStep(f)

	err := wantHalt(t, step.Run(t.Context(), state), state, ui, `creating AMI "web 1.2"`)
	wantAPICode(t, err, "UnauthorizedOperation")
	wantNoKeys(t, state, keyImage)
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state) // no AMI was made
}

// After a lost CreateImage reply the retry meets the AMI the first attempt
// started from this build's instance: the build waits for it and uses it.
func TestStepCreateImage_duplicateFromOwnInstanceIsAdopted(t *testing.T) {
	mine := builtImage("ami-0first", types.ImageStatePending)
	mine.SourceInstanceId = aws.String("i-1")
	f := newFakeImageCreator(t)
	f.EarlierAttempts = []error{lostReply}
	f.CreateImageCalls.Return(nil, apiErr("InvalidAMIName.Duplicate"))
	f.DescribeImagesCalls.Return(images(mine), nil)
	f.DescribeImagesCalls.Return(images(builtImage("ami-0first", types.ImageStateAvailable)), nil)
	state, ui := stateWithInstance(t, "i-1")
	step := newCreateImageStep(f)

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	img, ok := getImage(state)
	if !ok || aws.ToString(img.ImageId) != "ami-0first" {
		t.Fatalf("image in state %v, want the adopted ami-0first", img.ImageId)
	}
	lookup := f.DescribeImagesCalls.Inputs[0]
	if len(lookup.Owners) != 1 || lookup.Owners[0] != "self" || len(lookup.Filters) != 1 || lookup.Filters[0].Values[0] != "web 1.2" {
		t.Errorf("looked the AMI up by %+v, want owner self and its name", lookup)
	}
	if !strings.Contains(ui.Out.String(), "reply was lost") {
		t.Errorf("the user was not told why an existing AMI is used")
	}
}

// lostReply is how an attempt whose reply never came ends: no answer.
var lostReply = &smithyhttp.RequestSendError{Err: io.ErrUnexpectedEOF}

// Another principal can image the build's own instance under the build's
// ami_name (the instance id and the name show in the console) between the
// name check and CreateImage. No attempt of ours can have made that AMI
// when our first CreateImage is already refused as a duplicate, or when
// every earlier attempt was refused by AWS (throttled): it is not adopted,
// though made from our instance.
func TestStepCreateImage_duplicateWithoutALostAttemptIsNotAdopted(t *testing.T) {
	throttled := &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 400}}, Err: apiErr("RequestLimitExceeded")}}
	for name, earlier := range map[string][]error{"first attempt": nil, "after a throttled attempt": {throttled}} {
		t.Run(name, func(t *testing.T) {
			theirs := builtImage("ami-0theirs", types.ImageStateAvailable)
			theirs.SourceInstanceId = aws.String("i-1") // our instance
			f := newFakeImageCreator(t)
			f.EarlierAttempts = earlier
			f.CreateImageCalls.Return(nil, apiErr("InvalidAMIName.Duplicate"))
			f.DescribeImagesCalls.Return(images(theirs), nil)
			state, ui := stateWithInstance(t, "i-1")
			step := newCreateImageStep(f)

			wantHalt(t, step.Run(t.Context(), state), state, ui, "taken while the build ran by ami-0theirs", "left alone", "choose another `ami_name`")
			wantNoKeys(t, state, keyImage)
			state.Put(multistep.StateHalted, true)
			step.Cleanup(state) // not ours: the fake fails on DeregisterImage
		})
	}
}

// An AMI of that name made from another instance is not ours.
func TestStepCreateImage_duplicateFromOtherInstanceFails(t *testing.T) {
	theirs := builtImage("ami-0theirs", types.ImageStateAvailable)
	theirs.SourceInstanceId = aws.String("i-other")
	f := newFakeImageCreator(t)
	f.EarlierAttempts = []error{lostReply}
	f.CreateImageCalls.Return(nil, apiErr("InvalidAMIName.Duplicate"))
	f.DescribeImagesCalls.Return(images(theirs), nil)
	state, ui := stateWithInstance(t, "i-1")
	step := newCreateImageStep(f)

	wantHalt(t, step.Run(t.Context(), state), state, ui, "made from instance i-other", "choose another `ami_name`")
	wantNoKeys(t, state, keyImage)
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state) // not ours: the fake fails on DeregisterImage
}

// An AMI registered under our name by someone else (RegisterImage or
// CopyImage: no source instance) is not ours either: adopted, it would be
// reported as the build's artifact and deleted with its snapshots if the
// build then failed.
func TestStepCreateImage_duplicateWithNoSourceInstanceFails(t *testing.T) {
	registered := builtImage("ami-0registered", types.ImageStateAvailable) // SourceInstanceId unset
	f := newFakeImageCreator(t)
	f.EarlierAttempts = []error{lostReply}
	f.CreateImageCalls.Return(nil, apiErr("InvalidAMIName.Duplicate"))
	f.DescribeImagesCalls.Return(images(registered), nil)
	state, ui := stateWithInstance(t, "i-1")
	step := newCreateImageStep(f)

	wantHalt(t, step.Run(t.Context(), state), state, ui, "not made from this build's instance i-1", "choose another `ami_name`")
	wantNoKeys(t, state, keyImage)
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state) // not ours: the fake fails on DeregisterImage
}

func TestStepCreateImage_imageFailsThenCleanupDeletesIt(t *testing.T) {
	broken := builtImage("ami-0new", types.ImageStateFailed)
	broken.StateReason = &types.StateReason{Message: aws.String("Snapshot creation failed")}
	f := newFakeImageCreator(t)
	f.CreateImageCalls.Return(&ec2.CreateImageOutput{ImageId: aws.String("ami-0new")}, nil)
	f.DescribeImagesCalls.Return(images(broken), nil)
	state, ui := stateWithInstance(t, "i-1")
	step := newCreateImageStep(f)

	wantHalt(t, step.Run(t.Context(), state), state, ui, "AMI ami-0new is failed", "Snapshot creation failed")
	wantNoKeys(t, state, keyImage)

	scriptImageDeletion(&f.fakeImageDeleter, "ami-0new")
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state)
	if got := aws.ToString(f.DeregisterImageCalls.Input(t).ImageId); got != "ami-0new" {
		t.Errorf("deregistered %q, want ami-0new", got)
	}
	var snaps []string
	for _, in := range f.DeleteSnapshotCalls.Inputs {
		snaps = append(snaps, aws.ToString(in.SnapshotId))
	}
	if !reflect.DeepEqual(snaps, []string{"snap-root", "snap-data"}) {
		t.Errorf("deleted snapshots %v, want [snap-root snap-data]", snaps)
	}
	if !strings.Contains(ui.Out.String(), "deregistering AMI ami-0new and deleting its snapshots") {
		t.Errorf("user was not told the AMI is removed: %q", ui.Out.String())
	}
}

func TestStepCreateImage_laterFailureOrCancelDeletesImage(t *testing.T) {
	for _, key := range []string{multistep.StateHalted, multistep.StateCancelled} {
		t.Run(key, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			f := newFakeImageCreator(t)
			f.CreateImageCalls.Return(&ec2.CreateImageOutput{ImageId: aws.String("ami-0new")}, nil)
			f.DescribeImagesCalls.Return(images(builtImage("ami-0new", types.ImageStateAvailable)), nil)
			state, ui := stateWithInstance(t, "i-1")
			step := newCreateImageStep(f)
			wantContinue(t, step.Run(ctx, state), state, ui)

			cancel() // the build context is gone by the time Cleanup runs
			state.Put(key, true)
			scriptImageDeletion(&f.fakeImageDeleter, "ami-0new")
			step.Cleanup(state)

			if f.DeregisterImageCalls.Called() != 1 || f.DeleteSnapshotCalls.Called() != 2 {
				t.Errorf("Cleanup of a failed build made %v, want the AMI and both snapshots deleted", f.Order)
			}
			wantLiveCleanupContexts(t, "DeregisterImage", f.DeregisterImageCalls.CtxErrs, f.DeregisterImageCalls.HadDeadline)
		})
	}
}

func TestStepCreateImage_cleanupFails(t *testing.T) {
	f := newFakeImageCreator(t)
	f.CreateImageCalls.Return(&ec2.CreateImageOutput{ImageId: aws.String("ami-0new")}, nil)
	f.DescribeImagesCalls.Return(images(builtImage("ami-0new", types.ImageStateAvailable)), nil)
	state, ui := stateWithInstance(t, "i-1")
	step := newCreateImageStep(f)
	wantContinue(t, step.Run(t.Context(), state), state, ui)

	f.DescribeImagesCalls.Return(images(builtImage("ami-0new", types.ImageStateAvailable)), nil)
	f.DeregisterImageCalls.Return(nil, apiErr("UnauthorizedOperation"))
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state)

	for _, w := range []string{"ami-0new", "UnauthorizedOperation", "aws ec2 deregister-image --image-id ami-0new"} {
		if !strings.Contains(ui.Err.String(), w) {
			t.Errorf("cleanup error %q does not mention %q", ui.Err.String(), w)
		}
	}
}

// The AMI and its snapshots carry the holder's principal from CreateImage
// on (the policy removes only images and snapshots that do), and not the
// build's id: they are the product, not leftovers for the sweep.
func TestStepCreateImage_tagsImageAndSnapshotsWithThePrincipal(t *testing.T) {
	f := newFakeImageCreator(t)
	f.CreateImageCalls.Return(&ec2.CreateImageOutput{ImageId: aws.String("ami-0new")}, nil)
	f.DescribeImagesCalls.Return(images(builtImage("ami-0new", types.ImageStateAvailable)), nil)
	state, ui := stateWithInstance(t, "i-1")
	step := newCreateImageStep(f)
	step.owner = ownedTags("arn:aws:iam::111122223333:role/ci")

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	got := map[types.ResourceType]map[string]string{}
	for _, spec := range f.CreateImageCalls.Input(t).TagSpecifications {
		got[spec.ResourceType] = tagMap(spec.Tags)
	}
	want := map[types.ResourceType]map[string]string{
		types.ResourceTypeImage:    {"Name": "web", "version": "1.2", bakery.TagPrincipal: "arn:aws:iam::111122223333:role/ci"},
		types.ResourceTypeSnapshot: {bakery.TagPrincipal: "arn:aws:iam::111122223333:role/ci"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TagSpecifications %v, want %v", got, want)
	}
	if ownedTags("") != nil {
		t.Error("without a known principal (skip_credential_validation) the product got a bakery:principal tag")
	}
}
