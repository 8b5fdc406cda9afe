//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

// tagsBake is one `packer build` of testdata/tags: the bake of e2e_test.go
// with that template instead of testdata/bake.
type tagsBake struct {
	*bake
	generated string   // where the shell-local provisioner writes build.*
	env       []string // more environment for packer and the plugin
}

func newTagsBake(t *testing.T, vars map[string]any) *tagsBake {
	t.Helper()
	b := newBake(t)
	tb := &tagsBake{bake: b, generated: filepath.Join(t.TempDir(), "generated.txt")}
	b.vars = map[string]any{"generated_file": tb.generated}
	for k, v := range vars {
		b.vars[k] = v
	}
	return tb
}

func (b *tagsBake) run() (string, error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := b.cmd(ctx)
	if last := len(cmd.Args) - 1; cmd.Args[last] == "testdata/bake" {
		cmd.Args[last] = "testdata/tags"
	} else {
		b.t.Fatalf("the bake's command line changed (%q): update tagsBake", cmd.Args)
	}
	cmd.Env = append(cmd.Env, b.env...)
	out, err := cmd.CombinedOutput()
	b.t.Logf("packer build output:\n%s", out)
	return string(out), err
}

// sourceAMIWithTeamTag tags the AMI source_ami_filter picks with Team, so
// that {{ .SourceAMITags.Team }} has something to read, and returns it as
// EC2 describes it.
func sourceAMIWithTeamTag(t *testing.T, client *ec2.Client, team string) types.Image {
	t.Helper()
	id := newestSourceAMI(t, client)
	ctx := context.Background()
	if _, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("Team"), Value: aws.String(team)}}}); err != nil {
		t.Fatalf("tagging the source AMI %s: %v", id, err)
	}
	out, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("describing the source AMI %s: %v", id, err)
	}
	img := out.Images[0]
	if tagMap(img.Tags)["Team"] != team {
		t.Fatalf("the source AMI's tags are %v after tagging it", tagMap(img.Tags))
	}
	return img
}

// TestE2ETemplateVariablesInTags: tags, run_tags, run_volume_tags,
// snapshot_tags and ami_description name the source AMI, its owner, date and tags and the
// region; EC2 shows them rendered with the real source AMI's values, on the
// AMI, its snapshots and the build instance; and a provisioner gets the same
// values as build.* generated data.
func TestE2ETemplateVariablesInTags(t *testing.T) {
	client := ec2Client(t)
	src := sourceAMIWithTeamTag(t, client, "platform")
	t.Logf("source AMI: %s %q owner %s alias %q created %s", aws.ToString(src.ImageId), aws.ToString(src.Name),
		aws.ToString(src.OwnerId), aws.ToString(src.ImageOwnerAlias), aws.ToString(src.CreationDate))

	b := newTagsBake(t, nil)
	out, err := b.run()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	b.assertNoSecrets(out)

	id, name := aws.ToString(src.ImageId), aws.ToString(src.Name)
	owner, alias, created := aws.ToString(src.OwnerId), aws.ToString(src.ImageOwnerAlias), aws.ToString(src.CreationDate)
	if id == "" || name == "" || owner == "" || created == "" {
		t.Fatalf("the source AMI lacks a field the test compares: %+v", src)
	}
	rendered := renderedTags(src)

	images := imagesNamed(t, client, b.amiName)
	if len(images) != 1 {
		t.Fatalf("found %d AMIs named %s, want 1", len(images), b.amiName)
	}
	img := images[0]
	if got, want := tagMap(img.Tags), productTags(t, rendered("ami")); !equalMaps(got, want) {
		t.Errorf("AMI tags (DescribeImages):\n got %v\nwant %v", got, want)
	}
	if got, want := aws.ToString(img.Description), "built from "+name+" ("+id+") in us-east-1"; got != want {
		t.Errorf("AMI description %q, want %q", got, want)
	}
	// DescribeTags, as `aws ec2 describe-tags` shows them.
	described, err := client.DescribeTags(context.Background(), &ec2.DescribeTagsInput{
		Filters: []types.Filter{{Name: aws.String("resource-id"), Values: []string{aws.ToString(img.ImageId)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	viaDescribeTags := map[string]string{}
	for _, d := range described.Tags {
		viaDescribeTags[aws.ToString(d.Key)] = aws.ToString(d.Value)
	}
	if want := productTags(t, rendered("ami")); !equalMaps(viaDescribeTags, want) {
		t.Errorf("AMI tags (DescribeTags):\n got %v\nwant %v", viaDescribeTags, want)
	}

	var snapshots []string
	for _, bdm := range img.BlockDeviceMappings {
		if bdm.Ebs != nil && bdm.Ebs.SnapshotId != nil {
			snapshots = append(snapshots, *bdm.Ebs.SnapshotId)
		}
	}
	if len(snapshots) == 0 {
		t.Fatal("the AMI has no EBS snapshot")
	}
	snaps, err := client.DescribeSnapshots(context.Background(), &ec2.DescribeSnapshotsInput{SnapshotIds: snapshots})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps.Snapshots {
		if got, want := tagMap(s.Tags), productTags(t, rendered("snapshot")); !equalMaps(got, want) {
			t.Errorf("snapshot %s tags:\n got %v\nwant %v", aws.ToString(s.SnapshotId), got, want)
		}
	}

	// run_tags reach the temporary key pair and security group, in their
	// create calls (moto has deleted both by now).
	for _, c := range []struct{ action, resourceType, name string }{
		{"ImportKeyPair", "key-pair", "KeyName"}, {"CreateSecurityGroup", "security-group", "GroupName"},
	} {
		reqs := suite.Bed.Faults().Requests("ec2", c.action)
		if len(reqs) != 1 {
			t.Fatalf("%d %s requests, want 1", len(reqs), c.action)
		}
		got := requestedTags(reqs[0], c.resourceType)
		want := rendered("instance")
		want["Name"] = reqs[0].Get(c.name)
		for k := range got {
			if strings.HasPrefix(k, "bakery:") {
				want[k] = got[k]
			}
		}
		if !equalMaps(got, want) || got["bakery:build-id"] == "" {
			t.Errorf("%s tags:\n got %v\nwant %v and the build's own", c.action, got, want)
		}
	}

	instances := buildInstances(t, client)
	if len(instances) != 1 {
		t.Fatalf("%d instances launched, want 1", len(instances))
	}
	instTags := tagMap(instances[0].Tags)
	want := rendered("instance")
	want["Name"] = "Packer Builder"
	for k := range instTags {
		if strings.HasPrefix(k, "bakery:") {
			want[k] = instTags[k] // the build's own tags, checked elsewhere
		}
	}
	if !equalMaps(instTags, want) {
		t.Errorf("instance tags (DescribeInstances):\n got %v\nwant %v", instTags, want)
	}

	// moto deletes the volumes with the terminated instance: what the
	// launch asked for is in its request.
	launches := suite.Bed.Faults().Requests("ec2", "RunInstances")
	if len(launches) != 1 {
		t.Fatalf("%d RunInstances requests, want 1", len(launches))
	}
	volTags := requestedTags(launches[0], "volume")
	wantVol := rendered("volume")
	for k := range volTags {
		if strings.HasPrefix(k, "bakery:") {
			wantVol[k] = volTags[k]
		}
	}
	if !equalMaps(volTags, wantVol) {
		t.Errorf("volume tags in RunInstances:\n got %v\nwant %v", volTags, wantVol)
	}

	data, err := os.ReadFile(b.generated)
	if err != nil {
		t.Fatalf("the shell-local provisioner wrote no file: %v", err)
	}
	wantGenerated := strings.Join([]string{
		"BuildRegion=us-east-1",
		"SourceAMI=" + id,
		"SourceAMIName=" + name,
		"SourceAMIOwner=" + owner,
		"SourceAMIOwnerName=" + alias,
		"SourceAMICreationDate=" + created,
	}, "\n")
	if got := strings.TrimSpace(string(data)); got != wantGenerated {
		t.Errorf("the provisioner got build.* =\n%s\nwant\n%s", got, wantGenerated)
	}
	assertNothingLeft(t, client)
}

// requestedTags reads the tags of a TagSpecification for resourceType from
// an EC2 query request.
func requestedTags(params url.Values, resourceType string) map[string]string {
	tags := map[string]string{}
	for n := 1; params.Has(fmt.Sprintf("TagSpecification.%d.ResourceType", n)); n++ {
		prefix := fmt.Sprintf("TagSpecification.%d.", n)
		if params.Get(prefix+"ResourceType") != resourceType {
			continue
		}
		for m := 1; params.Has(fmt.Sprintf("%sTag.%d.Key", prefix, m)); m++ {
			tags[params.Get(fmt.Sprintf("%sTag.%d.Key", prefix, m))] = params.Get(fmt.Sprintf("%sTag.%d.Value", prefix, m))
		}
	}
	return tags
}

// renderedTags is what the template's tag options become for src, with
// Kind set to kind: every build variable rendered; "snapshot" is what the
// snapshots carry, tags under snapshot_tags.
func renderedTags(src types.Image) func(kind string) map[string]string {
	id, name := aws.ToString(src.ImageId), aws.ToString(src.Name)
	owner, alias, created := aws.ToString(src.OwnerId), aws.ToString(src.ImageOwnerAlias), aws.ToString(src.CreationDate)
	return func(kind string) map[string]string {
		tags := map[string]string{
			"Every":                 strings.Join([]string{"us-east-1", id, name, owner, alias, created, "platform"}, "|"),
			"Region":                "us-east-1",
			"SourceAMI":             id,
			"SourceAMIName":         name,
			"SourceAMIOwner":        owner,
			"SourceAMIOwnerName":    alias,
			"SourceAMICreationDate": created,
			"SourceTeam":            "platform",
			"SourceMissing":         "",
			"CleanName":             cleanName(name),
			"built-in-us-east-1":    "yes",
			"from-platform":         id,
			"Kind":                  kind,
		}
		// The AMI's own key, which its snapshots get too (tags under
		// snapshot_tags, as in amazon-ebs).
		if kind == "ami" || kind == "snapshot" {
			tags["CostCenter"] = "platform-images"
		}
		return tags
	}
}

// TestE2ETemplateVariablesInCopies: the copy in ami_regions gets the AMI's
// rendered tags and description (with the build region, as amazon-ebs),
// and its snapshots the rendered snapshot_tags.
func TestE2ETemplateVariablesInCopies(t *testing.T) {
	src := sourceAMIWithTeamTag(t, ec2Client(t), "platform")
	b := newTagsBake(t, map[string]any{"ami_regions": []string{"eu-west-1"}})
	out, err := b.run()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	b.assertNoSecrets(out)
	rendered := renderedTags(src)
	copies := imagesNamed(t, regionClient(t, "eu-west-1"), b.amiName)
	if len(copies) != 1 {
		t.Fatalf("%d AMIs named %s in eu-west-1, want the copy", len(copies), b.amiName)
	}
	c := copies[0]
	if got, want := tagMap(c.Tags), productTags(t, rendered("ami")); !equalMaps(got, want) {
		t.Errorf("the copy's tags:\n got %v\nwant %v", got, want)
	}
	wantDesc := "built from " + aws.ToString(src.Name) + " (" + aws.ToString(src.ImageId) + ") in us-east-1"
	if got := aws.ToString(c.Description); got != wantDesc {
		t.Errorf("the copy's description %q, want %q", got, wantDesc)
	}
	var snapshots []string
	for _, bdm := range c.BlockDeviceMappings {
		if bdm.Ebs != nil && bdm.Ebs.SnapshotId != nil {
			snapshots = append(snapshots, *bdm.Ebs.SnapshotId)
		}
	}
	if len(snapshots) == 0 {
		t.Fatal("the copy has no EBS snapshot")
	}
	snaps, err := regionClient(t, "eu-west-1").DescribeSnapshots(context.Background(), &ec2.DescribeSnapshotsInput{SnapshotIds: snapshots})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps.Snapshots {
		if got, want := tagMap(s.Tags), productTags(t, rendered("snapshot")); !equalMaps(got, want) {
			t.Errorf("the copy's snapshot %s tags:\n got %v\nwant %v", aws.ToString(s.SnapshotId), got, want)
		}
	}
}

// productTags are the tags the build's product (an AMI, a copy, their
// snapshots) carries: the user's, and the build's principal, given in
// CreateImage/CopyImage (the generated policy removes only images and
// snapshots carrying it). Not the build id: the product is no leftover for
// the sweep.
func productTags(t *testing.T, user map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{bakery.TagPrincipal: callerPrincipal(t)}
	for k, v := range user {
		out[k] = v
	}
	return out
}

// cleanName is what clean_resource_name makes of an AMI name.
func cleanName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("()[] ./-'@_", r) {
			return r
		}
		return '-'
	}, s)
}

// amiWait is the proxy's record of the wait for the bake's AMI: how many
// describe replies showed it pending, and when one first showed it
// available. It counts what the plugin asked, not what the wall clock
// allowed, so a loaded machine cannot change it upwards.
func amiWait(t *testing.T, proxy *faultproxy.Proxy) faultproxy.Wait {
	t.Helper()
	var found []faultproxy.Wait
	for _, w := range proxy.Waits() {
		if w.What == "image available" {
			found = append(found, w)
		}
	}
	if len(found) != 1 {
		t.Fatalf("the proxy tracked %d pending AMIs, want the bake's one: %+v", len(found), found)
	}
	return found[0]
}

// TestE2EAWSPollingDelay: with the AMI pending for 12 s and
// aws_polling.delay_seconds = 5, the AMI wait checks at 0, 5 and 10 s while
// it is pending — at most 3 checks however slow the machine (a check per
// tick at most), where the default 2 s makes 6.
func TestE2EAWSPollingDelay(t *testing.T) {
	client := ec2Client(t)
	sourceAMIWithTeamTag(t, client, "platform")
	proxy := withFaults(t, faultproxy.Config{Readiness: faultproxy.Readiness{InstanceStopping: 3 * time.Second, ImagePending: 12 * time.Second}})
	b := newTagsBake(t, map[string]any{"delay_seconds": 5})
	out, err := b.run()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	assertPollsEvery5s(t, amiWait(t, proxy))
	if !strings.Contains(out, "Waiting for AMI") || !strings.Contains(out, "now pending") {
		t.Errorf("the bake did not show that it waited for the pending AMI")
	}
	assertOneBake(t, client, b.amiName)
}

func assertPollsEvery5s(t *testing.T, w faultproxy.Wait) {
	t.Helper()
	t.Logf("AMI %s: %d checks while pending, seen available %s after it became so", w.ID, w.Polls, w.Lag.Round(100*time.Millisecond))
	if w.Polls < 1 || w.Polls > 3 {
		t.Errorf("the AMI wait made %d checks while the AMI was pending for 12 s, want at most 3 (every 5 s)", w.Polls)
	}
	if w.Seen.IsZero() {
		t.Error("no check saw the AMI available")
	}
}

// TestE2EAWSPollingDelayFromEnvironment: amazon-ebs's
// AWS_POLL_DELAY_SECONDS sets the delay when the template does not.
func TestE2EAWSPollingDelayFromEnvironment(t *testing.T) {
	client := ec2Client(t)
	sourceAMIWithTeamTag(t, client, "platform")
	proxy := withFaults(t, faultproxy.Config{Readiness: faultproxy.Readiness{InstanceStopping: 3 * time.Second, ImagePending: 12 * time.Second}})
	b := newTagsBake(t, nil)
	b.env = []string{"AWS_POLL_DELAY_SECONDS=5"}
	if _, err := b.run(); err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	assertPollsEvery5s(t, amiWait(t, proxy))
	assertOneBake(t, client, b.amiName)
}

// TestE2EAWSPollingMaxAttempts: with the AMI pending for 10 minutes and
// max_attempts = 3, the build gives up after 3 checks (not after
// state_timeout), says so, and removes the half-made AMI.
func TestE2EAWSPollingMaxAttempts(t *testing.T) {
	client := ec2Client(t)
	sourceAMIWithTeamTag(t, client, "platform")
	// The instance stops within the 3 checks (at 0, 1 and 2 s) that the
	// stop wait gets too; the AMI does not.
	proxy := withFaults(t, faultproxy.Config{Readiness: faultproxy.Readiness{InstanceStopping: 1500 * time.Millisecond, ImagePending: 10 * time.Minute}})
	b := newTagsBake(t, map[string]any{"delay_seconds": 1, "max_attempts": 3})
	start := time.Now()
	out, err := b.run()
	took := time.Since(start)
	if err == nil {
		t.Fatal("packer build succeeded although the AMI stayed pending beyond max_attempts")
	}
	if !strings.Contains(out, "timed out after 3 checks") {
		t.Errorf("the output does not say the wait gave up after 3 checks")
	}
	// 3 checks, then the cleanup's describe before DeregisterImage, all
	// while the AMI was pending.
	if polls := amiWait(t, proxy).Polls; proxy.Count("ec2", "DeregisterImage") != 1 || polls != 3+1 {
		t.Errorf("%d describes of the pending AMI and %d DeregisterImage, want 3 checks + 1 cleanup describe and 1 deregister",
			polls, proxy.Count("ec2", "DeregisterImage"))
	}
	if took > 2*time.Minute {
		t.Errorf("the build took %s: it did not stop at max_attempts", took)
	}
	if err := proxy.SetConfig(faultproxy.Config{}); err != nil {
		t.Fatal(err)
	}
	if imgs := imagesNamed(t, client, b.amiName); len(imgs) != 0 {
		t.Errorf("the half-made AMI %s was left behind", aws.ToString(imgs[0].ImageId))
	}
	assertNothingLeft(t, client)
}
