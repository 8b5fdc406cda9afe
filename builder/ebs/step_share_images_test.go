package ebs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func newShareStep(fakes map[string]*fakeSharer) *stepShareImages {
	return &stepShareImages{
		client: func(r string) imageSharer { return fakes[r] }, buildRegion: "us-east-1",
		users: []string{"123456789012"}, groups: []string{"all"}, orgARNs: []string{orgARN}, ouARNs: []string{ouARN},
		snapshotUsers: []string{"210987654321"}, snapshotGroups: []string{"all"},
		kmsKey: func(string) string { return "" },
	}
}

func TestStepShareImages_everyRegion(t *testing.T) {
	fakes := map[string]*fakeSharer{"us-east-1": newFakeSharer(t), "eu-west-1": newFakeSharer(t)}
	for _, f := range fakes {
		f.ModifyImageAttributeCalls.Return(nil, nil)
		f.ModifySnapshotAttributeCalls.Return(nil, nil).Return(nil, nil)
	}
	state, ui := newState(t)
	putImages(state, map[string]types.Image{
		"us-east-1": builtImage("ami-0home", types.ImageStateAvailable),
		"eu-west-1": builtImage("ami-0eu", types.ImageStateAvailable),
	})

	wantContinue(t, newShareStep(fakes).Run(t.Context(), state), state, ui)
	wantPerms := []types.LaunchPermission{
		{UserId: aws.String("123456789012")}, {Group: types.PermissionGroupAll},
		{OrganizationArn: aws.String(orgARN)}, {OrganizationalUnitArn: aws.String(ouARN)},
	}
	for r, id := range map[string]string{"us-east-1": "ami-0home", "eu-west-1": "ami-0eu"} {
		m := fakes[r].ModifyImageAttributeCalls.Input(t)
		if aws.ToString(m.ImageId) != id || m.LaunchPermission == nil || !reflect.DeepEqual(m.LaunchPermission.Add, wantPerms) {
			t.Errorf("%s: ModifyImageAttribute(%s), want launch permission for %s", r, jsonString(m), jsonString(wantPerms))
		}
		var snaps []string
		for _, in := range fakes[r].ModifySnapshotAttributeCalls.Inputs {
			snaps = append(snaps, aws.ToString(in.SnapshotId))
			if in.Attribute != types.SnapshotAttributeNameCreateVolumePermission || in.OperationType != types.OperationTypeAdd ||
				!reflect.DeepEqual(in.UserIds, []string{"210987654321"}) || !reflect.DeepEqual(in.GroupNames, []string{"all"}) {
				t.Errorf("%s: ModifySnapshotAttribute(%s), want create-volume permission added for 210987654321 and all", r, jsonString(in))
			}
		}
		if !reflect.DeepEqual(snaps, []string{"snap-root", "snap-data"}) {
			t.Errorf("%s: shared snapshots %v, want both of the AMI's", r, snaps)
		}
	}
	if !strings.Contains(ui.Out.String(), "everyone (public)") {
		t.Errorf("the user was not told the AMI is public:\n%s", ui.Out.String())
	}
}

func TestStepShareImages_nothingToShareCallsNothing(t *testing.T) {
	state, ui := newState(t)
	step := &stepShareImages{client: func(string) imageSharer { return newFakeSharer(t) }, buildRegion: "us-east-1"}
	wantContinue(t, step.Run(t.Context(), state), state, ui)
}

// An AMI encrypted by its source AMI's key, shared with an account, with
// no key in the template: the user is warned that the account may not be
// able to launch it.
func TestStepShareImages_warnsAboutAnUnsharedKey(t *testing.T) {
	f := newFakeSharer(t)
	f.ModifyImageAttributeCalls.Return(nil, nil)
	img := builtImage("ami-0home", types.ImageStateAvailable)
	img.BlockDeviceMappings[0].Ebs.Encrypted = aws.Bool(true)
	state, ui := newState(t)
	state.Put(keyImage, img)
	step := &stepShareImages{client: func(string) imageSharer { return f }, buildRegion: "us-east-1",
		users: []string{"123456789012"}, kmsKey: func(string) string { return "" }}

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	if !strings.Contains(ui.Out.String(), "Warning: us-east-1: AMI ami-0home is encrypted") || !strings.Contains(ui.Out.String(), "aws/ebs") {
		t.Errorf("no warning about sharing an AMI encrypted with a key the accounts may not use:\n%s", ui.Out.String())
	}
}

func TestStepShareImages_failureHalts(t *testing.T) {
	f := newFakeSharer(t)
	f.ModifyImageAttributeCalls.Return(nil, apiErr("InvalidAMIAttributeItemValue"))
	state, ui := newState(t)
	state.Put(keyImage, builtImage("ami-0home", types.ImageStateAvailable))
	step := &stepShareImages{client: func(string) imageSharer { return f }, buildRegion: "us-east-1",
		users: []string{"123456789012"}, kmsKey: func(string) string { return "" }}
	err := wantHalt(t, step.Run(t.Context(), state), state, ui, "sharing AMI ami-0home in us-east-1")
	wantAPICode(t, err, "InvalidAMIAttributeItemValue")
}
