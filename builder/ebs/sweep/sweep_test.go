package sweep

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// fakeEC2 holds tagged resources per build and records deletions in order.
type fakeEC2 struct {
	t         *testing.T
	instances []types.Instance
	groups    []types.SecurityGroup
	keys      []types.KeyPairInfo
	templates []types.LaunchTemplate // see spot_test.go
	fleets    []types.FleetData
	calls     []string
	// imageSources overrides the instance an AMI was made from.
	imageSources  map[string]string
	failKeyDelete bool
	// products are AMIs of the account no journal names (finished builds'):
	// what a DescribeImages without IDs lists.
	products []types.Image
}

func tags(build string, created time.Time) []types.Tag {
	return []types.Tag{
		{Key: aws.String(bakery.TagBuildID), Value: aws.String(build)},
		{Key: aws.String(bakery.TagCreatedAt), Value: aws.String(created.UTC().Format(time.RFC3339))},
	}
}

func (f *fakeEC2) add(build string, created time.Time) {
	f.instances = append(f.instances, types.Instance{InstanceId: aws.String("i-" + build), Tags: tags(build, created),
		LaunchTime: aws.Time(created), State: &types.InstanceState{Name: types.InstanceStateNameRunning}})
	f.groups = append(f.groups, types.SecurityGroup{GroupId: aws.String("sg-" + build), Tags: tags(build, created)})
	f.keys = append(f.keys, types.KeyPairInfo{KeyName: aws.String("key-" + build), Tags: tags(build, created), CreateTime: aws.Time(created)})
}

func (f *fakeEC2) wantTagFilter(filters []types.Filter) {
	for _, flt := range filters {
		if aws.ToString(flt.Name) == "tag-key" && len(flt.Values) == 1 && flt.Values[0] == bakery.TagBuildID {
			return
		}
	}
	f.t.Errorf("listed without the tag-key %s filter: untagged resources could be swept", bakery.TagBuildID)
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if len(in.InstanceIds) == 0 {
		f.wantTagFilter(in.Filters)
	}
	var out []types.Instance
	for _, i := range f.instances {
		if len(in.InstanceIds) == 0 || in.InstanceIds[0] == *i.InstanceId {
			out = append(out, i)
		}
	}
	return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: out}}}, nil
}

func (f *fakeEC2) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	for _, id := range in.InstanceIds {
		f.calls = append(f.calls, "terminate "+id)
		for k := range f.instances {
			if *f.instances[k].InstanceId == id {
				f.instances[k].State = &types.InstanceState{Name: types.InstanceStateNameTerminated}
			}
		}
	}
	return &ec2.TerminateInstancesOutput{}, nil
}

func (f *fakeEC2) DescribeSecurityGroups(_ context.Context, in *ec2.DescribeSecurityGroupsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	f.wantTagFilter(in.Filters)
	return &ec2.DescribeSecurityGroupsOutput{SecurityGroups: f.groups}, nil
}

func (f *fakeEC2) DeleteSecurityGroup(_ context.Context, in *ec2.DeleteSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error) {
	f.calls = append(f.calls, "delete "+*in.GroupId)
	return &ec2.DeleteSecurityGroupOutput{}, nil
}

func (f *fakeEC2) DescribeKeyPairs(_ context.Context, in *ec2.DescribeKeyPairsInput, _ ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error) {
	f.wantTagFilter(in.Filters)
	return &ec2.DescribeKeyPairsOutput{KeyPairs: f.keys}, nil
}

func (f *fakeEC2) DeleteKeyPair(_ context.Context, in *ec2.DeleteKeyPairInput, _ ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error) {
	f.calls = append(f.calls, "delete "+*in.KeyName)
	if f.failKeyDelete {
		return nil, errors.New("UnauthorizedOperation: not allowed")
	}
	return &ec2.DeleteKeyPairOutput{}, nil
}

func (f *fakeEC2) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	if len(in.ImageIds) == 0 {
		return &ec2.DescribeImagesOutput{Images: f.products}, nil
	}
	// Made from the instance of the same suffix (ami-dead from i-dead).
	source, ok := f.imageSources[in.ImageIds[0]]
	if !ok {
		source = "i-" + strings.TrimPrefix(in.ImageIds[0], "ami-")
	}
	return &ec2.DescribeImagesOutput{Images: []types.Image{{ImageId: aws.String(in.ImageIds[0]),
		SourceInstanceId:    aws.String(source),
		BlockDeviceMappings: []types.BlockDeviceMapping{{Ebs: &types.EbsBlockDevice{SnapshotId: aws.String("snap-" + in.ImageIds[0])}}}}}}, nil
}

func (f *fakeEC2) DeregisterImage(_ context.Context, in *ec2.DeregisterImageInput, _ ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error) {
	f.calls = append(f.calls, "deregister "+*in.ImageId)
	return &ec2.DeregisterImageOutput{}, nil
}

func (f *fakeEC2) DeleteSnapshot(_ context.Context, in *ec2.DeleteSnapshotInput, _ ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error) {
	f.calls = append(f.calls, "delete "+*in.SnapshotId)
	return &ec2.DeleteSnapshotOutput{}, nil
}

func TestSweep(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	alive := journal.Local(os.Getpid())
	alive.BuildID, alive.Resources = "live", []journal.Resource{{Kind: "image", ID: "ami-live", Region: "us-east-1", Source: "i-live"}}
	dead := journal.Local(0) // no such process
	dead.BuildID, dead.Resources = "dead", []journal.Resource{{Kind: "image", ID: "ami-dead", Region: "us-east-1", Source: "i-dead"}}
	tests := []struct {
		name      string
		opts      Options
		wantCalls []string
		wantOut   []string
	}{
		{
			name: "dead builds go, live and young ones stay",
			opts: Options{OlderThan: time.Hour},
			wantCalls: []string{
				"terminate i-dead", "delete sg-dead", "delete key-dead", "deregister ami-dead", "delete snap-ami-dead",
				"terminate i-old", "delete sg-old", "delete key-old",
			},
			wantOut: []string{"build live: still running", "build young: no journal here and only 10m0s old", "build dead: dead"},
		},
		{
			name:      "dry run removes nothing",
			opts:      Options{OlderThan: time.Hour, DryRun: true},
			wantCalls: nil,
			wantOut:   []string{"build dead: dead", "would be removed (dry run)", "i-old"},
		},
		{
			name:      "one build only",
			opts:      Options{OlderThan: time.Hour, BuildID: "old"},
			wantCalls: []string{"terminate i-old", "delete sg-old", "delete key-old"},
		},
		{
			name:      "a live build is never swept, whatever its age",
			opts:      Options{OlderThan: 0, BuildID: "live"},
			wantCalls: nil,
			wantOut:   []string{"still running"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(journal.EnvDir, t.TempDir())
			f := &fakeEC2{t: t}
			f.add("dead", now.Add(-5*time.Minute))
			f.add("live", now.Add(-48*time.Hour))
			f.add("old", now.Add(-2*time.Hour))
			f.add("young", now.Add(-10*time.Minute))
			tc.opts.Regions = []string{"us-east-1"}
			tc.opts.Now = func() time.Time { return now }
			tc.opts.Poll = bakery.Poll{Interval: time.Millisecond}
			var out bytes.Buffer
			err := Run(t.Context(), &out, func(string) EC2 { return f }, []journal.Entry{alive, dead}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(f.calls, ", ") != strings.Join(tc.wantCalls, ", ") {
				t.Errorf("calls:\n  %v\nwant\n  %v", f.calls, tc.wantCalls)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func sweepOnce(t *testing.T, f *fakeEC2, journals []journal.Entry, opts Options) (string, error) {
	t.Helper()
	if opts.Regions == nil {
		opts.Regions = []string{"us-east-1"}
	}
	opts.Poll = bakery.Poll{Interval: time.Millisecond}
	var out bytes.Buffer
	err := Run(t.Context(), &out, func(string) EC2 { return f }, journals, opts)
	t.Logf("sweep output:\n%s", out.String())
	return out.String(), err
}

// TestSweepAgeComesFromAWSNotTags: anyone who may tag resources could
// backdate bakery:created-at and have a running build swept.
func TestSweepAgeComesFromAWSNotTags(t *testing.T) {
	t.Setenv(journal.EnvDir, t.TempDir())
	now := time.Now()
	f := &fakeEC2{t: t}
	f.add("running-elsewhere", now.Add(-10*time.Minute))
	for _, tagged := range [][]types.Tag{f.instances[0].Tags, f.groups[0].Tags, f.keys[0].Tags} {
		tagged[1].Value = aws.String(now.Add(-48 * time.Hour).UTC().Format(time.RFC3339)) // the spoofed created-at
	}
	out, err := sweepOnce(t, f, nil, Options{OlderThan: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 0 {
		t.Errorf("a 10-minute-old build with backdated tags was swept: %v", f.calls)
	}
	if !strings.Contains(out, "only 10m0s old") {
		t.Error("the verdict does not give the age AWS reports")
	}
}

// TestSweepRemovesOnlyImagesStillOurs: an AMI named in a dead build's
// journal goes only while AWS shows it made from the build's instance,
// and one a build kept with -on-error=abort only when asked by --build-id.
func TestSweepRemovesOnlyImagesStillOurs(t *testing.T) {
	dead := func(id string, res ...journal.Resource) journal.Entry {
		e := journal.Local(0)
		e.BuildID, e.Resources = id, res
		return e
	}
	kept := dead("kept", journal.Resource{Kind: "image", ID: "ami-kept", Region: "us-east-1", Source: "i-kept"})
	kept.OnError = "abort"
	journals := []journal.Entry{
		dead("adopted", journal.Resource{Kind: "image", ID: "ami-theirs", Region: "us-east-1", Source: "i-adopted"}),
		dead("old-journal", journal.Resource{Kind: "image", ID: "ami-unknown", Region: "us-east-1"}),
		dead("copied", journal.Resource{Kind: "image", ID: "ami-copy", Region: "us-east-1", Source: "ami-src"}),
		kept,
	}
	for _, tc := range []struct {
		name      string
		buildID   string
		wantCalls []string
		wantOut   []string
	}{
		{"a sweep of all builds", "", []string{"deregister ami-copy", "delete snap-ami-copy"}, []string{
			`AMI ami-theirs left alone: AWS shows it made from "i-someone-else"`,
			"AMI ami-unknown left alone: its journal does not say what it was made from",
			"AMI ami-kept left alone: the build ran with -on-error=abort",
		}},
		{"the kept build named", "kept", []string{"deregister ami-kept", "delete snap-ami-kept"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(journal.EnvDir, t.TempDir())
			f := &fakeEC2{t: t, imageSources: map[string]string{"ami-theirs": "i-someone-else"}}
			out, err := sweepOnce(t, f, journals, Options{OlderThan: time.Hour, BuildID: tc.buildID})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(f.calls, ", ") != strings.Join(tc.wantCalls, ", ") {
				t.Errorf("calls %v, want %v", f.calls, tc.wantCalls)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
		})
	}
}

func TestSweepSaysRemovedOnlyAfterSuccess(t *testing.T) {
	t.Setenv(journal.EnvDir, t.TempDir())
	now := time.Now()
	f := &fakeEC2{t: t, failKeyDelete: true}
	f.add("old", now.Add(-5*time.Hour))
	out, err := sweepOnce(t, f, nil, Options{OlderThan: time.Hour, Now: func() time.Time { return now }})
	if err == nil || !strings.Contains(err.Error(), "key pair key-old") {
		t.Errorf("error %v, want the key pair named", err)
	}
	if strings.Contains(out, "removed key-pair key-old") {
		t.Error("says it removed the key pair it failed to delete")
	}
	if !strings.Contains(out, "removed security-group sg-old") {
		t.Error("does not say it removed the security group")
	}
}

// TestSweepOfSomeRegionsKeepsTheOthersJournal: a build that copied its
// AMI to eu-west-1 keeps that entry after a sweep of us-east-1.
func TestSweepOfSomeRegionsKeepsTheOthersJournal(t *testing.T) {
	t.Setenv(journal.EnvDir, t.TempDir())
	j, err := journal.Open("multi", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Record("key-pair", "key-multi", "")
	_ = j.RecordImage("ami-eu", "eu-west-1", "ami-multi")
	entries, err := journal.ReadAll(nil)
	if err != nil || len(entries) != 1 {
		t.Fatalf("%v %v", entries, err)
	}
	e := entries[0]
	e.PID, e.ProcStart = 0, "" // as if its process were gone
	f := &fakeEC2{t: t}
	f.keys = append(f.keys, types.KeyPairInfo{KeyName: aws.String("key-multi"), Tags: tags("multi", time.Now()), CreateTime: aws.Time(time.Now())})
	if _, err := sweepOnce(t, f, []journal.Entry{e}, Options{OlderThan: time.Hour}); err != nil {
		t.Fatal(err)
	}
	left, err := journal.ReadAll(nil)
	if err != nil || len(left) != 1 || len(left[0].Resources) != 1 || left[0].Resources[0].ID != "ami-eu" {
		t.Errorf("journal after a us-east-1 sweep: %+v (%v), want only eu-west-1's AMI", left, err)
	}
}

// A finished build's AMI and snapshots carry bakery:principal (the policy
// removes only images and snapshots made in its holder's name), but no
// build id: the sweep finds leftovers by the build id and AMIs only through
// journals, so a product AMI is never taken for a dead build's, even when
// that build left temporaries behind.
func TestSweepNeverTakesAProductForALeftover(t *testing.T) {
	t.Setenv(journal.EnvDir, t.TempDir())
	now := time.Now()
	f := &fakeEC2{t: t, products: []types.Image{{ImageId: aws.String("ami-product"), SourceInstanceId: aws.String("i-dead"),
		Tags:                []types.Tag{{Key: aws.String(bakery.TagPrincipal), Value: aws.String("arn:aws:iam::123456789012:role/ci")}, {Key: aws.String("Name"), Value: aws.String("web")}},
		BlockDeviceMappings: []types.BlockDeviceMapping{{Ebs: &types.EbsBlockDevice{SnapshotId: aws.String("snap-product")}}}}}}
	f.add("dead", now.Add(-48*time.Hour)) // its instance, group and key pair are left; its AMI was handed over
	dead := journal.Local(0)
	dead.BuildID = "dead"
	out, err := sweepOnce(t, f, []journal.Entry{dead}, Options{OlderThan: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.calls {
		if strings.Contains(c, "product") {
			t.Errorf("the sweep removed the finished build's AMI: %v\n%s", f.calls, out)
		}
	}
	if !strings.Contains(strings.Join(f.calls, ","), "terminate i-dead") {
		t.Errorf("the dead build's leftovers were not swept (the test would prove nothing): %v", f.calls)
	}
}
