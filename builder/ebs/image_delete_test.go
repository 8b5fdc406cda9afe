package ebs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestDeleteImage_deregistersThenDeletesSnapshots(t *testing.T) {
	f := newFakeImageDeleter(t)
	scriptImageDeletion(f, "ami-1")

	if err := deleteImage(t.Context(), f, "ami-1"); err != nil {
		t.Fatalf("deleteImage: %v", err)
	}
	want := []string{"DescribeImages", "DeregisterImage", "DeleteSnapshot", "DeleteSnapshot"}
	if !reflect.DeepEqual(f.Order, want) {
		t.Errorf("calls = %v, want %v: a snapshot cannot be deleted while an AMI uses it", f.Order, want)
	}
	if got := f.DescribeImagesCalls.Input(t).ImageIds; !reflect.DeepEqual(got, []string{"ami-1"}) {
		t.Errorf("described %v, want [ami-1]", got)
	}
	if got := aws.ToString(f.DeregisterImageCalls.Input(t).ImageId); got != "ami-1" {
		t.Errorf("deregistered %q, want ami-1", got)
	}
	var snaps []string
	for _, in := range f.DeleteSnapshotCalls.Inputs {
		snaps = append(snaps, aws.ToString(in.SnapshotId))
	}
	if !reflect.DeepEqual(snaps, []string{"snap-root", "snap-data"}) {
		t.Errorf("deleted snapshots %v, want [snap-root snap-data]", snaps)
	}
}

func TestDeleteImage_alreadyGone(t *testing.T) {
	t.Run("describe says not found", func(t *testing.T) {
		f := newFakeImageDeleter(t)
		f.DescribeImagesCalls.Return(nil, apiErr("InvalidAMIID.NotFound"))
		if err := deleteImage(t.Context(), f, "ami-1"); err != nil {
			t.Errorf("deleteImage of a missing AMI: %v, want nil", err)
		}
	})
	t.Run("deregistered in between", func(t *testing.T) {
		f := newFakeImageDeleter(t)
		f.DescribeImagesCalls.Return(images(builtImage("ami-1", types.ImageStateAvailable)), nil)
		f.DeregisterImageCalls.Return(nil, apiErr("InvalidAMIID.NotFound"))
		f.DeleteSnapshotCalls.Return(nil, apiErr("InvalidSnapshot.NotFound")).Return(nil, nil)
		if err := deleteImage(t.Context(), f, "ami-1"); err != nil {
			t.Errorf("deleteImage: %v, want nil", err)
		}
		if f.DeleteSnapshotCalls.Called() != 2 {
			t.Errorf("snapshots of an AMI deregistered by someone else were not deleted")
		}
	})
}

func TestDeleteImage_errors(t *testing.T) {
	t.Run("describe fails", func(t *testing.T) {
		f := newFakeImageDeleter(t)
		f.DescribeImagesCalls.Return(nil, apiErr("UnauthorizedOperation"))
		err := deleteImage(t.Context(), f, "ami-1")
		if err == nil || !strings.Contains(err.Error(), "describing AMI ami-1") {
			t.Errorf("err = %v, want it to say describing AMI ami-1 failed", err)
		}
		wantAPICode(t, err, "UnauthorizedOperation")
	})
	t.Run("deregister fails keeps snapshots", func(t *testing.T) {
		f := newFakeImageDeleter(t)
		f.DescribeImagesCalls.Return(images(builtImage("ami-1", types.ImageStateAvailable)), nil)
		f.DeregisterImageCalls.Return(nil, apiErr("UnauthorizedOperation"))
		err := deleteImage(t.Context(), f, "ami-1") // the fake fails on DeleteSnapshot
		if err == nil || !strings.Contains(err.Error(), "deregistering AMI ami-1") {
			t.Errorf("err = %v, want it to say deregistering ami-1 failed", err)
		}
		wantAPICode(t, err, "UnauthorizedOperation")
	})
	t.Run("one snapshot fails, the other is still deleted", func(t *testing.T) {
		f := newFakeImageDeleter(t)
		f.DescribeImagesCalls.Return(images(builtImage("ami-1", types.ImageStateAvailable)), nil)
		f.DeregisterImageCalls.Return(nil, nil)
		f.DeleteSnapshotCalls.Return(nil, apiErr("InvalidSnapshot.InUse")).Return(nil, nil)
		err := deleteImage(t.Context(), f, "ami-1")
		if err == nil || !strings.Contains(err.Error(), "deleting snapshot snap-root of AMI ami-1") {
			t.Errorf("err = %v, want it to name snap-root", err)
		}
		if strings.Contains(err.Error(), "snap-data") {
			t.Errorf("err = %v names snap-data, which was deleted", err)
		}
		wantAPICode(t, err, "InvalidSnapshot.InUse")
		if f.DeleteSnapshotCalls.Called() != 2 {
			t.Errorf("stopped after the first failed snapshot")
		}
	})
}
