package sweep

import (
	"bytes"
	"context"
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
}

func tags(build string, created time.Time) []types.Tag {
	return []types.Tag{
		{Key: aws.String(bakery.TagBuildID), Value: aws.String(build)},
		{Key: aws.String(bakery.TagCreatedAt), Value: aws.String(created.UTC().Format(time.RFC3339))},
	}
}

func (f *fakeEC2) add(build string, created time.Time) {
	f.instances = append(f.instances, types.Instance{InstanceId: aws.String("i-" + build), Tags: tags(build, created),
		State: &types.InstanceState{Name: types.InstanceStateNameRunning}})
	f.groups = append(f.groups, types.SecurityGroup{GroupId: aws.String("sg-" + build), Tags: tags(build, created)})
	f.keys = append(f.keys, types.KeyPairInfo{KeyName: aws.String("key-" + build), Tags: tags(build, created)})
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
	return &ec2.DeleteKeyPairOutput{}, nil
}

func (f *fakeEC2) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	return &ec2.DescribeImagesOutput{Images: []types.Image{{ImageId: aws.String(in.ImageIds[0]),
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
	host, _ := os.Hostname()
	alive := journal.Entry{BuildID: "live", Host: host, PID: os.Getpid(),
		Resources: []journal.Resource{{Kind: "image", ID: "ami-live", Region: "us-east-1"}}}
	dead := journal.Entry{BuildID: "dead", Host: host, PID: 0,
		Resources: []journal.Resource{{Kind: "image", ID: "ami-dead", Region: "us-east-1"}}}
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
