package ebs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// fakeDryRun answers the preflight's dry runs concurrently: refuse names
// the operations it refuses; every other call answers DryRunOperation, or
// what answer holds for it. It fails on any call made without DryRun.
type fakeDryRun struct {
	t      *testing.T
	refuse map[string]bool
	answer map[string]error

	mu     sync.Mutex
	calls  []string
	inputs map[string]any
}

func newFakeDryRun(t *testing.T, refuse ...string) *fakeDryRun {
	f := &fakeDryRun{t: t, refuse: map[string]bool{}, answer: map[string]error{}, inputs: map[string]any{}}
	for _, r := range refuse {
		f.refuse[r] = true
	}
	return f
}

func (f *fakeDryRun) do(name string, dryRun *bool, in any) error {
	f.mu.Lock()
	f.calls = append(f.calls, name)
	f.inputs[name] = in
	f.mu.Unlock()
	if !aws.ToBool(dryRun) {
		f.t.Errorf("%s called without DryRun: the permission check must not change anything", name)
	}
	if f.refuse[name] {
		return &smithy.OperationError{ServiceID: "EC2", OperationName: name,
			Err: &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation."}}
	}
	if err, ok := f.answer[name]; ok {
		return err
	}
	return &smithy.OperationError{ServiceID: "EC2", OperationName: name,
		Err: &smithy.GenericAPIError{Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set."}}
}

func (f *fakeDryRun) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	if !aws.ToBool(in.DryRun) { // the source AMI lookup by filter
		f.mu.Lock()
		f.calls = append(f.calls, "DescribeImages(lookup)")
		f.mu.Unlock()
		return &ec2.DescribeImagesOutput{Images: []types.Image{{ImageId: aws.String("ami-0aaaaaaaaaaaaaaaa"), CreationDate: aws.String("2024-01-01T00:00:00.000Z")}}}, nil
	}
	return nil, f.do("DescribeImages", in.DryRun, in)
}
func (f *fakeDryRun) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	return nil, f.do("DescribeInstances", in.DryRun, in)
}
func (f *fakeDryRun) DescribeKeyPairs(_ context.Context, in *ec2.DescribeKeyPairsInput, _ ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error) {
	return nil, f.do("DescribeKeyPairs", in.DryRun, in)
}
func (f *fakeDryRun) DescribeRegions(_ context.Context, in *ec2.DescribeRegionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	return nil, f.do("DescribeRegions", in.DryRun, in)
}
func (f *fakeDryRun) DescribeSecurityGroups(_ context.Context, in *ec2.DescribeSecurityGroupsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	return nil, f.do("DescribeSecurityGroups", in.DryRun, in)
}
func (f *fakeDryRun) DescribeSubnets(_ context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	return nil, f.do("DescribeSubnets", in.DryRun, in)
}
func (f *fakeDryRun) DescribeInstanceConnectEndpoints(_ context.Context, in *ec2.DescribeInstanceConnectEndpointsInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceConnectEndpointsOutput, error) {
	return nil, f.do("DescribeInstanceConnectEndpoints", in.DryRun, in)
}
func (f *fakeDryRun) DescribeVpcs(_ context.Context, in *ec2.DescribeVpcsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error) {
	return nil, f.do("DescribeVpcs", in.DryRun, in)
}
func (f *fakeDryRun) RunInstances(_ context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	return nil, f.do("RunInstances", in.DryRun, in)
}
func (f *fakeDryRun) StopInstances(_ context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	return nil, f.do("StopInstances", in.DryRun, in)
}
func (f *fakeDryRun) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	return nil, f.do("TerminateInstances", in.DryRun, in)
}
func (f *fakeDryRun) ImportKeyPair(_ context.Context, in *ec2.ImportKeyPairInput, _ ...func(*ec2.Options)) (*ec2.ImportKeyPairOutput, error) {
	return nil, f.do("ImportKeyPair", in.DryRun, in)
}
func (f *fakeDryRun) DeleteKeyPair(_ context.Context, in *ec2.DeleteKeyPairInput, _ ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error) {
	return nil, f.do("DeleteKeyPair", in.DryRun, in)
}
func (f *fakeDryRun) CreateSecurityGroup(_ context.Context, in *ec2.CreateSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error) {
	return nil, f.do("CreateSecurityGroup", in.DryRun, in)
}
func (f *fakeDryRun) AuthorizeSecurityGroupIngress(_ context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, _ ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error) {
	return nil, f.do("AuthorizeSecurityGroupIngress", in.DryRun, in)
}
func (f *fakeDryRun) DeleteSecurityGroup(_ context.Context, in *ec2.DeleteSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error) {
	return nil, f.do("DeleteSecurityGroup", in.DryRun, in)
}
func (f *fakeDryRun) CreateImage(_ context.Context, in *ec2.CreateImageInput, _ ...func(*ec2.Options)) (*ec2.CreateImageOutput, error) {
	return nil, f.do("CreateImage", in.DryRun, in)
}
func (f *fakeDryRun) DeregisterImage(_ context.Context, in *ec2.DeregisterImageInput, _ ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error) {
	return nil, f.do("DeregisterImage", in.DryRun, in)
}
func (f *fakeDryRun) DeleteSnapshot(_ context.Context, in *ec2.DeleteSnapshotInput, _ ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error) {
	return nil, f.do("DeleteSnapshot", in.DryRun, in)
}
func (f *fakeDryRun) CreateTags(_ context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	return nil, f.do("CreateTags", in.DryRun, in)
}

func (f *fakeDryRun) CopyImage(_ context.Context, in *ec2.CopyImageInput, _ ...func(*ec2.Options)) (*ec2.CopyImageOutput, error) {
	return nil, f.do("CopyImage", in.DryRun, in)
}
func (f *fakeDryRun) ModifyImageAttribute(_ context.Context, in *ec2.ModifyImageAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyImageAttributeOutput, error) {
	return nil, f.do("ModifyImageAttribute", in.DryRun, in)
}
func (f *fakeDryRun) ModifySnapshotAttribute(_ context.Context, in *ec2.ModifySnapshotAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifySnapshotAttributeOutput, error) {
	return nil, f.do("ModifySnapshotAttribute", in.DryRun, in)
}
func (f *fakeDryRun) EnableImageDeprecation(_ context.Context, in *ec2.EnableImageDeprecationInput, _ ...func(*ec2.Options)) (*ec2.EnableImageDeprecationOutput, error) {
	return nil, f.do("EnableImageDeprecation", in.DryRun, in)
}
func (f *fakeDryRun) ModifyInstanceAttribute(_ context.Context, in *ec2.ModifyInstanceAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error) {
	return nil, f.do("ModifyInstanceAttribute", in.DryRun, in)
}

func (f *fakeDryRun) CreateLaunchTemplate(_ context.Context, in *ec2.CreateLaunchTemplateInput, _ ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateOutput, error) {
	return nil, f.do("CreateLaunchTemplate", in.DryRun, in)
}
func (f *fakeDryRun) DeleteLaunchTemplate(_ context.Context, in *ec2.DeleteLaunchTemplateInput, _ ...func(*ec2.Options)) (*ec2.DeleteLaunchTemplateOutput, error) {
	return nil, f.do("DeleteLaunchTemplate", in.DryRun, in)
}
func (f *fakeDryRun) DescribeLaunchTemplates(_ context.Context, in *ec2.DescribeLaunchTemplatesInput, _ ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error) {
	return nil, f.do("DescribeLaunchTemplates", in.DryRun, in)
}
func (f *fakeDryRun) DescribeLaunchTemplateVersions(_ context.Context, in *ec2.DescribeLaunchTemplateVersionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
	return nil, f.do("DescribeLaunchTemplateVersions", in.DryRun, in)
}
func (f *fakeDryRun) CreateFleet(_ context.Context, in *ec2.CreateFleetInput, _ ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	return nil, f.do("CreateFleet", in.DryRun, in)
}
func (f *fakeDryRun) DeleteFleets(_ context.Context, in *ec2.DeleteFleetsInput, _ ...func(*ec2.Options)) (*ec2.DeleteFleetsOutput, error) {
	return nil, f.do("DeleteFleets", in.DryRun, in)
}
func (f *fakeDryRun) DescribeFleets(_ context.Context, in *ec2.DescribeFleetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeFleetsOutput, error) {
	return nil, f.do("DescribeFleets", in.DryRun, in)
}

func preparedConfig(t *testing.T, over map[string]interface{}) *Config {
	t.Helper()
	var c Config
	if _, err := c.Prepare(validConfig(over)); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return &c
}

// plannedPreflight is the permission check of cfg's plan, asking f: the
// dry runs the planned steps declare, made with build id b-1.
func plannedPreflight(cfg *Config, f ec2Client) *stepPreflight {
	for _, s := range plan(cfg, planDeps{region: "us-east-1", buildID: "b-1", clients: awsClients{ec2: func(string) ec2Client { return f }}}) {
		if p, ok := s.(*stepPreflight); ok {
			return p
		}
	}
	return nil
}

// checkedActions are the actions the permission check of cfg's plan asks.
func checkedActions(cfg *Config) []string {
	var out []string
	for _, c := range plannedPreflight(cfg, nil).checks {
		out = append(out, c.action)
	}
	sort.Strings(out)
	return out
}

func TestPreflightAllowedContinues(t *testing.T) {
	cfg := preparedConfig(t, map[string]interface{}{"snapshot_tags": map[string]string{"Team": "x"}})
	f := newFakeDryRun(t)
	step := plannedPreflight(cfg, f)
	state, ui := newState(t)
	wantContinue(t, step.Run(context.Background(), state), state, ui)
	want := []string{"AuthorizeSecurityGroupIngress", "CreateImage", "CreateSecurityGroup", "CreateTags", "DeleteKeyPair",
		"DeleteSecurityGroup", "DeleteSnapshot", "DeregisterImage", "DescribeImages", "DescribeInstances", "DescribeKeyPairs",
		"DescribeRegions", "DescribeSecurityGroups", "DescribeSubnets", "DescribeVpcs", "ImportKeyPair", "RunInstances",
		"StopInstances", "TerminateInstances"}
	got := slices.Sorted(slices.Values(f.calls))
	if !slices.Equal(got, want) {
		t.Errorf("dry runs:\n got %v\nwant %v", got, want)
	}
	// The launch is asked as the build will ask it: its AMI, type, tags.
	run := f.inputs["RunInstances"].(*ec2.RunInstancesInput)
	if aws.ToString(run.ImageId) != "ami-0123456789abcdef0" || run.InstanceType != "t3.micro" {
		t.Errorf("RunInstances dry run: image %s type %s", aws.ToString(run.ImageId), run.InstanceType)
	}
	if len(run.TagSpecifications) != 2 || tagMap(run.TagSpecifications[0].Tags)[bakery.TagBuildID] != "b-1" {
		t.Errorf("RunInstances dry run lacks the build's tags: %+v", run.TagSpecifications)
	}
	imp := f.inputs["ImportKeyPair"].(*ec2.ImportKeyPairInput)
	if len(imp.PublicKeyMaterial) == 0 || len(imp.TagSpecifications) != 1 {
		t.Errorf("ImportKeyPair dry run: key %d bytes, tags %+v", len(imp.PublicKeyMaterial), imp.TagSpecifications)
	}
	if !strings.Contains(ui.Out.String(), "Permission check passed") {
		t.Errorf("output: %s", ui.Out.String())
	}
}

func TestPreflightListsEveryRefusal(t *testing.T) {
	cfg := preparedConfig(t, nil)
	f := newFakeDryRun(t, "RunInstances", "TerminateInstances", "DeleteKeyPair")
	state, ui := newState(t)
	err := wantHalt(t, plannedPreflight(cfg, f).Run(context.Background(), state), state, ui,
		"lack 3 permission(s)", "ec2:DeleteKeyPair\n  ec2:RunInstances\n  ec2:TerminateInstances", "skip_permission_check")
	if strings.Contains(err.Error(), "ec2:StopInstances") {
		t.Errorf("an allowed action is listed: %v", err)
	}
}

func TestPreflightAccessDeniedCountsAsRefused(t *testing.T) {
	// moto, and services other than EC2, say AccessDenied.
	cfg := preparedConfig(t, nil)
	f := newFakeDryRun(t)
	f.answer["CreateImage"] = &smithy.OperationError{ServiceID: "EC2", OperationName: "CreateImage",
		Err: &smithy.GenericAPIError{Code: "AccessDenied", Message: "User: arn:aws:iam::123456789012:user/x is not authorized to perform: ec2:CreateImage"}}
	state, ui := newState(t)
	wantHalt(t, plannedPreflight(cfg, f).Run(context.Background(), state), state, ui, "ec2:CreateImage")
}

func TestPreflightOtherAnswersAreNotRefusals(t *testing.T) {
	cfg := preparedConfig(t, nil)
	f := newFakeDryRun(t)
	f.answer["TerminateInstances"] = &smithy.OperationError{ServiceID: "EC2", OperationName: "TerminateInstances",
		Err: &smithy.GenericAPIError{Code: "InvalidInstanceID.NotFound", Message: "The instance ID 'i-00000000000000000' does not exist"}}
	f.answer["DescribeVpcs"] = nil // a service that ignores DryRun answers the call
	state, ui := newState(t)
	wantContinue(t, plannedPreflight(cfg, f).Run(context.Background(), state), state, ui)
	if !strings.Contains(ui.Out.String(), "taken as allowed: ec2:TerminateInstances (InvalidInstanceID.NotFound)") {
		t.Errorf("the undecided check is not reported: %s", ui.Out.String())
	}
}

func TestPreflightSkipped(t *testing.T) {
	cfg := preparedConfig(t, map[string]interface{}{"skip_permission_check": true})
	f := newFakeDryRun(t, "RunInstances")
	state, ui := newState(t)
	wantContinue(t, plannedPreflight(cfg, f).Run(context.Background(), state), state, ui)
	if len(f.calls) != 0 {
		t.Errorf("skip_permission_check still made calls: %v", f.calls)
	}
}

func TestPreflightFollowsOptions(t *testing.T) {
	cfg := preparedConfig(t, map[string]interface{}{
		"security_group_ids": []string{"sg-0123456789abcdef0"}, "ssh_keypair_name": "mine", "ssh_agent_auth": true,
		"skip_region_validation": true, "source_ami": unset,
		"source_ami_filter": map[string]interface{}{"filters": map[string]string{"name": "x-*"}, "owners": []string{"self"}},
		"subnet_id":         "subnet-0123456789abcdef0",
	})
	got := checkedActions(cfg)
	for _, a := range []string{"ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup", "ec2:ImportKeyPair", "ec2:DeleteKeyPair", "ec2:DescribeRegions", "ec2:CreateTags"} {
		if slices.Contains(got, a) {
			t.Errorf("%s is checked though the options make no such call", a)
		}
	}
	f := newFakeDryRun(t)
	state, ui := newState(t)
	wantContinue(t, plannedPreflight(cfg, f).Run(context.Background(), state), state, ui)
	run := f.inputs["RunInstances"].(*ec2.RunInstancesInput)
	if aws.ToString(run.ImageId) != "ami-0aaaaaaaaaaaaaaaa" || aws.ToString(run.SubnetId) != "subnet-0123456789abcdef0" ||
		!slices.Equal(run.SecurityGroupIds, []string{"sg-0123456789abcdef0"}) || aws.ToString(run.KeyName) != "mine" {
		t.Errorf("RunInstances dry run is not the build's launch: %s", jsonString(run))
	}
}

func TestPreflightRunsInParallel(t *testing.T) {
	// Twenty slow checks finish in about the time of one.
	var checks []permissionCheck
	for i := range 20 {
		checks = append(checks, permissionCheck{action: fmt.Sprintf("ec2:Op%d", i), call: func(ctx context.Context) error {
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
			}
			return nil
		}})
	}
	state, ui := newState(t)
	start := time.Now()
	wantContinue(t, (&stepPreflight{checks: checks}).Run(context.Background(), state), state, ui)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("20 checks of 200ms took %v: not parallel", d)
	}
}

func TestPreflightCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checks := []permissionCheck{{action: "ec2:RunInstances", call: func(ctx context.Context) error { return ctx.Err() }}}
	state, _ := newState(t)
	if got := (&stepPreflight{checks: checks}).Run(ctx, state); got != multistep.ActionHalt {
		t.Fatalf("got %v", got)
	}
	if _, ok := state.GetOk(keyError); ok {
		t.Error("a cancelled check is reported as the build's error")
	}
}

func TestPermissionHintNamesTheAction(t *testing.T) {
	denied := &smithy.OperationError{ServiceID: "EC2", OperationName: "TerminateInstances",
		Err: &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation."}}
	err := withPermissionHint(fmt.Errorf("terminating: %w", denied))
	if !strings.Contains(err.Error(), "missing IAM permission ec2:TerminateInstances") {
		t.Errorf("got %v", err)
	}
	if !errors.Is(err, denied) {
		t.Error("the hint lost the cause")
	}
	other := &smithy.OperationError{ServiceID: "EC2", OperationName: "RunInstances", Err: &smithy.GenericAPIError{Code: "InsufficientInstanceCapacity"}}
	if got := withPermissionHint(other); got != error(other) {
		t.Errorf("a non-permission error got a hint: %v", got)
	}
}

func TestUnreadable403IsARefusal(t *testing.T) {
	resp := func(status int, code string) error {
		return &smithy.OperationError{ServiceID: "IAM", OperationName: "DeleteRole", Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
				Err: &smithy.GenericAPIError{Code: code}}}}
	}
	if !isAuthorizationError(resp(403, "UnknownError")) {
		t.Error("an unreadable 403 is not taken as a refusal")
	}
	if !strings.Contains(withPermissionHint(resp(403, "UnknownError")).Error(), "missing IAM permission iam:DeleteRole") {
		t.Error("no hint for an unreadable 403")
	}
	if isAuthorizationError(resp(403, "ExpiredToken")) || isAuthorizationError(resp(500, "UnknownError")) {
		t.Error("an expired token or a server error taken as a refusal")
	}
}
