package retire

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

var now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// fakeEC2 answers one page of pageSize items per call, as EC2 does with
// MaxResults, so a caller that reads only the first page misses the rest.
type fakeEC2 struct {
	pageSize   int
	images     []types.Image
	instances  []types.Instance
	versions   []types.LaunchTemplateVersion
	instErr    error
	deregister []string
	deleted    []string
	deprecated map[string]time.Time
	imageCalls []*ec2.DescribeImagesInput
	// refuse makes these actions answer UnauthorizedOperation, dry run or
	// not, as EC2 does without the permission.
	refuse  map[string]bool
	dryRuns int
}

// answer is EC2's answer to a call that changes something: refused,
// DryRunOperation for an allowed dry run, or nil to go ahead.
func (f *fakeEC2) answer(action string, dryRun *bool) error {
	if f.refuse[action] {
		return &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation."}
	}
	if aws.ToBool(dryRun) {
		f.dryRuns++
		return &smithy.GenericAPIError{Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set."}
	}
	return nil
}

func page[T any](items []T, token *string, size int) ([]T, *string) {
	start := 0
	if token != nil {
		start, _ = strconv.Atoi(*token)
	}
	end := min(start+size, len(items))
	var next *string
	if end < len(items) {
		next = aws.String(strconv.Itoa(end))
	}
	return items[start:end], next
}

func (f *fakeEC2) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	f.imageCalls = append(f.imageCalls, in)
	var live []types.Image
	for _, img := range f.images {
		if !slices.Contains(f.deregister, aws.ToString(img.ImageId)) {
			live = append(live, img)
		}
	}
	items, next := page(live, in.NextToken, f.pageSize)
	return &ec2.DescribeImagesOutput{Images: items, NextToken: next}, nil
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if f.instErr != nil {
		return nil, f.instErr
	}
	items, next := page(f.instances, in.NextToken, f.pageSize)
	var res []types.Reservation
	for _, i := range items {
		res = append(res, types.Reservation{Instances: []types.Instance{i}})
	}
	return &ec2.DescribeInstancesOutput{Reservations: res, NextToken: next}, nil
}

func (f *fakeEC2) DescribeLaunchTemplateVersions(_ context.Context, in *ec2.DescribeLaunchTemplateVersionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
	if !slices.Equal(in.Versions, []string{"$Latest", "$Default"}) || in.LaunchTemplateId != nil {
		return nil, fmt.Errorf("DescribeLaunchTemplateVersions %v %v: want $Latest and $Default of every template", in.Versions, in.LaunchTemplateId)
	}
	items, next := page(f.versions, in.NextToken, f.pageSize)
	return &ec2.DescribeLaunchTemplateVersionsOutput{LaunchTemplateVersions: items, NextToken: next}, nil
}

func (f *fakeEC2) DeregisterImage(_ context.Context, in *ec2.DeregisterImageInput, _ ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error) {
	if err := f.answer("DeregisterImage", in.DryRun); err != nil {
		return nil, err
	}
	f.deregister = append(f.deregister, aws.ToString(in.ImageId))
	return &ec2.DeregisterImageOutput{}, nil
}

func (f *fakeEC2) DeleteSnapshot(_ context.Context, in *ec2.DeleteSnapshotInput, _ ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error) {
	if err := f.answer("DeleteSnapshot", in.DryRun); err != nil {
		return nil, err
	}
	f.deleted = append(f.deleted, aws.ToString(in.SnapshotId))
	return &ec2.DeleteSnapshotOutput{}, nil
}

func (f *fakeEC2) EnableImageDeprecation(_ context.Context, in *ec2.EnableImageDeprecationInput, _ ...func(*ec2.Options)) (*ec2.EnableImageDeprecationOutput, error) {
	if err := f.answer("EnableImageDeprecation", in.DryRun); err != nil {
		return nil, err
	}
	if f.deprecated == nil {
		f.deprecated = map[string]time.Time{}
	}
	f.deprecated[aws.ToString(in.ImageId)] = aws.ToTime(in.DeprecateAt)
	return &ec2.EnableImageDeprecationOutput{}, nil
}

type fakeSSM map[string]string

func (f fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	v, ok := f[aws.ToString(in.Name)]
	if !ok {
		return nil, &ssmtypes.ParameterNotFound{}
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String(v)}}, nil
}

// family returns n AMIs, ami-…01 the oldest, one a day, each with one
// snapshot snap-…NN; the last is the new one.
func family(n int) []types.Image {
	var out []types.Image
	for i := 1; i <= n; i++ {
		out = append(out, types.Image{
			ImageId:             aws.String(fmt.Sprintf("ami-%017d", i)),
			Name:                aws.String(fmt.Sprintf("app-%d", i)),
			State:               types.ImageStateAvailable,
			CreationDate:        aws.String(now.AddDate(0, 0, i-n).Format(time.RFC3339)),
			BlockDeviceMappings: []types.BlockDeviceMapping{{Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(fmt.Sprintf("snap-%017d", i))}}},
		})
	}
	return out
}

func ami(i int) string  { return fmt.Sprintf("ami-%017d", i) }
func snap(i int) string { return fmt.Sprintf("snap-%017d", i) }

func run(t *testing.T, f *fakeEC2, s fakeSSM, cfg Config, newAMI string) (string, error) {
	t.Helper()
	var said []string
	r := retirer{ec2: f, ssm: s, region: "us-east-1", cfg: &cfg, say: func(m string) { said = append(said, m) }, now: now}
	err := r.run(context.Background(), newAMI)
	return strings.Join(said, "\n"), err
}

func TestRetireKeepsNewestAcrossPages(t *testing.T) {
	f := &fakeEC2{pageSize: 2, images: family(7)}
	out, err := run(t, f, nil, Config{NamePattern: "app-*", KeepReleases: 3}, ami(7))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{ami(4), ami(3), ami(2), ami(1)}; !slices.Equal(f.deregister, want) {
		t.Errorf("deregistered %v, want %v (the oldest four of seven, over four pages)\n%s", f.deregister, want, out)
	}
	if want := []string{snap(4), snap(3), snap(2), snap(1)}; !slices.Equal(f.deleted, want) {
		t.Errorf("deleted snapshots %v, want %v", f.deleted, want)
	}
	in := f.imageCalls[0]
	if !slices.Equal(in.Owners, []string{"self"}) || len(in.Filters) != 1 || aws.ToString(in.Filters[0].Name) != "name" {
		t.Errorf("DescribeImages asked for owners %v filters %v; want the account's own AMIs by name", in.Owners, in.Filters)
	}
}

func TestRetireNeverRemovesWhatIsUsed(t *testing.T) {
	f := &fakeEC2{pageSize: 1, images: family(6),
		instances: []types.Instance{
			{InstanceId: aws.String("i-stopped"), ImageId: aws.String(ami(1)), State: &types.InstanceState{Name: types.InstanceStateNameStopped}},
			{InstanceId: aws.String("i-gone"), ImageId: aws.String(ami(2)), State: &types.InstanceState{Name: types.InstanceStateNameTerminated}},
		},
		versions: []types.LaunchTemplateVersion{
			{LaunchTemplateId: aws.String("lt-1"), LaunchTemplateName: aws.String("web"), VersionNumber: aws.Int64(3), LaunchTemplateData: &types.ResponseLaunchTemplateData{ImageId: aws.String(ami(3))}},
			{LaunchTemplateId: aws.String("lt-2"), LaunchTemplateName: aws.String("api"), VersionNumber: aws.Int64(1), LaunchTemplateData: &types.ResponseLaunchTemplateData{ImageId: aws.String("resolve:ssm:/app/stable")}},
		},
	}
	f.versions = append(f.versions, f.versions[0]) // $Latest and $Default: one version, listed twice
	out, err := run(t, f, fakeSSM{"/app/stable": ami(4)}, Config{Tags: map[string]string{"Family": "app"}, KeepReleases: 1}, ami(6))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{ami(5), ami(2)}; !slices.Equal(f.deregister, want) {
		t.Errorf("deregistered %v, want %v: not the one a stopped instance, a launch template or an SSM-resolved launch template uses\n%s", f.deregister, want, out)
	}
	for _, want := range []string{"used by instance i-stopped", "used by launch template lt-1 (web) version 3\n", "used by launch template lt-2 (api) version 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRetireDryRunChangesNothing(t *testing.T) {
	for _, deprecate := range []bool{false, true} {
		f := &fakeEC2{pageSize: 10, images: family(4)}
		out, err := run(t, f, nil, Config{NamePattern: "app-*", KeepReleases: 2, DryRun: true, Deprecate: deprecate}, ami(4))
		if err != nil {
			t.Fatal(err)
		}
		if len(f.deregister)+len(f.deleted)+len(f.deprecated) != 0 {
			t.Errorf("dry run changed things: deregistered %v, deleted %v, deprecated %v", f.deregister, f.deleted, f.deprecated)
		}
		if !strings.Contains(out, "would") || !strings.Contains(out, ami(1)) || !strings.Contains(out, ami(2)) {
			t.Errorf("dry run does not list what would go:\n%s", out)
		}
	}
}

func TestRetireKeepDays(t *testing.T) {
	f := &fakeEC2{pageSize: 10, images: family(6)} // ages 5..0 days
	if _, err := run(t, f, nil, Config{NamePattern: "app-*", KeepDays: 3}, ami(6)); err != nil {
		t.Fatal(err)
	}
	if want := []string{ami(3), ami(2), ami(1)}; !slices.Equal(f.deregister, want) {
		t.Errorf("deregistered %v, want %v (3 days old or more)", f.deregister, want)
	}
}

func TestRetireKeepsUnlessBothAllow(t *testing.T) {
	f := &fakeEC2{pageSize: 10, images: family(6)}
	if _, err := run(t, f, nil, Config{NamePattern: "app-*", KeepDays: 3, KeepReleases: 5}, ami(6)); err != nil {
		t.Fatal(err)
	}
	if want := []string{ami(1)}; !slices.Equal(f.deregister, want) {
		t.Errorf("deregistered %v, want %v", f.deregister, want)
	}
}

func TestRetireDeprecateInstead(t *testing.T) {
	imgs := family(4)
	imgs[0].DeprecationTime = aws.String(now.Add(-time.Hour).Format(time.RFC3339)) // ami 1: already deprecated
	f := &fakeEC2{pageSize: 10, images: imgs}
	if _, err := run(t, f, nil, Config{NamePattern: "app-*", KeepReleases: 2, Deprecate: true}, ami(4)); err != nil {
		t.Fatal(err)
	}
	if len(f.deregister)+len(f.deleted) != 0 || len(f.deprecated) != 1 {
		t.Fatalf("deregistered %v, deleted %v, deprecated %v; want ami 2 deprecated only", f.deregister, f.deleted, f.deprecated)
	}
	at, ok := f.deprecated[ami(2)]
	if !ok || !at.After(now) {
		t.Errorf("ami 2 deprecated at %v (ok %v); want a time after now (EC2 refuses the past)", at, ok)
	}
}

func TestRetireRefusesFamilyWithoutNewAMI(t *testing.T) {
	f := &fakeEC2{pageSize: 10, images: family(4)}
	_, err := run(t, f, nil, Config{NamePattern: "other-*", KeepReleases: 1}, "ami-0000000000000000f")
	if err == nil || !strings.Contains(err.Error(), "does not select the new AMI") {
		t.Fatalf("err = %v; want a refusal", err)
	}
	if len(f.deregister) != 0 {
		t.Errorf("deregistered %v", f.deregister)
	}
}

func TestRetireNothingWhenUseUnknown(t *testing.T) {
	f := &fakeEC2{pageSize: 10, images: family(4), instErr: errors.New("UnauthorizedOperation")}
	_, err := run(t, f, nil, Config{NamePattern: "app-*", KeepReleases: 1}, ami(4))
	if err == nil || !strings.Contains(err.Error(), "nothing retired") {
		t.Fatalf("err = %v", err)
	}
	if len(f.deregister) != 0 {
		t.Errorf("deregistered %v without knowing what is in use", f.deregister)
	}
}

func TestRetireKeepsPending(t *testing.T) {
	imgs := family(3)
	imgs[0].State = types.ImageStatePending
	f := &fakeEC2{pageSize: 10, images: imgs}
	if _, err := run(t, f, nil, Config{NamePattern: "app-*", KeepReleases: 1}, ami(3)); err != nil {
		t.Fatal(err)
	}
	if want := []string{ami(2)}; !slices.Equal(f.deregister, want) {
		t.Errorf("deregistered %v, want %v (a pending AMI may be another build's)", f.deregister, want)
	}
}

func TestConfigPrepare(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  map[string]interface{}
		want string
	}{
		{"name and count", map[string]interface{}{"name_pattern": "app-*", "keep_releases": 3}, ""},
		{"tags and days", map[string]interface{}{"tags": map[string]string{"Family": "app"}, "keep_days": 30}, ""},
		{"no family", map[string]interface{}{"keep_releases": 3}, "set `name_pattern`, `tags` or both"},
		{"everything", map[string]interface{}{"name_pattern": "*", "keep_releases": 3}, "matches every name"},
		{"nothing kept", map[string]interface{}{"name_pattern": "app-*"}, "set `keep_releases`, `keep_days` or both"},
		{"negative", map[string]interface{}{"name_pattern": "app-*", "keep_releases": -1}, "cannot be negative"},
		{"empty tag value", map[string]interface{}{"tags": map[string]string{"Family": ""}, "keep_days": 1}, "give each tag a key and a value"},
		{"regions twice", map[string]interface{}{"name_pattern": "a-*", "keep_days": 1, "regions": []string{"us-east-1", "us-east-1"}}, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := c.Prepare(tc.raw)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v; want %q", err, tc.want)
			}
		})
	}
}

// A missing permission stops the retirement before anything changes:
// without ec2:DeleteSnapshot, no AMI is deregistered (which would leave
// its snapshots behind), and the error names the action.
func TestRetireChecksPermissionsFirst(t *testing.T) {
	for _, missing := range []string{"DeleteSnapshot", "DeregisterImage"} {
		f := &fakeEC2{pageSize: 10, images: family(4), refuse: map[string]bool{missing: true}}
		_, err := run(t, f, nil, Config{NamePattern: "app-*", KeepReleases: 1}, ami(4))
		if err == nil || !strings.Contains(err.Error(), "ec2:"+missing) || !strings.Contains(err.Error(), "nothing retired") {
			t.Errorf("without %s: err = %v; want one naming ec2:%s", missing, err, missing)
		}
		if len(f.deregister)+len(f.deleted) != 0 {
			t.Errorf("without %s: deregistered %v, deleted %v", missing, f.deregister, f.deleted)
		}
	}
	f := &fakeEC2{pageSize: 10, images: family(4), refuse: map[string]bool{"EnableImageDeprecation": true}}
	if _, err := run(t, f, nil, Config{NamePattern: "app-*", KeepReleases: 1, Deprecate: true}, ami(4)); err == nil || !strings.Contains(err.Error(), "ec2:EnableImageDeprecation") {
		t.Errorf("deprecate without the permission: err = %v", err)
	}
}

// Every region is planned and checked before any is changed.
func TestPostProcessChecksEveryRegionFirst(t *testing.T) {
	east := &fakeEC2{pageSize: 10, images: family(3)}
	west := &fakeEC2{pageSize: 10, images: family(3), refuse: map[string]bool{"DeregisterImage": true}}
	p := &PostProcessor{config: Config{NamePattern: "app-*", KeepReleases: 1},
		clients: func(r string) (imageRetirer, parameterReader) {
			if r == "us-east-1" {
				return east, nil
			}
			return west, nil
		},
		now: func() time.Time { return now }}
	art := &packersdk.MockArtifact{IdValue: "us-east-1:" + ami(3) + ",us-west-2:" + ami(3)}
	_, _, _, err := p.PostProcess(context.Background(), packersdk.TestUi(t), art)
	if err == nil || !strings.Contains(err.Error(), "us-west-2: ec2:DeregisterImage") {
		t.Fatalf("err = %v; want the west region's refusal", err)
	}
	if len(east.deregister) != 0 {
		t.Errorf("us-east-1 was retired (%v) although us-west-2 could not be", east.deregister)
	}
	if east.dryRuns == 0 {
		t.Errorf("us-east-1 was not checked")
	}
}
