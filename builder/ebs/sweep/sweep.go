// Package sweep removes what killed bakery-ebs builds left behind: the
// instances, security groups, key pairs, launch templates and EC2 Fleets
// tagged with a build id whose build is no longer running. It never
// touches an untagged resource, and never a build the local journal shows
// alive.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// EC2 is what a sweep calls in each region.
type EC2 interface {
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(context.Context, *ec2.TerminateInstancesInput, ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DeleteSecurityGroup(context.Context, *ec2.DeleteSecurityGroupInput, ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error)
	DescribeKeyPairs(context.Context, *ec2.DescribeKeyPairsInput, ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error)
	DeleteKeyPair(context.Context, *ec2.DeleteKeyPairInput, ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error)
	DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	DeregisterImage(context.Context, *ec2.DeregisterImageInput, ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error)
	DeleteSnapshot(context.Context, *ec2.DeleteSnapshotInput, ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error)
	spotEC2
}

// Options say what to sweep.
type Options struct {
	Regions []string
	// OlderThan: a build with no journal on this machine (it ran
	// elsewhere, or its journal is gone) is swept only when its resources
	// are at least this old.
	OlderThan time.Duration
	BuildID   string // only this build; also the explicit ask to remove an AMI a build kept with -on-error=abort
	DryRun    bool   // list, delete nothing
	Poll      bakery.Poll
	Now       func() time.Time
}

// found is one tagged resource.
type found struct {
	kind                journal.Kind
	id, region, buildID string
	created             time.Time
}

// Run sweeps every region and writes what it finds and does to out. It
// returns an error when something could not be listed or deleted.
func Run(ctx context.Context, out io.Writer, client func(region string) EC2, journals []journal.Entry, opts Options) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	byID := map[string]journal.Entry{}
	for _, e := range journals {
		byID[e.BuildID] = e
	}
	var failures []string
	swept := map[string]bool{}
	for _, region := range opts.Regions {
		ec2c := client(region)
		resources, err := list(ctx, ec2c, region)
		if err != nil {
			return fmt.Errorf("%s: %w", region, err)
		}
		// A dead build's half-made AMI carries only the user's tags; its
		// journal knows it.
		images, notes := journalImages(ctx, ec2c, journals, region, opts)
		resources = append(resources, images...)
		for _, n := range notes {
			fmt.Fprintf(out, "%s %s\n", region, n)
		}
		builds := groupByBuild(resources)
		for _, id := range sortedKeys(builds) {
			if opts.BuildID != "" && id != opts.BuildID {
				continue
			}
			res := builds[id]
			verdict, sweepIt := decide(id, res, byID, opts)
			fmt.Fprintf(out, "%s build %s: %s\n", region, id, verdict)
			for _, r := range res {
				fmt.Fprintf(out, "  %s %s (created %s)\n", r.kind, r.id, r.created.Format(time.RFC3339))
			}
			if !sweepIt || opts.DryRun {
				continue
			}
			if errs := remove(ctx, out, ec2c, res, opts.Poll); len(errs) > 0 {
				failures = append(failures, errs...)
				continue
			}
			swept[id] = true
		}
	}
	for id := range swept {
		if _, ok := byID[id]; ok {
			// Only what this sweep covered: the regions it swept, not IAM.
			err := journal.ForgetWhere(id, func(r journal.Resource) bool {
				return slices.Contains(opts.Regions, r.Region) && r.Kind != journal.KindIAMRole && r.Kind != journal.KindIAMInstanceProfile
			})
			if err != nil {
				failures = append(failures, fmt.Sprintf("updating the journal of build %s: %v", id, err))
			}
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("sweep left things behind:\n  %s", strings.Join(failures, "\n  "))
	}
	return nil
}

// decide says whether a build's leftovers may go, and why.
func decide(id string, res []found, journals map[string]journal.Entry, opts Options) (string, bool) {
	if e, ok := journals[id]; ok {
		if e.Alive() {
			return fmt.Sprintf("still running (pid %d on %s): left alone", e.PID, e.Host), false
		}
		return fmt.Sprintf("dead (its journal shows pid %d on %s gone): %s", e.PID, e.Host, action(opts)), true
	}
	youngest := time.Time{}
	for _, r := range res {
		if r.created.After(youngest) {
			youngest = r.created
		}
	}
	if youngest.IsZero() {
		if opts.BuildID == id {
			return fmt.Sprintf("no journal here, age unknown (AWS reports no creation time), named by --build-id: %s", action(opts)), true
		}
		return "no journal here and AWS reports no creation time for its resources: left alone (name it with --build-id to remove it)", false
	}
	age := opts.Now().Sub(youngest)
	if age < opts.OlderThan {
		return fmt.Sprintf("no journal here and only %s old (--older-than %s): left alone", age.Round(time.Second), opts.OlderThan), false
	}
	return fmt.Sprintf("no journal here, %s old: %s", age.Round(time.Second), action(opts)), true
}

func action(opts Options) string {
	if opts.DryRun {
		return "would be removed (dry run)"
	}
	return "removing"
}

// list finds everything in region carrying the build-id tag that still
// costs or blocks something.
func list(ctx context.Context, c EC2, region string) ([]found, error) {
	tagged := []types.Filter{{Name: aws.String("tag-key"), Values: []string{bakery.TagBuildID}}}
	var out []found

	instances, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: append(tagged, types.Filter{
		Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"},
	})})
	if err != nil {
		return nil, fmt.Errorf("listing instances: %w", err)
	}
	for _, r := range instances.Reservations {
		for _, i := range r.Instances {
			out = append(out, found{journal.KindInstance, aws.ToString(i.InstanceId), region, tag(i.Tags, bakery.TagBuildID), created(i.Tags, aws.ToTime(i.LaunchTime))})
		}
	}
	groups, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: tagged})
	if err != nil {
		return nil, fmt.Errorf("listing security groups: %w", err)
	}
	for _, g := range groups.SecurityGroups {
		out = append(out, found{journal.KindSecurityGroup, aws.ToString(g.GroupId), region, tag(g.Tags, bakery.TagBuildID), created(g.Tags, time.Time{})})
	}
	keys, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: tagged})
	if err != nil {
		return nil, fmt.Errorf("listing key pairs: %w", err)
	}
	for _, k := range keys.KeyPairs {
		out = append(out, found{journal.KindKeyPair, aws.ToString(k.KeyName), region, tag(k.Tags, bakery.TagBuildID), created(k.Tags, aws.ToTime(k.CreateTime))})
	}
	spot, err := listSpot(ctx, c, region)
	if err != nil {
		return nil, err
	}
	return append(out, spot...), nil
}

// remove deletes a build's resources in the order AWS allows: fleets
// (with their instances) and instances first (their network interfaces hold
// the security group), then groups, key pairs and launch templates.
func remove(ctx context.Context, out io.Writer, c EC2, res []found, poll bakery.Poll) []string {
	say := func(s string) { fmt.Fprintln(out, "  "+s) }
	var failures []string
	var instances []string
	for _, r := range res {
		switch r.kind {
		case journal.KindInstance:
			instances = append(instances, r.id)
		case journal.KindFleet:
			// First: deleting an instant fleet terminates its instances.
			if err := removeSpot(ctx, c, r); err != nil {
				failures = append(failures, err.Error())
			}
		}
	}
	if len(instances) > 0 {
		if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: instances}); err != nil {
			return []string{fmt.Sprintf("terminating %v: %v", instances, err)}
		}
		err := bakery.Wait(ctx, say, "instances "+strings.Join(instances, ", ")+" to terminate", poll, func(ctx context.Context) (bool, string, error) {
			d, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: instances})
			if err != nil {
				return false, "", err
			}
			for _, r := range d.Reservations {
				for _, i := range r.Instances {
					if i.State != nil && i.State.Name != types.InstanceStateNameTerminated {
						return false, string(i.State.Name), nil
					}
				}
			}
			return true, "terminated", nil
		})
		if err != nil {
			return []string{err.Error()}
		}
	}
	for _, r := range res {
		var err error
		switch r.kind {
		case journal.KindImage:
			err = deleteImage(ctx, c, r.id)
		case journal.KindSecurityGroup:
			id := r.id
			err = bakery.Wait(ctx, say, "security group "+id+" to be deleted", poll, func(ctx context.Context) (bool, string, error) {
				_, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)})
				switch code(err) {
				case "", "InvalidGroup.NotFound":
					return true, "deleted", nil
				case "DependencyViolation":
					return false, "in use", nil
				}
				return false, "", err
			})
		case journal.KindLaunchTemplate:
			err = removeSpot(ctx, c, r)
		case journal.KindKeyPair:
			if _, kerr := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(r.id)}); kerr != nil && code(kerr) != "InvalidKeyPair.NotFound" {
				err = fmt.Errorf("deleting key pair %s: %w", r.id, kerr)
			}
		default:
			continue // instances and fleets: above
		}
		if err != nil {
			failures = append(failures, err.Error())
			continue
		}
		// Only now: "removed" is a promise the user acts on.
		say(fmt.Sprintf("removed %s %s", r.kind, r.id))
	}
	return failures
}

func code(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "unknown"
}

func tag(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// created is when AWS says the resource was made, never the
// bakery:created-at tag: anyone who may tag a resource could backdate it
// into the sweep's reach. Zero when AWS does not say (security groups):
// the age then comes from the build's other resources.
func created(_ []types.Tag, reported time.Time) time.Time { return reported }

func groupByBuild(res []found) map[string][]found {
	out := map[string][]found{}
	for _, r := range res {
		if r.buildID != "" {
			out[r.buildID] = append(out[r.buildID], r)
		}
	}
	return out
}

func sortedKeys(m map[string][]found) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// journalImages lists the AMIs that builds recorded in region and did not
// hand over: only dead builds' reach the sweep (decide keeps live ones).
// An AMI is listed only while AWS shows it is still what the build made:
// made from the instance the journal names (a copy's ID came from the
// build's own CopyImage reply). An AMI a build kept with -on-error=abort
// is listed only when --build-id names that build. notes say what was
// left out and why.
func journalImages(ctx context.Context, c EC2, journals []journal.Entry, region string, opts Options) (out []found, notes []string) {
	for _, e := range journals {
		if opts.BuildID != "" && e.BuildID != opts.BuildID {
			continue
		}
		for _, r := range e.Resources {
			if r.Kind != journal.KindImage || r.Region != region {
				continue
			}
			if e.IsKept() && opts.BuildID != e.BuildID {
				notes = append(notes, fmt.Sprintf("build %s: AMI %s left alone: the build ran with -on-error=%s, so it may have been kept on purpose; name the build with --build-id to remove it", e.BuildID, r.ID, e.OnError))
				continue
			}
			if why := notOurImage(ctx, c, r); why != "" {
				notes = append(notes, fmt.Sprintf("build %s: AMI %s left alone: %s", e.BuildID, r.ID, why))
				continue
			}
			out = append(out, found{journal.KindImage, r.ID, region, e.BuildID, e.Started})
		}
	}
	return out, notes
}

// notOurImage says why AWS does not show image r as the one the build
// made ("" when it does, or when it is gone: nothing to remove then).
func notOurImage(ctx context.Context, c EC2, r journal.Resource) string {
	switch {
	case strings.HasPrefix(r.Source, "ami-"):
		return "" // a copy: its ID came from the build's own CopyImage reply
	case !strings.HasPrefix(r.Source, "i-"):
		return "its journal does not say what it was made from (written by an older version)"
	}
	d, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{r.ID}})
	if code(err) == "InvalidAMIID.NotFound" || err == nil && len(d.Images) == 0 {
		return ""
	}
	if err != nil {
		return fmt.Sprintf("describing it failed (%v)", err)
	}
	if got := aws.ToString(d.Images[0].SourceInstanceId); got != r.Source {
		return fmt.Sprintf("AWS shows it made from %q, not from the build's instance %s: someone else's AMI", got, r.Source)
	}
	return ""
}

// deleteImage deregisters an AMI and deletes its snapshots; one already
// gone is fine.
func deleteImage(ctx context.Context, c EC2, id string) error {
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if code(err) == "InvalidAMIID.NotFound" || (err == nil && len(out.Images) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("describing AMI %s: %w", id, err)
	}
	if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil && code(err) != "InvalidAMIID.NotFound" {
		return fmt.Errorf("deregistering AMI %s: %w", id, err)
	}
	for _, bdm := range out.Images[0].BlockDeviceMappings {
		if bdm.Ebs == nil || bdm.Ebs.SnapshotId == nil {
			continue
		}
		if _, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: bdm.Ebs.SnapshotId}); err != nil && code(err) != "InvalidSnapshot.NotFound" {
			return fmt.Errorf("deleting snapshot %s of AMI %s: %w", *bdm.Ebs.SnapshotId, id, err)
		}
	}
	return nil
}
