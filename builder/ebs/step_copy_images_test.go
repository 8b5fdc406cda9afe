package ebs

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// barrier makes every one of n calls wait until all n have started: the
// calls can only finish if they are made at the same time.
type barrier struct {
	t    *testing.T
	wg   sync.WaitGroup
	done chan struct{}
}

func newBarrier(t *testing.T, n int) *barrier {
	b := &barrier{t: t, done: make(chan struct{})}
	b.wg.Add(n)
	go func() { b.wg.Wait(); close(b.done) }()
	return b
}

func (b *barrier) arrive() error {
	b.wg.Done()
	select {
	case <-b.done:
		return nil
	case <-time.After(5 * time.Second):
		return apiErr("NotParallel")
	}
}

func newCopyStep(fakes map[string]*fakeImageCopier, j *journal.Journal, regions ...string) *stepCopyImages {
	return &stepCopyImages{
		client:      func(r string) imageCopier { return fakes[r] },
		buildRegion: "us-east-1", regions: regions, name: "web 1.2", description: aws.String("the web tier"),
		encrypt: true, kmsKey: func(r string) string { return map[string]string{"eu-west-1": "alias/eu"}[r] },
		buildID: "build-1", tags: amiTags, snapshotTags: bakery.Tags{"snap": "yes"}, poll: fastPoll, journal: j,
		owner: ownedTags("arn:aws:iam::111122223333:role/ci"),
	}
}

// scriptCopy scripts a copy into a region that succeeds; the CopyImage
// reply waits at b.
func scriptCopy(f *fakeImageCopier, b *barrier, id string) {
	f.CopyImageCalls.ReturnFunc(func(*ec2.CopyImageInput) (*ec2.CopyImageOutput, error) {
		if err := b.arrive(); err != nil {
			return nil, err
		}
		return &ec2.CopyImageOutput{ImageId: aws.String(id)}, nil
	})
	f.CreateTagsCalls.Return(nil, nil).Return(nil, nil)
	f.DescribeImagesCalls.Return(images(builtImage(id, types.ImageStatePending)), nil).
		Return(images(builtImage(id, types.ImageStateAvailable)), nil)
}

func TestStepCopyImages_copiesInParallel(t *testing.T) {
	j := openJournal(t, "build-1")
	b := newBarrier(t, 2)
	eu, us := newFakeImageCopier(t), newFakeImageCopier(t)
	scriptCopy(eu, b, "ami-0eu")
	scriptCopy(us, b, "ami-0us")
	state, ui := newState(t)
	state.Put(keyImage, builtImage("ami-0home", types.ImageStateAvailable))
	step := newCopyStep(map[string]*fakeImageCopier{"eu-west-1": eu, "us-west-2": us}, j, "eu-west-1", "us-west-2")

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	for region, f := range map[string]*fakeImageCopier{"eu-west-1": eu, "us-west-2": us} {
		in := f.CopyImageCalls.Input(t)
		if aws.ToString(in.SourceImageId) != "ami-0home" || aws.ToString(in.SourceRegion) != "us-east-1" || aws.ToString(in.Name) != "web 1.2" || !aws.ToBool(in.Encrypted) {
			t.Errorf("%s: CopyImage(%s), want ami-0home from us-east-1, encrypted, named \"web 1.2\"", region, jsonString(in))
		}
		// The copy and its snapshots are the holder's from CopyImage on;
		// the user's tags follow in CreateTags.
		specs := map[types.ResourceType]map[string]string{}
		for _, spec := range in.TagSpecifications {
			specs[spec.ResourceType] = tagMap(spec.Tags)
		}
		owner := map[string]string{bakery.TagPrincipal: "arn:aws:iam::111122223333:role/ci"}
		if want := map[types.ResourceType]map[string]string{types.ResourceTypeImage: owner, types.ResourceTypeSnapshot: owner}; !reflect.DeepEqual(specs, want) {
			t.Errorf("%s: CopyImage TagSpecifications %v, want %v", region, specs, want)
		}
		if want := copyToken("build-1", "copy", region); aws.ToString(in.ClientToken) != want {
			t.Errorf("%s: ClientToken %q, want %q", region, aws.ToString(in.ClientToken), want)
		}
	}
	if eu.CopyImageCalls.Inputs[0].ClientToken == us.CopyImageCalls.Inputs[0].ClientToken {
		t.Error("both regions got the same ClientToken")
	}
	if got := aws.ToString(eu.CopyImageCalls.Inputs[0].KmsKeyId); got != "alias/eu" {
		t.Errorf("eu-west-1 copy with key %q, want its region_kms_key_ids entry", got)
	}
	if got := us.CopyImageCalls.Inputs[0].KmsKeyId; got != nil {
		t.Errorf("us-west-2 copy with key %q, want none (the region's default key)", *got)
	}
	for _, f := range []*fakeImageCopier{eu, us} {
		if snaps := f.CreateTagsCalls.Inputs[1]; !reflect.DeepEqual(snaps.Resources, []string{"snap-root", "snap-data"}) || tagMap(snaps.Tags)["snap"] != "yes" {
			t.Errorf("copy's snapshots tagged %s", jsonString(snaps))
		}
	}
	got := map[string]string{}
	for r, img := range getImages(state, "us-east-1") {
		got[r] = aws.ToString(img.ImageId)
	}
	if want := map[string]string{"us-east-1": "ami-0home", "eu-west-1": "ami-0eu", "us-west-2": "ami-0us"}; !reflect.DeepEqual(got, want) {
		t.Errorf("images %v, want %v", got, want)
	}
	if got, want := journaled(j), map[string]string{"ami-0eu": "eu-west-1", "ami-0us": "us-west-2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("journal %v, want every copy with its region %v", got, want)
	}
	for _, said := range []string{"eu-west-1: copy ami-0eu requested", "us-west-2: copy ami-0us requested", "AMI ami-0us in us-west-2 to become available"} {
		if !strings.Contains(ui.Out.String(), said) {
			t.Errorf("the user was not told %q:\n%s", said, ui.Out.String())
		}
	}
	step.Cleanup(state)
	if got := journaled(j); len(got) != 0 {
		t.Errorf("journal still holds %v after a successful build", got)
	}
}

// One region's copy fails while another's succeeds: the build halts, and
// Cleanup removes the copy that was made, in its region.
func TestStepCopyImages_oneFailsOthersAreRemoved(t *testing.T) {
	j := openJournal(t, "build-1")
	b := newBarrier(t, 3)
	eu, us, ap := newFakeImageCopier(t), newFakeImageCopier(t), newFakeImageCopier(t)
	scriptCopy(eu, b, "ami-0eu")
	us.CopyImageCalls.ReturnFunc(func(*ec2.CopyImageInput) (*ec2.CopyImageOutput, error) {
		_ = b.arrive()
		return nil, apiErr("InvalidAMIName.Duplicate")
	})
	// ap-south-1's copy starts, then fails while pending.
	ap.CopyImageCalls.ReturnFunc(func(*ec2.CopyImageInput) (*ec2.CopyImageOutput, error) {
		_ = b.arrive()
		return &ec2.CopyImageOutput{ImageId: aws.String("ami-0ap")}, nil
	})
	ap.CreateTagsCalls.Return(nil, nil)
	failed := builtImage("ami-0ap", types.ImageStateFailed)
	failed.StateReason = &types.StateReason{Message: aws.String("copy failed")}
	ap.DescribeImagesCalls.Return(images(failed), nil)
	state, ui := newState(t)
	state.Put(keyImage, builtImage("ami-0home", types.ImageStateAvailable))
	step := newCopyStep(map[string]*fakeImageCopier{"eu-west-1": eu, "us-west-2": us, "ap-south-1": ap}, j, "eu-west-1", "us-west-2", "ap-south-1")

	err := wantHalt(t, step.Run(t.Context(), state), state, ui, "to us-west-2", "ap-south-1 is failed: copy failed")
	wantAPICode(t, err, "InvalidAMIName.Duplicate")
	wantNoKeys(t, state, keyImages)

	scriptImageDeletion(&eu.fakeImageDeleter, "ami-0eu")
	scriptImageDeletion(&ap.fakeImageDeleter, "ami-0ap")
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state)
	for region, f := range map[string]*fakeImageCopier{"eu-west-1": eu, "ap-south-1": ap} {
		if f.DeregisterImageCalls.Called() != 1 || f.DeleteSnapshotCalls.Called() != 2 {
			t.Errorf("%s: cleanup deregistered %d AMIs and deleted %d snapshots, want the copy and its 2 snapshots",
				region, f.DeregisterImageCalls.Called(), f.DeleteSnapshotCalls.Called())
			continue
		}
		wantLiveCleanupContexts(t, region+" DeregisterImage", f.DeregisterImageCalls.CtxErrs, f.DeregisterImageCalls.HadDeadline)
	}
	if us.DeregisterImageCalls.Called() != 0 {
		t.Error("cleanup deregistered something in us-west-2, where no copy was made")
	}
	if got := journaled(j); len(got) != 0 {
		t.Errorf("journal still holds %v after cleanup", got)
	}
}

func TestStepCopyImages_skipSaveBuildRegionRemovesTheBuildRegionImage(t *testing.T) {
	j := openJournal(t, "build-1")
	_ = j.Record("image", "ami-0home", "")
	b := newBarrier(t, 1)
	eu, home := newFakeImageCopier(t), newFakeImageCopier(t)
	scriptCopy(eu, b, "ami-0eu")
	scriptImageDeletion(&home.fakeImageDeleter, "ami-0home")
	state, ui := newState(t)
	state.Put(keyImage, builtImage("ami-0home", types.ImageStateAvailable))
	step := newCopyStep(map[string]*fakeImageCopier{"eu-west-1": eu, "us-east-1": home}, j, "eu-west-1")
	step.skipBuildRegion = true

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	if got := aws.ToString(home.DeregisterImageCalls.Input(t).ImageId); got != "ami-0home" {
		t.Errorf("deregistered %s in the build region, want ami-0home", got)
	}
	imgs := getImages(state, "us-east-1")
	if _, ok := imgs["us-east-1"]; ok || len(imgs) != 1 {
		t.Errorf("images %v, want the eu-west-1 copy only", imgs)
	}
	if got := journaled(j); !reflect.DeepEqual(got, map[string]string{"ami-0eu": "eu-west-1"}) {
		t.Errorf("journal %v, want only the copy", got)
	}
}

func TestStepCopyImages_noRegionsKeepsTheBuildImage(t *testing.T) {
	state, ui := newState(t)
	state.Put(keyImage, builtImage("ami-0home", types.ImageStateAvailable))
	step := newCopyStep(nil, nil)
	wantContinue(t, step.Run(t.Context(), state), state, ui)
	if imgs := getImages(state, "us-east-1"); len(imgs) != 1 || aws.ToString(imgs["us-east-1"].ImageId) != "ami-0home" {
		t.Errorf("images %v, want the build region's alone", imgs)
	}
	step.Cleanup(state)
}
