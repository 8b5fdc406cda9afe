package ebs

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// Fakes of the interfaces of the steps after CreateImage (see fakes_test.go).

// fakeInstanceAttrs implements instanceAttributeModifier.
type fakeInstanceAttrs struct {
	fake
	ModifyInstanceAttributeCalls script[ec2.ModifyInstanceAttributeInput, ec2.ModifyInstanceAttributeOutput]
}

var _ instanceAttributeModifier = (*fakeInstanceAttrs)(nil)

func newFakeInstanceAttrs(t *testing.T) *fakeInstanceAttrs {
	f := &fakeInstanceAttrs{}
	f.fake = newFake(t, map[string]pending{"ModifyInstanceAttribute": &f.ModifyInstanceAttributeCalls})
	return f
}

func (f *fakeInstanceAttrs) ModifyInstanceAttribute(ctx context.Context, in *ec2.ModifyInstanceAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error) {
	return call(&f.fake, &f.ModifyInstanceAttributeCalls, "ModifyInstanceAttribute", ctx, in)
}

// fakeImageCopier implements imageCopier: CopyImage and CreateTags plus
// imageDeleter. Each region gets its own, so parallel copies do not share
// a fake.
type fakeImageCopier struct {
	fakeImageDeleter
	CopyImageCalls  script[ec2.CopyImageInput, ec2.CopyImageOutput]
	CreateTagsCalls script[ec2.CreateTagsInput, ec2.CreateTagsOutput]
}

var _ imageCopier = (*fakeImageCopier)(nil)

func newFakeImageCopier(t *testing.T) *fakeImageCopier {
	f := &fakeImageCopier{}
	scripts := f.scriptMap()
	scripts["CopyImage"] = &f.CopyImageCalls
	scripts["CreateTags"] = &f.CreateTagsCalls
	f.fake = newFake(t, scripts)
	return f
}

func (f *fakeImageCopier) CopyImage(ctx context.Context, in *ec2.CopyImageInput, _ ...func(*ec2.Options)) (*ec2.CopyImageOutput, error) {
	return call(&f.fake, &f.CopyImageCalls, "CopyImage", ctx, in)
}

func (f *fakeImageCopier) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	return call(&f.fake, &f.CreateTagsCalls, "CreateTags", ctx, in)
}

// fakeImageAttrs implements imageAttributeSetter.
type fakeImageAttrs struct {
	fake
	ModifyImageAttributeCalls   script[ec2.ModifyImageAttributeInput, ec2.ModifyImageAttributeOutput]
	EnableImageDeprecationCalls script[ec2.EnableImageDeprecationInput, ec2.EnableImageDeprecationOutput]
}

var _ imageAttributeSetter = (*fakeImageAttrs)(nil)

func newFakeImageAttrs(t *testing.T) *fakeImageAttrs {
	f := &fakeImageAttrs{}
	f.fake = newFake(t, map[string]pending{"ModifyImageAttribute": &f.ModifyImageAttributeCalls, "EnableImageDeprecation": &f.EnableImageDeprecationCalls})
	return f
}

func (f *fakeImageAttrs) ModifyImageAttribute(ctx context.Context, in *ec2.ModifyImageAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyImageAttributeOutput, error) {
	return call(&f.fake, &f.ModifyImageAttributeCalls, "ModifyImageAttribute", ctx, in)
}

func (f *fakeImageAttrs) EnableImageDeprecation(ctx context.Context, in *ec2.EnableImageDeprecationInput, _ ...func(*ec2.Options)) (*ec2.EnableImageDeprecationOutput, error) {
	return call(&f.fake, &f.EnableImageDeprecationCalls, "EnableImageDeprecation", ctx, in)
}

// fakeSharer implements imageSharer.
type fakeSharer struct {
	fake
	ModifyImageAttributeCalls    script[ec2.ModifyImageAttributeInput, ec2.ModifyImageAttributeOutput]
	ModifySnapshotAttributeCalls script[ec2.ModifySnapshotAttributeInput, ec2.ModifySnapshotAttributeOutput]
}

var _ imageSharer = (*fakeSharer)(nil)

func newFakeSharer(t *testing.T) *fakeSharer {
	f := &fakeSharer{}
	f.fake = newFake(t, map[string]pending{"ModifyImageAttribute": &f.ModifyImageAttributeCalls, "ModifySnapshotAttribute": &f.ModifySnapshotAttributeCalls})
	return f
}

func (f *fakeSharer) ModifyImageAttribute(ctx context.Context, in *ec2.ModifyImageAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyImageAttributeOutput, error) {
	return call(&f.fake, &f.ModifyImageAttributeCalls, "ModifyImageAttribute", ctx, in)
}

func (f *fakeSharer) ModifySnapshotAttribute(ctx context.Context, in *ec2.ModifySnapshotAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifySnapshotAttributeOutput, error) {
	return call(&f.fake, &f.ModifySnapshotAttributeCalls, "ModifySnapshotAttribute", ctx, in)
}
