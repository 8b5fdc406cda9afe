package ebs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// openJournal is a real journal in a test folder.
func openJournal(t *testing.T, buildID string) *journal.Journal {
	t.Helper()
	t.Setenv(journal.EnvDir, t.TempDir())
	j, err := journal.Open(buildID, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j
}

func journaled(j *journal.Journal) map[string]string {
	m := map[string]string{}
	for _, r := range j.Remaining() {
		m[r.ID] = r.Region
	}
	return m
}

func newEncryptStep(f imageCopier, j *journal.Journal) *stepEncryptImage {
	return &stepEncryptImage{ec2: f, region: "us-east-1", name: "web 1.2", description: "the web tier", kmsKey: "alias/images",
		buildID: "build-1", tags: amiTags, snapshotTags: bakery.Tags{"snap": "yes"}, poll: fastPoll, journal: j}
}

func TestStepEncryptImage_copiesEncryptedAndRemovesIntermediate(t *testing.T) {
	j := openJournal(t, "build-1")
	_ = j.Record("image", "ami-0plain", "")
	f := newFakeImageCopier(t)
	f.CopyImageCalls.Return(&ec2.CopyImageOutput{ImageId: aws.String("ami-0enc")}, nil)
	f.CreateTagsCalls.Return(nil, nil).Return(nil, nil)
	f.DescribeImagesCalls.
		Return(images(builtImage("ami-0enc", types.ImageStatePending)), nil).
		Return(images(builtImage("ami-0enc", types.ImageStateAvailable)), nil)
	scriptImageDeletion(&f.fakeImageDeleter, "ami-0plain")
	state, ui := newState(t)
	state.Put(keyImage, builtImage("ami-0plain", types.ImageStateAvailable))
	step := newEncryptStep(f, j)

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	in := f.CopyImageCalls.Input(t)
	if aws.ToString(in.SourceImageId) != "ami-0plain" || aws.ToString(in.SourceRegion) != "us-east-1" || aws.ToString(in.Name) != "web 1.2" ||
		!aws.ToBool(in.Encrypted) || aws.ToString(in.KmsKeyId) != "alias/images" || aws.ToString(in.ClientToken) != copyToken("build-1", "encrypt", "us-east-1") {
		t.Errorf("CopyImage(%s): want ami-0plain copied in us-east-1 as \"web 1.2\", encrypted with alias/images, with the build's token", jsonString(in))
	}
	if aws.ToString(in.Description) != "the web tier" || in.CopyImageTags != nil {
		t.Errorf("CopyImage(%s): want the description, and not the intermediate's (temporary) tags", jsonString(in))
	}
	tagImage, tagSnaps := f.CreateTagsCalls.Inputs[0], f.CreateTagsCalls.Inputs[1]
	if !reflect.DeepEqual(tagImage.Resources, []string{"ami-0enc"}) || !reflect.DeepEqual(tagMap(tagImage.Tags), map[string]string(amiTags)) {
		t.Errorf("image tagged %s, want ami-0enc with %v", jsonString(tagImage), amiTags)
	}
	if !reflect.DeepEqual(tagSnaps.Resources, []string{"snap-root", "snap-data"}) || tagMap(tagSnaps.Tags)["snap"] != "yes" {
		t.Errorf("snapshots tagged %s, want both with snapshot_tags", jsonString(tagSnaps))
	}
	if got := aws.ToString(f.DeregisterImageCalls.Input(t).ImageId); got != "ami-0plain" {
		t.Errorf("deregistered %s, want the intermediate ami-0plain", got)
	}
	if img, _ := getImage(state); aws.ToString(img.ImageId) != "ami-0enc" {
		t.Errorf("image in state %s, want the encrypted ami-0enc", aws.ToString(img.ImageId))
	}
	if got := journaled(j); !reflect.DeepEqual(got, map[string]string{"ami-0enc": "us-east-1"}) {
		t.Errorf("journal holds %v, want the encrypted AMI only (the intermediate is gone)", got)
	}
	step.Cleanup(state) // success: the encrypted AMI is the user's
	if got := journaled(j); len(got) != 0 {
		t.Errorf("journal still holds %v after a successful build", got)
	}
}

func TestStepEncryptImage_failedWaitRemovesTheCopy(t *testing.T) {
	j := openJournal(t, "build-1")
	f := newFakeImageCopier(t)
	f.CopyImageCalls.Return(&ec2.CopyImageOutput{ImageId: aws.String("ami-0enc")}, nil)
	f.CreateTagsCalls.Return(nil, nil)
	failed := builtImage("ami-0enc", types.ImageStateFailed)
	failed.StateReason = &types.StateReason{Message: aws.String("KMS key is disabled")}
	f.DescribeImagesCalls.Return(images(failed), nil)
	state, ui := newState(t)
	state.Put(keyImage, builtImage("ami-0plain", types.ImageStateAvailable))
	step := newEncryptStep(f, j)

	wantHalt(t, step.Run(t.Context(), state), state, ui, "encrypting AMI ami-0plain", "KMS key is disabled")
	if got := journaled(j); got["ami-0enc"] != "us-east-1" {
		t.Errorf("journal %v: the copy was not recorded the moment its ID was known", got)
	}
	scriptImageDeletion(&f.fakeImageDeleter, "ami-0enc")
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state)
	if got := aws.ToString(f.DeregisterImageCalls.Input(t).ImageId); got != "ami-0enc" {
		t.Errorf("cleanup deregistered %s, want the encrypted copy", got)
	}
	wantLiveCleanupContexts(t, "DeregisterImage", f.DeregisterImageCalls.CtxErrs, f.DeregisterImageCalls.HadDeadline)
	if got := journaled(j); len(got) != 0 {
		t.Errorf("journal still holds %v after cleanup", got)
	}
	if !strings.Contains(ui.Out.String(), "deregistering encrypted AMI ami-0enc") {
		t.Errorf("the user was not told what cleanup removed:\n%s", ui.Out.String())
	}
}
