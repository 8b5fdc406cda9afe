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
	"github.com/aws/smithy-go"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// addSpot gives build a launch template and an active fleet.
func (f *fakeEC2) addSpot(build string, created time.Time) {
	f.templates = append(f.templates, types.LaunchTemplate{LaunchTemplateId: aws.String("lt-" + build), Tags: tags(build, created), CreateTime: aws.Time(created)})
	f.fleets = append(f.fleets, types.FleetData{FleetId: aws.String("fleet-" + build), Tags: tags(build, created), CreateTime: aws.Time(created), FleetState: types.FleetStateCodeActive})
}

func (f *fakeEC2) DescribeLaunchTemplates(_ context.Context, in *ec2.DescribeLaunchTemplatesInput, _ ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error) {
	f.wantTagFilter(in.Filters)
	var out []types.LaunchTemplate
	for _, lt := range f.templates {
		if tag(lt.Tags, bakery.TagBuildID) != "" { // what EC2's tag-key filter does
			out = append(out, lt)
		}
	}
	return &ec2.DescribeLaunchTemplatesOutput{LaunchTemplates: out}, nil
}

func (f *fakeEC2) DeleteLaunchTemplate(_ context.Context, in *ec2.DeleteLaunchTemplateInput, _ ...func(*ec2.Options)) (*ec2.DeleteLaunchTemplateOutput, error) {
	f.calls = append(f.calls, "delete "+aws.ToString(in.LaunchTemplateId))
	return &ec2.DeleteLaunchTemplateOutput{}, nil
}

// DescribeFleets answers page by page, one fleet a page, as EC2 may.
func (f *fakeEC2) DescribeFleets(_ context.Context, in *ec2.DescribeFleetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeFleetsOutput, error) {
	i := 0
	if in.NextToken != nil {
		for k, fl := range f.fleets {
			if aws.ToString(fl.FleetId) == *in.NextToken {
				i = k
			}
		}
	}
	if i >= len(f.fleets) {
		return &ec2.DescribeFleetsOutput{}, nil
	}
	out := &ec2.DescribeFleetsOutput{Fleets: f.fleets[i : i+1]}
	if i+1 < len(f.fleets) {
		out.NextToken = f.fleets[i+1].FleetId
	}
	return out, nil
}

func (f *fakeEC2) DeleteFleets(_ context.Context, in *ec2.DeleteFleetsInput, _ ...func(*ec2.Options)) (*ec2.DeleteFleetsOutput, error) {
	if !aws.ToBool(in.TerminateInstances) {
		f.t.Errorf("DeleteFleets %v without TerminateInstances: EC2 refuses that for instant fleets", in.FleetIds)
	}
	for _, id := range in.FleetIds {
		f.calls = append(f.calls, "delete "+id)
	}
	return &ec2.DeleteFleetsOutput{}, nil
}

func TestSweepSpotBuilds(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	t.Setenv(journal.EnvDir, t.TempDir())
	f := &fakeEC2{t: t}
	f.add("dead", now.Add(-5*time.Minute))
	f.addSpot("dead", now.Add(-5*time.Minute))
	f.add("live", now.Add(-48*time.Hour))
	f.addSpot("live", now.Add(-48*time.Hour))
	// Not a bakery build's: never swept, however old.
	f.templates = append(f.templates, types.LaunchTemplate{LaunchTemplateId: aws.String("lt-someone")})
	f.fleets = append(f.fleets, types.FleetData{FleetId: aws.String("fleet-someone"), FleetState: types.FleetStateCodeActive,
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("x")}}})
	// Deleted already: EC2 lists deleted fleets for a while.
	f.fleets = append(f.fleets, types.FleetData{FleetId: aws.String("fleet-gone"), Tags: tags("dead", now), FleetState: types.FleetStateCodeDeletedTerminatingInstances})
	journals := []journal.Entry{
		withID(journal.Local(os.Getpid()), "live"),
		withID(journal.Local(0), "dead"),
	}
	var out bytes.Buffer
	err := Run(t.Context(), &out, func(string) EC2 { return f }, journals, Options{
		Regions: []string{"us-east-1"}, OlderThan: time.Hour, Now: func() time.Time { return now }, Poll: bakery.Poll{Interval: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "delete fleet-dead, terminate i-dead, delete sg-dead, delete key-dead, delete lt-dead"
	if got := strings.Join(f.calls, ", "); got != want {
		t.Errorf("calls:\n  %s\nwant\n  %s", got, want)
	}
	for _, w := range []string{"launch-template lt-dead", "fleet fleet-dead", "launch-template lt-live", "fleet fleet-live", "build live: still running"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	for _, never := range []string{"someone", "fleet-gone"} {
		if strings.Contains(out.String(), never) {
			t.Errorf("output lists %s, which is not a live bakery resource:\n%s", never, out.String())
		}
	}
}

type failingSpot struct {
	*fakeEC2
	deleteFleets *ec2.DeleteFleetsOutput
	deleteLTErr  error
}

func (f failingSpot) DeleteFleets(ctx context.Context, in *ec2.DeleteFleetsInput, o ...func(*ec2.Options)) (*ec2.DeleteFleetsOutput, error) {
	_, _ = f.fakeEC2.DeleteFleets(ctx, in, o...)
	return f.deleteFleets, nil
}

func (f failingSpot) DeleteLaunchTemplate(ctx context.Context, in *ec2.DeleteLaunchTemplateInput, o ...func(*ec2.Options)) (*ec2.DeleteLaunchTemplateOutput, error) {
	_, _ = f.fakeEC2.DeleteLaunchTemplate(ctx, in, o...)
	return nil, f.deleteLTErr
}

func TestSweepSpotFailuresAreReported(t *testing.T) {
	t.Setenv(journal.EnvDir, t.TempDir())
	now := time.Now()
	f := &fakeEC2{t: t}
	f.addSpot("old", now.Add(-5*time.Hour))
	c := failingSpot{fakeEC2: f,
		deleteFleets: &ec2.DeleteFleetsOutput{UnsuccessfulFleetDeletions: []types.DeleteFleetErrorItem{{
			FleetId: aws.String("fleet-old"), Error: &types.DeleteFleetError{Code: types.DeleteFleetErrorCodeUnexpectedError, Message: aws.String("busy")}}}},
		deleteLTErr: &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "not allowed"},
	}
	var out bytes.Buffer
	err := Run(t.Context(), &out, func(string) EC2 { return c }, nil, Options{Regions: []string{"us-east-1"}, OlderThan: time.Hour, Poll: bakery.Poll{Interval: time.Millisecond}})
	if err == nil {
		t.Fatal("sweep succeeded although nothing could be deleted")
	}
	for _, w := range []string{"deleting EC2 Fleet fleet-old: unexpectedError: busy", "deleting launch template lt-old"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}

func withID(e journal.Entry, id string) journal.Entry {
	e.BuildID = id
	return e
}
