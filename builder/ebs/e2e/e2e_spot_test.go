//go:build e2e

package e2e_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

// What moto 5.2.5 does with spot launches, read in its source
// (moto/ec2/models/fleets.py, spot_requests.py, launch_templates.py) and
// seen here:
//   - CreateFleet of type instant makes one spot instance request per
//     instance and launches its instance; the reply lists it as "spot".
//   - The instance gets the template's ImageId, InstanceType (or an
//     override's), KeyName and instance/volume/spot-instances-request tags.
//     It ignores the template's NetworkInterfaces and SecurityGroupIds: the
//     instance lands in the default subnet with the default group. The
//     test-bed's sshd does not care; AWS uses them.
//   - DescribeInstances reports InstanceLifecycle "spot", but no
//     SpotInstanceRequestId: the step's tagging of the request after
//     launch (for AWS, where EC2 Fleet may not pass the template's request
//     tags on) is not exercised here; moto tags the request from the
//     template. DescribeSpotInstanceRequests names the instance.
//   - DeleteFleets keeps the fleet visible as deleted_terminating, as AWS
//     keeps deleted fleets visible for a while: "gone" means deleted.
//   - ClientToken is ignored; the test-bed's proxy gives it EC2's
//     idempotency, as for RunInstances.
//   - DeleteFleets repeated for a deleted fleet (a retry after a lost
//     reply) fails with InvalidParameterCombination "No instances
//     specified"; the build then reads the fleet's state, which says
//     deleted.
//   - StopInstances stops a spot instance, where AWS refuses for the
//     one-time spot instance of an instant fleet: the tests check that a
//     spot bake never asks.
//   - The template's IamInstanceProfile, block devices, placement and
//     credits are stored but not applied to the fleet's instance: the tests
//     check the CreateLaunchTemplate request instead.

// spotCmd is `packer build` of testdata/spot for b.
func (b *bake) spotCmd(ctx context.Context) *exec.Cmd {
	b.t.Helper()
	return b.spotCmdIn(ctx, "testdata/spot")
}

func (b *bake) spotCmdIn(ctx context.Context, dir string) *exec.Cmd {
	b.t.Helper()
	b.dir = dir
	return b.cmd(ctx)
}

func (b *bake) runSpot() (string, error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := b.spotCmd(ctx).CombinedOutput()
	b.t.Logf("packer build output:\n%s", out)
	return string(out), err
}

// buildTemplates returns the launch templates carrying the build-id tag.
func buildTemplates(t *testing.T, client *ec2.Client) []types.LaunchTemplate {
	t.Helper()
	out, err := client.DescribeLaunchTemplates(context.Background(), &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var ours []types.LaunchTemplate
	for _, lt := range out.LaunchTemplates {
		if _, ok := tagMap(lt.Tags)["bakery:build-id"]; ok {
			ours = append(ours, lt)
		}
	}
	return ours
}

// buildFleets returns the fleets carrying the build-id tag, deleted ones
// included.
func buildFleets(t *testing.T, client *ec2.Client) []types.FleetData {
	t.Helper()
	out, err := client.DescribeFleets(context.Background(), &ec2.DescribeFleetsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var ours []types.FleetData
	for _, f := range out.Fleets {
		if _, ok := tagMap(f.Tags)["bakery:build-id"]; ok {
			ours = append(ours, f)
		}
	}
	return ours
}

func deleted(f types.FleetData) bool {
	switch f.FleetState {
	case types.FleetStateCodeDeleted, types.FleetStateCodeDeletedTerminatingInstances:
		return true
	}
	return false
}

// spotRequestOf returns the spot instance request that launched instance.
func spotRequestOf(t *testing.T, client *ec2.Client, instance string) (types.SpotInstanceRequest, bool) {
	t.Helper()
	out, err := client.DescribeSpotInstanceRequests(context.Background(), &ec2.DescribeSpotInstanceRequestsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.SpotInstanceRequests {
		if aws.ToString(r.InstanceId) == instance {
			return r, true
		}
	}
	return types.SpotInstanceRequest{}, false
}

// assertSpotBake checks what a successful spot bake leaves: one spot
// instance, tagged and terminated; its fleet deleted; no launch template;
// one AMI; nothing else temporary.
func assertSpotBake(t *testing.T, client *ec2.Client, amiName string) {
	t.Helper()
	assertOneBake(t, client, amiName)
	if lts := buildTemplates(t, client); len(lts) != 0 {
		t.Errorf("launch template %s (%s) was left behind", aws.ToString(lts[0].LaunchTemplateId), aws.ToString(lts[0].LaunchTemplateName))
	}
	all, err := client.DescribeLaunchTemplates(context.Background(), &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range all.LaunchTemplates {
		t.Errorf("launch template %s (%s) exists after the bake", aws.ToString(lt.LaunchTemplateId), aws.ToString(lt.LaunchTemplateName))
	}
	fleets := buildFleets(t, client)
	if len(fleets) != 1 {
		t.Fatalf("%d fleets carry the build's tag, want exactly 1", len(fleets))
	}
	fleet := fleets[0]
	if !deleted(fleet) {
		t.Errorf("fleet %s is %s after the bake, want deleted", aws.ToString(fleet.FleetId), fleet.FleetState)
	}
	if got := tagMap(fleet.Tags); got["FleetTag"] != "fleet-e2e" || !strings.HasPrefix(got["FleetSource"], "ami-") {
		t.Errorf("fleet tags %v, want fleet_tags FleetTag=fleet-e2e and FleetSource rendered to the source AMI", got)
	}
	if fleet.Type != types.FleetTypeInstant {
		t.Errorf("fleet type %s, want instant", fleet.Type)
	}

	inst := buildInstances(t, client)[0]
	if aws.ToString(inst.KeyName) == "" {
		t.Error("the fleet's instance has no key pair: the template lost KeyName")
	}
	if it := inst.InstanceType; it != types.InstanceTypeT3Micro && it != types.InstanceTypeT3aMicro {
		t.Errorf("instance type %s, want one of spot_instance_types", it)
	}
	if tags := tagMap(inst.Tags); tags["Suite"] != "spot-e2e" || tags["Name"] != "Packer Builder" || tags["bakery:build-id"] == "" {
		t.Errorf("instance tags %v, want run_tags, the default Name and the build id", tags)
	}
	if inst.InstanceLifecycle != types.InstanceLifecycleTypeSpot {
		t.Errorf("instance %s lifecycle %q, want spot", aws.ToString(inst.InstanceId), inst.InstanceLifecycle)
	}
	req, ok := spotRequestOf(t, client, aws.ToString(inst.InstanceId))
	if !ok {
		t.Fatalf("no spot instance request launched instance %s", aws.ToString(inst.InstanceId))
	}
	if tags := tagMap(req.Tags); tags["SpotTag"] != "spot-e2e" || tags["SpotSource"] != aws.ToString(inst.ImageId) ||
		tags["bakery:build-id"] != tagMap(inst.Tags)["bakery:build-id"] {
		t.Errorf("spot request %s tags %v, want spot_tags and the build id", aws.ToString(req.SpotInstanceRequestId), tags)
	}
}

func TestE2ESpotBake(t *testing.T) {
	marker := filepath.Join("/home", suite.Bed.SSHUser, "bakery-spot-e2e-"+testbed.RandomHex(4))
	t.Cleanup(func() { os.Remove(marker) })
	b := newBake(t, "echo spot > "+marker)
	out, err := b.runSpot()
	if err != nil {
		t.Fatalf("spot bake failed: %v", err)
	}
	b.assertNoSecrets(out)
	for _, said := range []string{"Created launch template lt-", "through an EC2 Fleet", "launched by EC2 Fleet fleet-", "Not stopping spot instance", "Deleting EC2 Fleet", "Deleting launch template"} {
		if !strings.Contains(out, said) {
			t.Errorf("the build did not say %q", said)
		}
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the provisioner did not run on the spot instance: %v", err)
	}
	assertSpotBake(t, ec2Client(t), b.amiName)
	if entries, _ := filepath.Glob(filepath.Join(b.journals, "*.json")); len(entries) != 0 {
		t.Errorf("journal left after a clean spot bake: %v", entries)
	}
}

// A price cap is passed on; moto does not compare it with a spot price, so
// this shows the bake works with one, not that AWS would honour it.
func TestE2ESpotBakeWithMaxPrice(t *testing.T) {
	b := newBake(t, "true")
	b.vars = map[string]any{"spot_price": "0.05"}
	out, err := b.runSpot()
	if err != nil {
		t.Fatalf("spot bake failed: %v", err)
	}
	if !strings.Contains(out, "maximum price $0.05/hour") {
		t.Error("the build did not report its price cap")
	}
	assertSpotBake(t, ec2Client(t), b.amiName)
}

// A lost reply to CreateLaunchTemplate or to CreateFleet: the SDK retries
// with the same ClientToken and EC2 (here, the test-bed's proxy) answers
// with the first result: one template, one fleet, one instance.
func TestE2ESpotLostRepliesMakeOneOfEach(t *testing.T) {
	for _, action := range []string{"CreateLaunchTemplate", "CreateFleet", "DeleteFleets", "DeleteLaunchTemplate"} {
		t.Run(action, func(t *testing.T) {
			p := withFaults(t, faultproxy.Config{LoseReply: faultproxy.Fault{Rate: 1, Max: 1, Actions: []string{action}}})
			p.Reset()
			b := newBake(t, "true")
			if _, err := b.runSpot(); err != nil {
				t.Fatalf("spot bake failed: %v", err)
			}
			if n := p.Count("ec2", action); n < 2 {
				t.Errorf("%d %s attempts: the lost reply was not retried", n, action)
			}
			assertSpotBake(t, ec2Client(t), b.amiName)
			if entries, _ := filepath.Glob(filepath.Join(b.journals, "*.json")); len(entries) != 0 {
				t.Errorf("journal left: %v", entries)
			}
		})
	}
}

// A spot build killed while it provisions leaves a tagged template,
// fleet and instance; the sweep removes them all.
func TestE2ESpotSweepAfterKill(t *testing.T) {
	// The proxy's readiness delays follow RunInstances only, so the build
	// is killed while it provisions.
	sleeper := fmt.Sprintf("sleep 120.%d", time.Now().UnixNano()%1e6)
	t.Cleanup(func() { _ = exec.Command("pkill", "-u", suite.Bed.SSHUser, "-f", "^"+sleeper+"$").Run() })
	b := newBake(t, "echo spot-provisioning-started", sleeper)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := testbed.StartCmd(t, b.spotCmd(ctx))
	run.UntilOutput(t, "spot-provisioning-started", "the spot build never launched")
	run.Kill()
	out := run.Out
	t.Logf("killed build:\n%s", out.String())
	ids := regexp.MustCompile(`Spot instance (i-[0-9a-f]+) launched by EC2 Fleet (fleet-[0-9a-f-]+)`).FindStringSubmatch(out.String())
	if ids == nil {
		t.Fatal("no instance and fleet in the killed build's output")
	}

	client := ec2Client(t)
	lts := buildTemplates(t, client)
	if len(lts) != 1 {
		t.Fatalf("%d tagged launch templates after the kill, want the build's 1", len(lts))
	}
	ltTags := tagMap(lts[0].Tags)
	for k, v := range map[string]string{"SpotTag": "spot-e2e", "Name": aws.ToString(lts[0].LaunchTemplateName)} {
		if ltTags[k] != v {
			t.Errorf("launch template tag %s = %q, want %q (all: %v)", k, ltTags[k], v, ltTags)
		}
	}
	for _, k := range []string{"bakery:build-id", "bakery:created-at", "bakery:created-by"} {
		if ltTags[k] == "" {
			t.Errorf("launch template lacks the %s tag: %v", k, ltTags)
		}
	}
	fleets := buildFleets(t, client)
	if len(fleets) != 1 || deleted(fleets[0]) || aws.ToString(fleets[0].FleetId) != ids[2] {
		t.Fatalf("fleets after the kill %v, want %s active", fleets, ids[2])
	}
	if tagMap(fleets[0].Tags)["bakery:build-id"] != ltTags["bakery:build-id"] {
		t.Errorf("fleet and template carry different build ids")
	}

	cmdSweep := exec.Command(suite.Plugin, "sweep", "--region", "us-east-1")
	cmdSweep.Env = append(suite.Bed.Env(), "PACKER_BAKERY_JOURNAL_DIR="+b.journals)
	sweepOut, err := cmdSweep.CombinedOutput()
	t.Logf("sweep:\n%s", sweepOut)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	for _, want := range []string{"launch-template " + aws.ToString(lts[0].LaunchTemplateId), "fleet " + ids[2], "instance " + ids[1]} {
		if !strings.Contains(string(sweepOut), want) {
			t.Errorf("the sweep did not list %s", want)
		}
	}
	if lts := buildTemplates(t, client); len(lts) != 0 {
		t.Errorf("launch template %s survived the sweep", aws.ToString(lts[0].LaunchTemplateId))
	}
	if fleets := buildFleets(t, client); len(fleets) != 1 || !deleted(fleets[0]) {
		t.Errorf("fleet after the sweep: %v, want deleted", fleets)
	}
	assertNothingLeft(t, client)
}

// Ctrl-C and SIGTERM while a spot build provisions: the fleet, the
// instance and the launch template go like everything else.
func TestE2ESpotInterruptCleansUp(t *testing.T) {
	for _, sig := range []struct {
		name string
		send func(pid int) error
	}{
		{"ctrl-c", func(pid int) error { return syscall.Kill(-pid, syscall.SIGINT) }},
		{"sigterm", func(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }},
	} {
		t.Run(sig.name, func(t *testing.T) {
			sleeper := fmt.Sprintf("sleep 120.%d", time.Now().UnixNano()%1e6)
			t.Cleanup(func() { _ = exec.Command("pkill", "-u", suite.Bed.SSHUser, "-f", "^"+sleeper+"$").Run() })
			b := newBake(t, "echo spot-provisioning-started", sleeper)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			run := testbed.StartCmd(t, b.spotCmd(ctx))
			cmd, out := run.Cmd, run.Out
			run.UntilOutput(t, "spot-provisioning-started", "the spot build never provisioned")
			if err := sig.send(cmd.Process.Pid); err != nil {
				t.Fatal(err)
			}
			select {
			case <-run.Ended:
				err := run.Err()
				if err == nil {
					t.Error("packer build exited 0 after an interrupt")
				}
			case <-time.After(90 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Fatalf("packer did not finish within 90 s of the interrupt:\n%s", out.String())
			}
			t.Logf("output:\n%s", out.String())

			client := ec2Client(t)
			if imgs := imagesNamed(t, client, b.amiName); len(imgs) != 0 {
				t.Errorf("the interrupted build left AMI %s", aws.ToString(imgs[0].ImageId))
			}
			assertNothingLeft(t, client)
			if lts := buildTemplates(t, client); len(lts) != 0 {
				t.Errorf("launch template %s was left behind", aws.ToString(lts[0].LaunchTemplateId))
			}
			if fleets := buildFleets(t, client); len(fleets) != 1 || !deleted(fleets[0]) {
				t.Errorf("fleets after the interrupt: %v, want the build's one deleted", fleets)
			}
			if entries, _ := filepath.Glob(filepath.Join(b.journals, "*.json")); len(entries) != 0 {
				t.Errorf("journal left: %v", entries)
			}
			b.assertNoSecrets(out.String())
		})
	}
}

// The launch template holds what an on-demand launch would send: the
// instance options reach EC2 in the CreateLaunchTemplate request (moto
// keeps little of them, so the request is what is checked), and the fleet
// carries the price cap.
func TestE2ESpotBakeCarriesInstanceOptions(t *testing.T) {
	proxy := suite.Bed.Faults()
	proxy.Reset()
	root := sourceRootDevice(t)
	b := newBake(t, "true")
	b.vars = map[string]any{"root_device": root}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := b.spotCmdIn(ctx, "testdata/spot/options").CombinedOutput()
	t.Logf("packer build output:\n%s", out)
	if err != nil {
		t.Fatalf("spot bake failed: %v", err)
	}
	if n := len(proxy.Requests("ec2", "RunInstances")); n != 0 {
		t.Errorf("%d RunInstances requests in a spot bake, want none", n)
	}
	// EC2 refuses to stop the one-time spot instance of an instant fleet
	// (moto does not): the AMI is made from the running instance.
	if n := len(proxy.Requests("ec2", "StopInstances")); n != 0 {
		t.Errorf("%d StopInstances requests in a spot bake, want none", n)
	}
	if images := proxy.Requests("ec2", "CreateImage"); len(images) != 1 || images[0].Get("NoReboot") == "true" {
		t.Errorf("CreateImage requests %v: want one that reboots the running spot instance", images)
	}
	lts := proxy.Requests("ec2", "CreateLaunchTemplate")
	if len(lts) != 1 {
		t.Fatalf("%d CreateLaunchTemplate requests, want 1", len(lts))
	}
	lt := lts[0]
	wantParams(t, "CreateLaunchTemplate", lt, map[string]string{
		"LaunchTemplateData.InstanceType":                                "t3.micro",
		"LaunchTemplateData.UserData":                                    base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho spot-user-data\n")),
		"LaunchTemplateData.MetadataOptions.HttpTokens":                  "required",
		"LaunchTemplateData.MetadataOptions.HttpPutResponseHopLimit":     "2",
		"LaunchTemplateData.MetadataOptions.InstanceMetadataTags":        "enabled",
		"LaunchTemplateData.EbsOptimized":                                "true",
		"LaunchTemplateData.CreditSpecification.CpuCredits":              "unlimited",
		"LaunchTemplateData.InstanceInitiatedShutdownBehavior":           "terminate",
		"LaunchTemplateData.Placement.Tenancy":                           "dedicated",
		"LaunchTemplateData.BlockDeviceMapping.1.DeviceName":             root,
		"LaunchTemplateData.BlockDeviceMapping.1.Ebs.VolumeSize":         "20",
		"LaunchTemplateData.BlockDeviceMapping.1.Ebs.Iops":               "4000",
		"LaunchTemplateData.BlockDeviceMapping.1.Ebs.Throughput":         "250",
		"LaunchTemplateData.NetworkInterface.1.DeviceIndex":              "0",
		"LaunchTemplateData.NetworkInterface.1.AssociatePublicIpAddress": "true",
	})
	if lt.Get("LaunchTemplateData.KeyName") == "" || lt.Get("LaunchTemplateData.NetworkInterface.1.SubnetId") == "" ||
		lt.Get("LaunchTemplateData.NetworkInterface.1.SecurityGroupId.1") == "" {
		t.Errorf("the template lacks the key pair, subnet or security group: %v", lt)
	}
	if _, ok := lt["LaunchTemplateData.InstanceMarketOptions.MarketType"]; ok {
		t.Error("the template sets a market type: the fleet does")
	}
	specs := map[string]map[string]string{}
	for i := 1; lt.Get(fmt.Sprintf("LaunchTemplateData.TagSpecification.%d.ResourceType", i)) != ""; i++ {
		tags := map[string]string{}
		for j := 1; lt.Get(fmt.Sprintf("LaunchTemplateData.TagSpecification.%d.Tag.%d.Key", i, j)) != ""; j++ {
			tags[lt.Get(fmt.Sprintf("LaunchTemplateData.TagSpecification.%d.Tag.%d.Key", i, j))] = lt.Get(fmt.Sprintf("LaunchTemplateData.TagSpecification.%d.Tag.%d.Value", i, j))
		}
		specs[lt.Get(fmt.Sprintf("LaunchTemplateData.TagSpecification.%d.ResourceType", i))] = tags
	}
	if specs["instance"]["Suite"] != "spot-e2e" || specs["volume"]["Disk"] != "spot-volume" || specs["spot-instances-request"]["SpotTag"] != "spot-e2e" {
		t.Errorf("template tag specifications %v: want run_tags on the instance, run_volume_tags on volumes, spot_tags on the request", specs)
	}
	fleets := proxy.Requests("ec2", "CreateFleet")
	if len(fleets) != 1 {
		t.Fatalf("%d CreateFleet requests, want 1", len(fleets))
	}
	wantParams(t, "CreateFleet", fleets[0], map[string]string{
		"Type": "instant",
		"TargetCapacitySpecification.TotalTargetCapacity":             "1",
		"TargetCapacitySpecification.DefaultTargetCapacityType":       "spot",
		"LaunchTemplateConfigs.1.LaunchTemplateSpecification.Version": "1",
		"LaunchTemplateConfigs.1.Overrides.1.MaxPrice":                "0.05",
	})
	client := ec2Client(t)
	assertOneBake(t, client, b.amiName)
	if lts := buildTemplates(t, client); len(lts) != 0 {
		t.Errorf("launch template %s was left behind", aws.ToString(lts[0].LaunchTemplateId))
	}
}

func TestE2ESpotTemplateIsFormatted(t *testing.T) {
	cmd := exec.Command(suite.Packer, "fmt", "-check", "-diff", "-recursive", "testdata/spot")
	cmd.Env = suite.Bed.PackerEnv(suite.PluginPath, t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("packer fmt -check -recursive testdata/spot: %v\n%s", err, out)
	}
}
