//go:build e2e

// End-to-end tests of the post-processors: the real packer bakes with
// bakery-ebs on the offline test-bed, bakery-ssm-parameter publishes and
// bakery-retire retires, and everything is checked through the EC2 and SSM
// APIs.
package postprocessor_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

var suite testbed.Suite

func TestMain(m *testing.M) {
	// The fault proxy stands in for EnableImageDeprecation, which moto
	// lacks; it injects nothing.
	os.Exit(testbed.RunSuite(m, testbed.Options{Regions: []string{"us-east-1", copyRegion}, FaultProxy: true}, &suite))
}

const copyRegion = "eu-west-1"

var regions = []string{"us-east-1", copyRegion}

// bakeRelease runs `packer build` of testdata/release with vars.
func bakeRelease(t *testing.T, vars map[string]any) (string, error) {
	t.Helper()
	values := map[string]any{"access_key": "AKIDBAKERYE2E", "secret_key": "e2eSecret" + testbed.RandomHex(8)}
	for k, v := range vars {
		values[k] = v
	}
	data, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	varFile := filepath.Join(dir, "vars.pkrvars.json")
	if err := os.WriteFile(varFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.Packer, "build", "-color=false", "-var-file="+varFile, "testdata/release")
	cmd.Env = suite.Bed.PackerEnv(suite.PluginPath, filepath.Join(dir, "packer-config"))
	out, err := cmd.CombinedOutput()
	t.Logf("packer build:\n%s", out)
	return string(out), err
}

type clients struct {
	ec2 map[string]*ec2.Client
	ssm map[string]*ssm.Client
}

func newClients(t *testing.T) clients {
	t.Helper()
	c := clients{ec2: map[string]*ec2.Client{}, ssm: map[string]*ssm.Client{}}
	for _, r := range regions {
		cfg, err := suite.Bed.AWSConfig(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		c.ec2[r], c.ssm[r] = ec2.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
	}
	return c
}

// seed makes n AMIs of family in region, one a second apart so that their
// creation dates order them, and returns them oldest first.
func seed(t *testing.T, client *ec2.Client, family string, n int) []types.Image {
	t.Helper()
	ctx := context.Background()
	base, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"137112412989"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"amzn2-ami-hvm-*-x86_64-gp2"}}}})
	if err != nil || len(base.Images) == 0 {
		t.Fatalf("no base AMI in the emulator (%v)", err)
	}
	run, err := client.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: base.Images[0].ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: types.InstanceTypeT3Micro})
	if err != nil {
		t.Fatal(err)
	}
	instance := run.Instances[0].InstanceId
	var ids []string
	for i := 0; i < n; i++ {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond)
		}
		out, err := client.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: instance, Name: aws.String(family + "-old-" + testbed.RandomHex(3)),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeImage, Tags: []types.Tag{{Key: aws.String("Family"), Value: aws.String(family)}}}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.ImageId))
	}
	if _, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(instance)}}); err != nil {
		t.Fatal(err)
	}
	images := describe(t, client, ids)
	for _, id := range ids {
		if len(snapshotsOf(images[id])) == 0 {
			t.Fatalf("seeded AMI %s has no snapshot: the emulator changed, and the test cannot show snapshots deleted", id)
		}
	}
	out := make([]types.Image, 0, n)
	for _, id := range ids {
		out = append(out, images[id])
	}
	time.Sleep(1100 * time.Millisecond) // the bake's AMI comes a second later
	return out
}

func describe(t *testing.T, client *ec2.Client, ids []string) map[string]types.Image {
	t.Helper()
	out := map[string]types.Image{}
	for _, id := range ids {
		res, err := client.DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{id}})
		if apiCode(err) == "InvalidAMIID.NotFound" || apiCode(err) == "InvalidAMIID.Unavailable" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, img := range res.Images {
			out[aws.ToString(img.ImageId)] = img
		}
	}
	return out
}

func snapshotsOf(img types.Image) []string {
	var out []string
	for _, b := range img.BlockDeviceMappings {
		if b.Ebs != nil && b.Ebs.SnapshotId != nil {
			out = append(out, *b.Ebs.SnapshotId)
		}
	}
	return out
}

func snapshotExists(t *testing.T, client *ec2.Client, id string) bool {
	t.Helper()
	out, err := client.DescribeSnapshots(context.Background(), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
	if apiCode(err) == "InvalidSnapshot.NotFound" {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Snapshots) > 0
}

func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// bakedAMI is the AMI named name in the region, as EC2 lists it.
func bakedAMI(t *testing.T, client *ec2.Client, name string) string {
	t.Helper()
	out, err := client.DescribeImages(context.Background(), &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("AMI %s: %d found (%v)", name, len(out.Images), err)
	}
	return aws.ToString(out.Images[0].ImageId)
}

// checkImages fails unless exactly the AMIs in gone are gone, with their
// snapshots, and those in kept are there, with theirs.
func checkImages(t *testing.T, client *ec2.Client, region string, kept, gone []types.Image) {
	t.Helper()
	var ids []string
	for _, img := range append(slices.Clone(kept), gone...) {
		ids = append(ids, aws.ToString(img.ImageId))
	}
	now := describe(t, client, ids)
	for _, img := range kept {
		id := aws.ToString(img.ImageId)
		if _, ok := now[id]; !ok {
			t.Errorf("%s: AMI %s (%s) was removed; it should have been kept", region, id, aws.ToString(img.Name))
		}
		for _, s := range snapshotsOf(img) {
			if !snapshotExists(t, client, s) {
				t.Errorf("%s: snapshot %s of the kept AMI %s is gone", region, s, id)
			}
		}
	}
	for _, img := range gone {
		id := aws.ToString(img.ImageId)
		if _, ok := now[id]; ok {
			t.Errorf("%s: AMI %s (%s) is still there; it should have been retired", region, id, aws.ToString(img.Name))
		}
		for _, s := range snapshotsOf(img) {
			if snapshotExists(t, client, s) {
				t.Errorf("%s: snapshot %s of the retired AMI %s is still there", region, s, id)
			}
		}
	}
}

// checkParameter fails unless the parameter's history in region is want,
// oldest first, as aws:ec2:image values.
func checkParameter(t *testing.T, client *ssm.Client, region, name string, want []string) {
	t.Helper()
	var got []string
	pages := ssm.NewGetParameterHistoryPaginator(client, &ssm.GetParameterHistoryInput{Name: aws.String(name)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatalf("%s: parameter %s: %v", region, name, err)
		}
		for _, p := range page.Parameters {
			got = append(got, aws.ToString(p.Value))
			if aws.ToString(p.DataType) != "aws:ec2:image" {
				t.Errorf("%s: parameter %s version %d has data type %q, want aws:ec2:image", region, name, p.Version, aws.ToString(p.DataType))
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: parameter %s history %v, want %v", region, name, got, want)
	}
}

// TestE2EPublishAndRetire bakes twice in an ami_regions build: the first
// bake publishes /…/latest in both regions and dry-runs the retirement
// (nothing changes), the second publishes a second version and retires for
// real: keep_releases = 2 keeps the two bakes, never the AMIs a running
// instance or a launch template uses, and deletes the snapshots of what it
// removes.
func TestE2EPublishAndRetire(t *testing.T) {
	suite.Bed.ResetAfter(t)
	c := newClients(t)
	ctx := context.Background()
	family := "bakery-e2e-" + testbed.RandomHex(4)
	param := "/bakery-e2e/" + family + "/latest"

	oldEast := seed(t, c.ec2["us-east-1"], family, 4)
	oldWest := seed(t, c.ec2[copyRegion], family, 3)
	other := seed(t, c.ec2["us-east-1"], family+"-other", 1)
	// The oldest AMI in the build region runs an instance; the next is a
	// launch template's default and latest version.
	if _, err := c.ec2["us-east-1"].RunInstances(ctx, &ec2.RunInstancesInput{ImageId: oldEast[0].ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: types.InstanceTypeT3Micro}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ec2["us-east-1"].CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(family),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: oldEast[1].ImageId}}); err != nil {
		t.Fatal(err)
	}

	// 1: publish, and a dry run of the retirement.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	playbook := filepath.Join(wd, "testdata/release/ami-test.yml")
	out, err := bakeRelease(t, map[string]any{"ami_name": family + "-1", "family": family, "parameter": param, "dry_run": true,
		"test_commands": []string{"test -d /home/ec2-user", "echo ami-test-says-ok"},
		"test_playbook": playbook, "ansible_command": filepath.Join(testbed.CacheDir(suite.Root), "ansible-2.19", "bin", "ansible-playbook")})
	if err != nil {
		t.Fatalf("first bake failed: %v", err)
	}
	if !strings.Contains(out, "ami-test-says-ok") || !strings.Contains(out, "AMI test: all 2 checks passed") {
		t.Errorf("the AMI test did not run its checks")
	}
	// The playbook check, after the commands and before the copy.
	task, passed, copied := strings.Index(out, "TASK [ami-test-playbook-says-ok]"), strings.Index(out, "AMI test: the playbook check "+playbook+" passed"), strings.Index(out, "Copying AMI")
	if task < 0 || passed < task || copied < passed {
		t.Errorf("want the playbook's task (%d), the check passed (%d), then the copy (%d)", task, passed, copied)
	}
	if live := liveInstances(t, c.ec2["us-east-1"], "Packer AMI test"); len(live) != 0 {
		t.Errorf("test instances left running: %v", live)
	}
	first := map[string]string{}
	for _, r := range regions {
		first[r] = bakedAMI(t, c.ec2[r], family+"-1")
		checkParameter(t, c.ssm[r], r, param, []string{first[r]})
	}
	checkImages(t, c.ec2["us-east-1"], "us-east-1", append(slices.Clone(oldEast), other...), nil)
	checkImages(t, c.ec2[copyRegion], copyRegion, oldWest, nil)
	for _, want := range []string{
		"dry run: would deregister " + aws.ToString(oldEast[2].ImageId),
		"dry run: would deregister " + aws.ToString(oldWest[1].ImageId),
		"dry run: would deregister " + aws.ToString(oldWest[0].ImageId),
		aws.ToString(oldEast[0].ImageId) + " (" + aws.ToString(oldEast[0].Name),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run's output lacks %q", want)
		}
	}

	// 2: a second version, and the retirement for real.
	if _, err := bakeRelease(t, map[string]any{"ami_name": family + "-2", "family": family, "parameter": param, "overwrite": true}); err != nil {
		t.Fatalf("second bake failed: %v", err)
	}
	for _, r := range regions {
		second := bakedAMI(t, c.ec2[r], family+"-2")
		checkParameter(t, c.ssm[r], r, param, []string{first[r], second})
		if _, ok := describe(t, c.ec2[r], []string{first[r]})[first[r]]; !ok {
			t.Errorf("%s: the first bake's AMI %s was retired; keep_releases = 2 keeps it", r, first[r])
		}
	}
	// East: the bakes are the newest two; old 3 and 2 go; 1 (launch
	// template) and 0 (running instance) stay, as does the other family.
	checkImages(t, c.ec2["us-east-1"], "us-east-1", []types.Image{oldEast[0], oldEast[1], other[0]}, []types.Image{oldEast[2], oldEast[3]})
	checkImages(t, c.ec2[copyRegion], copyRegion, nil, oldWest)
}

// TestE2ERetireDeprecates retires by deprecation: the old AMIs stay, with
// their snapshots, and carry a deprecation time; the kept ones do not. The
// fault proxy stands in for EnableImageDeprecation (moto has none).
func TestE2ERetireDeprecates(t *testing.T) {
	suite.Bed.ResetAfter(t)
	proxy := suite.Bed.Faults()
	if err := proxy.SetConfig(faultproxy.Config{ImageDeprecation: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.SetConfig(faultproxy.Config{}) })
	c := newClients(t)
	family := "bakery-e2e-" + testbed.RandomHex(4)
	old := map[string][]types.Image{}
	for _, r := range regions {
		old[r] = seed(t, c.ec2[r], family, 3)
	}
	if _, err := bakeRelease(t, map[string]any{"ami_name": family + "-1", "family": family, "parameter": "/bakery-e2e/" + family, "deprecate": true}); err != nil {
		t.Fatalf("bake failed: %v", err)
	}
	for _, r := range regions {
		// Newest two: the bake and old[2]; old[0] and old[1] are deprecated.
		checkImages(t, c.ec2[r], r, old[r], nil)
		ids := []string{bakedAMI(t, c.ec2[r], family+"-1")}
		for _, img := range old[r] {
			ids = append(ids, aws.ToString(img.ImageId))
		}
		now := describe(t, c.ec2[r], ids)
		for i, id := range ids {
			want := i == 1 || i == 2 // old[0], old[1]
			if got := aws.ToString(now[id].DeprecationTime) != ""; got != want {
				t.Errorf("%s: AMI %s deprecated %v, want %v (deprecation time %q)", r, id, got, want, aws.ToString(now[id].DeprecationTime))
			}
		}
	}
	if n := proxy.Count("ec2", "EnableImageDeprecation"); n != 4 {
		t.Errorf("%d EnableImageDeprecation calls, want 4 (two old AMIs in each of two regions)", n)
	}
	if n := proxy.Count("ec2", "DeregisterImage") + proxy.Count("ec2", "DeleteSnapshot"); n != 0 {
		t.Errorf("%d DeregisterImage/DeleteSnapshot calls when deprecating", n)
	}
}

// liveInstances are the instances named name in any state but terminated.
func liveInstances(t *testing.T, client *ec2.Client, name string) []string {
	t.Helper()
	var out []string
	pages := ec2.NewDescribeInstancesPaginator(client, &ec2.DescribeInstancesInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				if i.State.Name == types.InstanceStateNameTerminated {
					continue
				}
				for _, tag := range i.Tags {
					if name == "" || (aws.ToString(tag.Key) == "Name" && aws.ToString(tag.Value) == name) {
						out = append(out, aws.ToString(i.InstanceId))
						break
					}
				}
			}
		}
	}
	return out
}

func snapshots(t *testing.T, client *ec2.Client) []string {
	t.Helper()
	var out []string
	pages := ec2.NewDescribeSnapshotsPaginator(client, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Snapshots {
			out = append(out, aws.ToString(s.SnapshotId))
		}
	}
	slices.Sort(out)
	return out
}

// TestE2EFailingCheckLeavesNothing: a bake whose AMI test fails stops
// before the copy and the post-processors, names the check with its
// output, and leaves no AMI, no snapshot, no test instance and no change
// to the published parameter, in either region.
func TestE2EFailingCheckLeavesNothing(t *testing.T) {
	suite.Bed.ResetAfter(t)
	c := newClients(t)
	ctx := context.Background()
	family := "bakery-e2e-" + testbed.RandomHex(4)
	param := "/bakery-e2e/" + family + "/latest"
	before := map[string][]string{}
	published := map[string]string{}
	for _, r := range regions {
		published[r] = aws.ToString(seed(t, c.ec2[r], family, 1)[0].ImageId)
		if _, err := c.ssm[r].PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(param), Value: aws.String(published[r]),
			Type: "String", DataType: aws.String("aws:ec2:image")}); err != nil {
			t.Fatal(err)
		}
		before[r] = snapshots(t, c.ec2[r])
	}
	name := family + "-broken"
	out, err := bakeRelease(t, map[string]any{"ami_name": name, "family": family, "parameter": param, "overwrite": true,
		"test_commands": []string{"true", "echo the-service-is-down >&2; exit 3"}})
	if err == nil {
		t.Fatal("the bake succeeded although its AMI test failed")
	}
	for _, want := range []string{"check 2 failed", "echo the-service-is-down >&2; exit 3", "exited with status 3", "the-service-is-down"} {
		if !strings.Contains(out, want) {
			t.Errorf("the failure does not say %q", want)
		}
	}
	if strings.Contains(out, "Copying AMI") || strings.Contains(out, "bakery-ssm-parameter") {
		t.Errorf("the bake went on to copy or publish after the failed check")
	}
	for _, r := range regions {
		res, err := c.ec2[r].DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"},
			Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Images) != 0 {
			t.Errorf("%s: the failed bake left AMI %s", r, aws.ToString(res.Images[0].ImageId))
		}
		if after := snapshots(t, c.ec2[r]); !slices.Equal(after, before[r]) {
			t.Errorf("%s: snapshots before %v, after %v", r, before[r], after)
		}
		if live := liveInstances(t, c.ec2[r], ""); len(live) != 0 {
			t.Errorf("%s: instances left: %v", r, live)
		}
		checkParameter(t, c.ssm[r], r, param, []string{published[r]})
	}
}
