package ebs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// Fakes of the small AWS interfaces the steps declare. Each fake implements
// exactly one interface. A test scripts every call it expects, with
// Return(...); a call that is not scripted fails the test at once, and a
// scripted reply nobody asked for fails it when the test ends. Each fake
// records what it was sent (Inputs), in which order (Order), and whether the
// context of each call was still live (so Cleanup's own context is checked).

// reply is one scripted answer of a fake AWS call.
type reply[In, Out any] struct {
	out *Out
	err error
	fn  func(*In) (*Out, error) // computes the answer, e.g. to cancel the build mid-wait
}

// script is what one fake AWS operation answers, call after call, and what
// it was asked.
type script[In, Out any] struct {
	replies []reply[In, Out]
	always  *reply[In, Out] // answers every call once replies run out (endless polling)

	Inputs      []*In   // every input, in order
	CtxErrs     []error // ctx.Err() when each call was made
	HadDeadline []bool  // whether each call's context had a deadline
}

// Return scripts the next reply. A nil out with a nil err answers an empty
// output, as the SDK never returns a nil output without an error.
func (s *script[In, Out]) Return(out *Out, err error) *script[In, Out] {
	s.replies = append(s.replies, reply[In, Out]{out: out, err: err})
	return s
}

// ReturnFunc scripts the next reply as computed from the input.
func (s *script[In, Out]) ReturnFunc(fn func(*In) (*Out, error)) *script[In, Out] {
	s.replies = append(s.replies, reply[In, Out]{fn: fn})
	return s
}

// ReturnAlways answers every call after the scripted replies with this one.
func (s *script[In, Out]) ReturnAlways(out *Out, err error) {
	s.always = &reply[In, Out]{out: out, err: err}
}

// Called is how many calls were made.
func (s *script[In, Out]) Called() int { return len(s.Inputs) }

// Input is the input of the only call made; it fails the test otherwise.
func (s *script[In, Out]) Input(t *testing.T) *In {
	t.Helper()
	if len(s.Inputs) != 1 {
		t.Fatalf("want exactly 1 call, got %d", len(s.Inputs))
	}
	return s.Inputs[0]
}

func (s *script[In, Out]) unused() int { return len(s.replies) }

// pending is a script seen without its types, for the end-of-test check.
type pending interface{ unused() int }

// fake is what every fake shares: the test, the call log, the scripts.
type fake struct {
	t       *testing.T
	Order   []string // operation names, in the order they were called
	scripts map[string]pending
}

func newFake(t *testing.T, scripts map[string]pending) fake {
	t.Helper()
	t.Cleanup(func() {
		names := make([]string, 0, len(scripts))
		for name := range scripts {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if n := scripts[name].unused(); n > 0 {
				t.Errorf("%d scripted %s call(s) never made", n, name)
			}
		}
	})
	return fake{t: t, scripts: scripts}
}

// call answers one call of operation name from its script. An unscripted
// call fails the test whatever the context's state: a call made after
// Ctrl-C must be one the test expects. Like the SDK, a call whose context
// is already done fails with the context's error; it uses up its scripted
// reply, which only says the call was expected.
func call[In, Out any](f *fake, s *script[In, Out], name string, ctx context.Context, in *In) (*Out, error) {
	f.t.Helper()
	f.Order = append(f.Order, name)
	s.Inputs = append(s.Inputs, in)
	s.CtxErrs = append(s.CtxErrs, ctx.Err())
	_, hasDeadline := ctx.Deadline()
	s.HadDeadline = append(s.HadDeadline, hasDeadline)
	var r reply[In, Out]
	switch {
	case len(s.replies) > 0:
		r, s.replies = s.replies[0], s.replies[1:]
	case s.always != nil:
		r = *s.always
	default:
		f.t.Fatalf("unexpected AWS call %s(%s) (context: %v)", name, jsonString(in), ctx.Err())
	}
	if err := ctx.Err(); err != nil {
		return nil, &smithy.OperationError{ServiceID: "EC2", OperationName: name, Err: err}
	}
	if r.fn != nil {
		return r.fn(in)
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.out == nil {
		return new(Out), nil
	}
	return r.out, nil
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// fakeImages implements bakery.ImageDescriber.
type fakeImages struct {
	fake
	DescribeImagesCalls script[ec2.DescribeImagesInput, ec2.DescribeImagesOutput]
}

var _ bakery.ImageDescriber = (*fakeImages)(nil)

func newFakeImages(t *testing.T) *fakeImages {
	f := &fakeImages{}
	f.fake = newFake(t, map[string]pending{"DescribeImages": &f.DescribeImagesCalls})
	return f
}

func (f *fakeImages) DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	return call(&f.fake, &f.DescribeImagesCalls, "DescribeImages", ctx, in)
}

// fakeNetwork implements networkDescriber.
type fakeNetwork struct {
	fake
	DescribeVpcsCalls    script[ec2.DescribeVpcsInput, ec2.DescribeVpcsOutput]
	DescribeSubnetsCalls script[ec2.DescribeSubnetsInput, ec2.DescribeSubnetsOutput]
}

var _ networkDescriber = (*fakeNetwork)(nil)

func newFakeNetwork(t *testing.T) *fakeNetwork {
	f := &fakeNetwork{}
	f.fake = newFake(t, map[string]pending{"DescribeVpcs": &f.DescribeVpcsCalls, "DescribeSubnets": &f.DescribeSubnetsCalls})
	return f
}

func (f *fakeNetwork) DescribeVpcs(ctx context.Context, in *ec2.DescribeVpcsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error) {
	return call(&f.fake, &f.DescribeVpcsCalls, "DescribeVpcs", ctx, in)
}

func (f *fakeNetwork) DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	return call(&f.fake, &f.DescribeSubnetsCalls, "DescribeSubnets", ctx, in)
}

// fakeKeyPairs implements keyPairImporter.
type fakeKeyPairs struct {
	fake
	ImportKeyPairCalls    script[ec2.ImportKeyPairInput, ec2.ImportKeyPairOutput]
	DescribeKeyPairsCalls script[ec2.DescribeKeyPairsInput, ec2.DescribeKeyPairsOutput]
	DeleteKeyPairCalls    script[ec2.DeleteKeyPairInput, ec2.DeleteKeyPairOutput]
}

var _ keyPairImporter = (*fakeKeyPairs)(nil)

func newFakeKeyPairs(t *testing.T) *fakeKeyPairs {
	f := &fakeKeyPairs{}
	f.fake = newFake(t, map[string]pending{"ImportKeyPair": &f.ImportKeyPairCalls, "DescribeKeyPairs": &f.DescribeKeyPairsCalls, "DeleteKeyPair": &f.DeleteKeyPairCalls})
	return f
}

func (f *fakeKeyPairs) ImportKeyPair(ctx context.Context, in *ec2.ImportKeyPairInput, _ ...func(*ec2.Options)) (*ec2.ImportKeyPairOutput, error) {
	return call(&f.fake, &f.ImportKeyPairCalls, "ImportKeyPair", ctx, in)
}

func (f *fakeKeyPairs) DescribeKeyPairs(ctx context.Context, in *ec2.DescribeKeyPairsInput, _ ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error) {
	return call(&f.fake, &f.DescribeKeyPairsCalls, "DescribeKeyPairs", ctx, in)
}

func (f *fakeKeyPairs) DeleteKeyPair(ctx context.Context, in *ec2.DeleteKeyPairInput, _ ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error) {
	return call(&f.fake, &f.DeleteKeyPairCalls, "DeleteKeyPair", ctx, in)
}

// fakeSecurityGroups implements securityGroupManager.
type fakeSecurityGroups struct {
	fake
	CreateSecurityGroupCalls script[ec2.CreateSecurityGroupInput, ec2.CreateSecurityGroupOutput]
	DescribeGroupsCalls      script[ec2.DescribeSecurityGroupsInput, ec2.DescribeSecurityGroupsOutput]
	AuthorizeIngressCalls    script[ec2.AuthorizeSecurityGroupIngressInput, ec2.AuthorizeSecurityGroupIngressOutput]
	DeleteSecurityGroupCalls script[ec2.DeleteSecurityGroupInput, ec2.DeleteSecurityGroupOutput]
}

var _ securityGroupManager = (*fakeSecurityGroups)(nil)

func newFakeSecurityGroups(t *testing.T) *fakeSecurityGroups {
	f := &fakeSecurityGroups{}
	f.fake = newFake(t, map[string]pending{
		"CreateSecurityGroup":           &f.CreateSecurityGroupCalls,
		"DescribeSecurityGroups":        &f.DescribeGroupsCalls,
		"AuthorizeSecurityGroupIngress": &f.AuthorizeIngressCalls,
		"DeleteSecurityGroup":           &f.DeleteSecurityGroupCalls,
	})
	return f
}

func (f *fakeSecurityGroups) CreateSecurityGroup(ctx context.Context, in *ec2.CreateSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error) {
	return call(&f.fake, &f.CreateSecurityGroupCalls, "CreateSecurityGroup", ctx, in)
}

func (f *fakeSecurityGroups) DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	return call(&f.fake, &f.DescribeGroupsCalls, "DescribeSecurityGroups", ctx, in)
}

func (f *fakeSecurityGroups) AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, _ ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error) {
	return call(&f.fake, &f.AuthorizeIngressCalls, "AuthorizeSecurityGroupIngress", ctx, in)
}

func (f *fakeSecurityGroups) DeleteSecurityGroup(ctx context.Context, in *ec2.DeleteSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error) {
	return call(&f.fake, &f.DeleteSecurityGroupCalls, "DeleteSecurityGroup", ctx, in)
}

// fakeInstances implements instanceRunner.
type fakeInstances struct {
	fake
	RunInstancesCalls       script[ec2.RunInstancesInput, ec2.RunInstancesOutput]
	DescribeInstancesCalls  script[ec2.DescribeInstancesInput, ec2.DescribeInstancesOutput]
	TerminateInstancesCalls script[ec2.TerminateInstancesInput, ec2.TerminateInstancesOutput]
}

var _ instanceRunner = (*fakeInstances)(nil)

func newFakeInstances(t *testing.T) *fakeInstances {
	f := &fakeInstances{}
	f.fake = newFake(t, map[string]pending{
		"RunInstances":       &f.RunInstancesCalls,
		"DescribeInstances":  &f.DescribeInstancesCalls,
		"TerminateInstances": &f.TerminateInstancesCalls,
	})
	return f
}

func (f *fakeInstances) RunInstances(ctx context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	return call(&f.fake, &f.RunInstancesCalls, "RunInstances", ctx, in)
}

func (f *fakeInstances) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	return call(&f.fake, &f.DescribeInstancesCalls, "DescribeInstances", ctx, in)
}

func (f *fakeInstances) TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	return call(&f.fake, &f.TerminateInstancesCalls, "TerminateInstances", ctx, in)
}

// fakeStopper implements instanceStopper.
type fakeStopper struct {
	fake
	StopInstancesCalls     script[ec2.StopInstancesInput, ec2.StopInstancesOutput]
	DescribeInstancesCalls script[ec2.DescribeInstancesInput, ec2.DescribeInstancesOutput]
}

var _ instanceStopper = (*fakeStopper)(nil)

func newFakeStopper(t *testing.T) *fakeStopper {
	f := &fakeStopper{}
	f.fake = newFake(t, map[string]pending{"StopInstances": &f.StopInstancesCalls, "DescribeInstances": &f.DescribeInstancesCalls})
	return f
}

func (f *fakeStopper) StopInstances(ctx context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	return call(&f.fake, &f.StopInstancesCalls, "StopInstances", ctx, in)
}

func (f *fakeStopper) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	return call(&f.fake, &f.DescribeInstancesCalls, "DescribeInstances", ctx, in)
}

// fakeImageDeleter implements imageDeleter.
type fakeImageDeleter struct {
	fake
	DescribeImagesCalls  script[ec2.DescribeImagesInput, ec2.DescribeImagesOutput]
	DeregisterImageCalls script[ec2.DeregisterImageInput, ec2.DeregisterImageOutput]
	DeleteSnapshotCalls  script[ec2.DeleteSnapshotInput, ec2.DeleteSnapshotOutput]
}

var _ imageDeleter = (*fakeImageDeleter)(nil)

func newFakeImageDeleter(t *testing.T) *fakeImageDeleter {
	f := &fakeImageDeleter{}
	f.fake = newFake(t, f.scriptMap())
	return f
}

func (f *fakeImageDeleter) scriptMap() map[string]pending {
	return map[string]pending{
		"DescribeImages":  &f.DescribeImagesCalls,
		"DeregisterImage": &f.DeregisterImageCalls,
		"DeleteSnapshot":  &f.DeleteSnapshotCalls,
	}
}

func (f *fakeImageDeleter) DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	return call(&f.fake, &f.DescribeImagesCalls, "DescribeImages", ctx, in)
}

func (f *fakeImageDeleter) DeregisterImage(ctx context.Context, in *ec2.DeregisterImageInput, _ ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error) {
	return call(&f.fake, &f.DeregisterImageCalls, "DeregisterImage", ctx, in)
}

func (f *fakeImageDeleter) DeleteSnapshot(ctx context.Context, in *ec2.DeleteSnapshotInput, _ ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error) {
	return call(&f.fake, &f.DeleteSnapshotCalls, "DeleteSnapshot", ctx, in)
}

// fakeImageCreator implements imageCreator: CreateImage plus imageDeleter.
type fakeImageCreator struct {
	fakeImageDeleter
	CreateImageCalls script[ec2.CreateImageInput, ec2.CreateImageOutput]
	// EarlierAttempts are how the SDK's attempts before the scripted
	// reply ended (a lost reply: a transport error), as the call's API
	// options see them.
	EarlierAttempts []error
}

var _ imageCreator = (*fakeImageCreator)(nil)

func newFakeImageCreator(t *testing.T) *fakeImageCreator {
	f := &fakeImageCreator{}
	scripts := f.scriptMap()
	scripts["CreateImage"] = &f.CreateImageCalls
	f.fake = newFake(t, scripts)
	return f
}

func (f *fakeImageCreator) CreateImage(ctx context.Context, in *ec2.CreateImageInput, opts ...func(*ec2.Options)) (*ec2.CreateImageOutput, error) {
	out, err := call(&f.fake, &f.CreateImageCalls, "CreateImage", ctx, in)
	if serr := sendAttempts(ctx, opts, append(slices.Clone(f.EarlierAttempts), err)); serr != nil {
		f.t.Errorf("CreateImage's API options: %v", serr)
	}
	return out, err
}

// sendAttempts runs the API options of a call over attempts that end with
// errs, in order, as the SDK's retry loop would send them.
func sendAttempts(ctx context.Context, opts []func(*ec2.Options), errs []error) error {
	var o ec2.Options
	for _, fn := range opts {
		fn(&o)
	}
	stack := middleware.NewStack("fake", smithyhttp.NewStackRequest)
	retry := middleware.FinalizeMiddlewareFunc("Retry", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		return next.HandleFinalize(ctx, in)
	})
	if err := stack.Finalize.Add(retry, middleware.After); err != nil {
		return err
	}
	for _, fn := range o.APIOptions {
		if err := fn(stack); err != nil {
			return err
		}
	}
	for _, e := range errs {
		end := middleware.HandlerFunc(func(context.Context, interface{}) (interface{}, middleware.Metadata, error) {
			return nil, middleware.Metadata{}, e
		})
		_, _, _ = stack.Finalize.HandleMiddleware(ctx, nil, end)
	}
	return nil
}

// fakeTagger implements tagCreator.
type fakeTagger struct {
	fake
	CreateTagsCalls script[ec2.CreateTagsInput, ec2.CreateTagsOutput]
}

var _ tagCreator = (*fakeTagger)(nil)

func newFakeTagger(t *testing.T) *fakeTagger {
	f := &fakeTagger{}
	f.fake = newFake(t, map[string]pending{"CreateTags": &f.CreateTagsCalls})
	return f
}

func (f *fakeTagger) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	return call(&f.fake, &f.CreateTagsCalls, "CreateTags", ctx, in)
}

// fakeRegions implements regionDescriber.
type fakeRegions struct {
	fake
	DescribeRegionsCalls script[ec2.DescribeRegionsInput, ec2.DescribeRegionsOutput]
}

var _ regionDescriber = (*fakeRegions)(nil)

func newFakeRegions(t *testing.T) *fakeRegions {
	f := &fakeRegions{}
	f.fake = newFake(t, map[string]pending{"DescribeRegions": &f.DescribeRegionsCalls})
	return f
}

func (f *fakeRegions) DescribeRegions(ctx context.Context, in *ec2.DescribeRegionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	return call(&f.fake, &f.DescribeRegionsCalls, "DescribeRegions", ctx, in)
}

// uiOutput is what the user was shown.
type uiOutput struct {
	Out bytes.Buffer // Say
	Err bytes.Buffer // Error
}

// newState is a state bag with a UI whose output the test can read.
func newState(t *testing.T) (*multistep.BasicStateBag, *uiOutput) {
	t.Helper()
	out := &uiOutput{}
	state := new(multistep.BasicStateBag)
	state.Put(keyUI, &packersdk.BasicUi{
		Reader:      new(bytes.Buffer),
		Writer:      &out.Out,
		ErrorWriter: &out.Err,
		PB:          &packersdk.NoopProgressTracker{},
	})
	return state, out
}

// fastPoll makes waits poll every millisecond.
var fastPoll = bakery.Poll{Interval: time.Millisecond}

// apiErr is an EC2 API error with code, as the SDK returns it.
func apiErr(code string) error {
	return &smithy.OperationError{ServiceID: "EC2", OperationName: "Fake",
		Err: &smithy.GenericAPIError{Code: code, Message: "fake " + code}}
}

// wantContinue fails unless the step continued without recording an error.
func wantContinue(t *testing.T, got multistep.StepAction, state multistep.StateBag, ui *uiOutput) {
	t.Helper()
	if got != multistep.ActionContinue {
		t.Errorf("action = %v, want ActionContinue", got)
	}
	if err, ok := state.GetOk(keyError); ok {
		t.Errorf("state has error %v, want none", err)
	}
	if ui.Err.Len() > 0 {
		t.Errorf("user was shown an error: %s", ui.Err.String())
	}
}

// wantHalt fails unless the step halted, recorded an error containing every
// one of want in the state and showed it to the user. It returns the error.
func wantHalt(t *testing.T, got multistep.StepAction, state multistep.StateBag, ui *uiOutput, want ...string) error {
	t.Helper()
	if got != multistep.ActionHalt {
		t.Errorf("action = %v, want ActionHalt", got)
	}
	raw, ok := state.GetOk(keyError)
	if !ok {
		t.Fatalf("no error in state")
	}
	err, ok := raw.(error)
	if !ok {
		t.Fatalf("state error is a %T, not an error", raw)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if !strings.Contains(ui.Err.String(), err.Error()) {
		t.Errorf("user was not shown the error; UI errors: %q", ui.Err.String())
	}
	return err
}

// wantNoKeys fails if the state holds any of keys.
func wantNoKeys(t *testing.T, state multistep.StateBag, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if v, ok := state.GetOk(k); ok {
			t.Errorf("state[%q] = %v, want unset", k, v)
		}
	}
}

// wantLiveCleanupContexts fails unless every call of a Cleanup ran with a
// live context that has a deadline: not the build's (maybe cancelled)
// context, and not an unbounded one.
func wantLiveCleanupContexts(t *testing.T, name string, ctxErrs []error, deadlines []bool) {
	t.Helper()
	if len(ctxErrs) == 0 {
		t.Fatalf("%s was never called", name)
	}
	for i := range ctxErrs {
		if ctxErrs[i] != nil {
			t.Errorf("%s call %d got a done context: %v", name, i+1, ctxErrs[i])
		}
		if !deadlines[i] {
			t.Errorf("%s call %d got a context without a deadline", name, i+1)
		}
	}
}

// tagMap turns EC2 tags back into a map.
func tagMap(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, tag := range tags {
		m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return m
}

// wantErrorIs fails unless errors.Is(err, target).
func wantErrorIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("error %q does not wrap %v", err, target)
	}
}

// wantAPICode fails unless err wraps an AWS API error with code.
func wantAPICode(t *testing.T, err error, code string) {
	t.Helper()
	var apiError smithy.APIError
	if !errors.As(err, &apiError) || apiError.ErrorCode() != code {
		t.Errorf("error %q does not wrap the AWS %s error", err, code)
	}
}
