//go:build e2e

package e2e_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
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
	"github.com/aws/aws-sdk-go-v2/service/sts"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

// The instance options' e2e tests bake testdata/instance, which sets every
// instance option. What moto keeps is checked through the EC2 API, as a
// user would check it in the console, while the instance runs (its volumes
// go with it). What moto drops without a trace is checked in the request
// the plugin sent, which the fault proxy records:
//   - RunInstances: Iops and Throughput of the volumes, Placement.Tenancy,
//     CreditSpecification (moto answers "standard" for every instance);
//   - CreateImage: BlockDeviceMappings (moto's AMI always shows one 15 GiB
//     "standard" volume, whatever was asked).
//
// moto also refuses an io1 or io2 launch mapping ("VolumeType requires
// Iops", having dropped the Iops), so the template's second volume is gp2;
// io1/io2 are covered by the unit tests only.

// instanceCmd is `packer build testdata/instance` for b, with more vars.
func (b *bake) instanceCmd(ctx context.Context, vars map[string]any) *exec.Cmd {
	b.t.Helper()
	values := map[string]any{
		"access_key":  "AKIDBAKERYE2E",
		"secret_key":  b.secret,
		"ami_name":    b.amiName,
		"commands":    b.commands,
		"root_device": sourceRootDevice(b.t),
	}
	for k, v := range vars {
		values[k] = v
	}
	data, err := json.Marshal(values)
	if err != nil {
		b.t.Fatal(err)
	}
	varFile := filepath.Join(filepath.Dir(b.tmp), "vars.pkrvars.json")
	if err := os.WriteFile(varFile, data, 0o600); err != nil {
		b.t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, suite.Packer, "build", "-color=false", "-var-file="+varFile, "testdata/instance")
	cmd.Env = append(suite.Bed.PackerEnv(suite.PluginPath, filepath.Join(filepath.Dir(b.tmp), "packer-config")),
		"PACKER_LOG=1",
		"PACKER_BAKERY_JOURNAL_DIR="+b.journals,
		"PACKER_LOG_PATH="+b.logPath,
		"TMPDIR="+b.tmp,
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// sourceRootDevice is the root device name of the AMI the template's
// filter selects: the launch and AMI mappings override it.
func sourceRootDevice(t *testing.T) string {
	t.Helper()
	out, err := ec2Client(t).DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{newestSourceAMI(t, ec2Client(t))}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("describing the source AMI: %v", err)
	}
	return aws.ToString(out.Images[0].RootDeviceName)
}

func TestE2EInstanceOptions(t *testing.T) {
	release := filepath.Join("/home", suite.Bed.SSHUser, "bakery-e2e-release-"+testbed.RandomHex(4))
	t.Cleanup(func() { os.Remove(release) })
	// The provisioner holds the build until the test has looked at the
	// running instance and its volumes.
	b := newBake(t, "echo instance-provisioning", "timeout 120 sh -c 'until [ -e "+release+" ]; do sleep 0.2; done'")
	proxy := suite.Bed.Faults()
	root := sourceRootDevice(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := testbed.StartCmd(t, b.instanceCmd(ctx, nil))
	out := run.Out
	run.UntilOutput(t, "instance-provisioning", "the build never provisioned")

	client := ec2Client(t)
	instances := buildInstances(t, client)
	if len(instances) != 1 {
		_ = os.WriteFile(release, nil, 0o644)
		t.Fatalf("%d instances launched, want 1", len(instances))
	}
	inst := instances[0]
	id := aws.ToString(inst.InstanceId)
	checkRunningInstance(t, client, inst, root)

	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := run.Result(t, ctx)
	t.Logf("packer build output:\n%s", out.String())
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	b.assertNoSecrets(out.String())

	// What moto drops, checked in the requests.
	launches := proxy.Requests("ec2", "RunInstances")
	if len(launches) != 1 {
		t.Fatalf("%d RunInstances requests, want 1", len(launches))
	}
	wantParams(t, "RunInstances", launches[0], map[string]string{
		"Placement.Tenancy":                            "dedicated",
		"CreditSpecification.CpuCredits":               "unlimited",
		"InstanceInitiatedShutdownBehavior":            "stop",
		"BlockDeviceMapping.1.DeviceName":              root,
		"BlockDeviceMapping.1.Ebs.Iops":                "4000",
		"BlockDeviceMapping.1.Ebs.Throughput":          "250",
		"BlockDeviceMapping.1.Ebs.DeleteOnTermination": "true",
		"BlockDeviceMapping.2.DeviceName":              "/dev/sdf",
		"BlockDeviceMapping.2.Ebs.DeleteOnTermination": "true",
	})
	images := proxy.Requests("ec2", "CreateImage")
	if len(images) != 1 {
		t.Fatalf("%d CreateImage requests, want 1", len(images))
	}
	wantParams(t, "CreateImage", images[0], map[string]string{
		"InstanceId":                          id,
		"BlockDeviceMapping.1.DeviceName":     root,
		"BlockDeviceMapping.1.Ebs.VolumeSize": "30",
		"BlockDeviceMapping.1.Ebs.VolumeType": "gp3",
		"BlockDeviceMapping.1.Ebs.Iops":       "5000",
		"BlockDeviceMapping.1.Ebs.Throughput": "500",
		"BlockDeviceMapping.2.DeviceName":     "/dev/sdf",
		"BlockDeviceMapping.2.NoDevice":       "",
	})
	if _, ok := images[0]["BlockDeviceMapping.1.Ebs.DeleteOnTermination"]; ok {
		t.Errorf("CreateImage sent DeleteOnTermination for an AMI mapping that did not set it: %v", images[0])
	}

	assertOneBake(t, client, b.amiName)
	// delete_on_termination defaults to true for launch volumes: none of
	// the build's volumes outlives it.
	vols, err := client.DescribeVolumes(context.Background(), &ec2.DescribeVolumesInput{
		Filters: []types.Filter{{Name: aws.String("tag-key"), Values: []string{"bakery:build-id"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vols.Volumes {
		t.Errorf("volume %s (%s, %d GiB) outlived the build", aws.ToString(v.VolumeId), v.VolumeType, aws.ToInt32(v.Size))
	}
}

// checkRunningInstance checks, through the EC2 API, what the options made
// of the running build instance.
func checkRunningInstance(t *testing.T, client *ec2.Client, inst types.Instance, root string) {
	t.Helper()
	ctx := context.Background()
	id := aws.ToString(inst.InstanceId)

	m := inst.MetadataOptions
	if m == nil || m.HttpTokens != types.HttpTokensStateRequired || m.HttpEndpoint != types.InstanceMetadataEndpointStateEnabled ||
		aws.ToInt32(m.HttpPutResponseHopLimit) != 2 || m.InstanceMetadataTags != types.InstanceMetadataTagsStateEnabled {
		t.Errorf("metadata options %+v: want tokens required, endpoint enabled, hop limit 2, tags enabled", m)
	}
	if !aws.ToBool(inst.EbsOptimized) {
		t.Error("the instance is not EBS-optimized")
	}

	attr, err := client.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: types.InstanceAttributeNameUserData})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/instance/user-data.sh")
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	if attr.UserData != nil {
		got, err = base64.StdEncoding.DecodeString(aws.ToString(attr.UserData.Value))
		if err != nil {
			t.Errorf("user data is not base64: %q", aws.ToString(attr.UserData.Value))
		}
	}
	if string(got) != string(want) {
		t.Errorf("user data %q, want user-data.sh's %q", got, want)
	}
	attr, err = client.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: types.InstanceAttributeNameInstanceInitiatedShutdownBehavior})
	if err != nil {
		t.Fatal(err)
	}
	if attr.InstanceInitiatedShutdownBehavior == nil || aws.ToString(attr.InstanceInitiatedShutdownBehavior.Value) != "stop" {
		t.Errorf("shutdown behaviour %v, want stop", attr.InstanceInitiatedShutdownBehavior)
	}

	// run_tags go to the instance only; run_volume_tags to the volumes
	// only; the build's own tags to both.
	tags := tagMap(inst.Tags)
	buildID := tags["bakery:build-id"]
	if tags["Suite"] != "e2e-instance" || tags["Name"] != "Packer Builder" || buildID == "" || tags["bakery:created-at"] == "" {
		t.Errorf("instance tags %v: want run_tags, the default Name and the build's tags", tags)
	}
	if _, ok := tags["Disk"]; ok {
		t.Errorf("instance tags %v include run_volume_tags", tags)
	}
	// The generated policy destroys only what carries its holder's ARN.
	principal := callerPrincipal(t)
	if tags[bakery.TagPrincipal] != principal {
		t.Errorf("instance tag %s = %q, want the build's principal %q", bakery.TagPrincipal, tags[bakery.TagPrincipal], principal)
	}
	vols, err := client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{
		Filters: []types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{id}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	byDevice := map[string]types.Volume{}
	for _, v := range vols.Volumes {
		for _, a := range v.Attachments {
			byDevice[aws.ToString(a.Device)] = v
		}
		vt := tagMap(v.Tags)
		if vt["Disk"] != "build-volume" || vt["bakery:build-id"] != buildID || vt["bakery:created-by"] == "" || vt[bakery.TagPrincipal] != principal {
			t.Errorf("volume %s tags %v: want run_volume_tags and the build's tags (build %s)", aws.ToString(v.VolumeId), vt, buildID)
		}
		if _, ok := vt["Suite"]; ok {
			t.Errorf("volume %s tags %v include run_tags", aws.ToString(v.VolumeId), vt)
		}
	}
	for device, want := range map[string]struct {
		size int32
		typ  types.VolumeType
	}{root: {20, types.VolumeTypeGp3}, "/dev/sdf": {5, types.VolumeTypeGp2}} {
		v, ok := byDevice[device]
		if !ok {
			t.Errorf("no volume at %s; volumes: %v", device, keys(byDevice))
			continue
		}
		if aws.ToInt32(v.Size) != want.size || v.VolumeType != want.typ {
			t.Errorf("volume at %s is %d GiB %s, want %d GiB %s", device, aws.ToInt32(v.Size), v.VolumeType, want.size, want.typ)
		}
	}
	if len(byDevice) != 2 {
		t.Errorf("%d volumes attached (%v), want the 2 the launch mappings give", len(byDevice), keys(byDevice))
	}
}

func TestE2EDisableStopInstance(t *testing.T) {
	b := newBake(t, "true")
	proxy := suite.Bed.Faults()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := b.instanceCmd(ctx, map[string]any{
		"disable_stop_instance": true,
		"python":                filepath.Join(testbed.CacheDir(suite.Root), "venv", "bin", "python"),
	})
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	t.Logf("packer build output:\n%s", out)
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	b.assertNoSecrets(out)

	stopped := regexp.MustCompile(`provisioner stopped (i-[0-9a-f]+)`).FindStringSubmatch(out)
	if stopped == nil {
		t.Fatal("the provisioner did not stop the instance")
	}
	if !strings.Contains(out, "disable_stop_instance: not stopping instance "+stopped[1]) {
		t.Error("the build did not say it leaves the stop to the provisioner")
	}
	// The provisioner's call is the only one: the builder made none.
	stops := proxy.Requests("ec2", "StopInstances")
	if len(stops) != 1 || stops[0].Get("InstanceId.1") != stopped[1] {
		t.Errorf("StopInstances requests %v, want only the provisioner's, of %s", stops, stopped[1])
	}
	// Stopping came after provisioning and before the image.
	if i, j := strings.Index(out, "provisioner stopped"), strings.Index(out, "Creating AMI"); i < 0 || j < 0 || i > j {
		t.Error("the AMI was not created after the provisioner's stop")
	}
	images := imagesNamed(t, ec2Client(t), b.amiName)
	if len(images) != 1 || aws.ToString(images[0].SourceInstanceId) != stopped[1] {
		t.Errorf("AMIs named %s: %d, want 1 made from %s", b.amiName, len(images), stopped[1])
	}
	assertOneBake(t, ec2Client(t), b.amiName)
}

func wantParams(t *testing.T, action string, got url.Values, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if vs, ok := got[k]; !ok || len(vs) != 1 || vs[0] != v {
			t.Errorf("%s sent %s=%q, want %q", action, k, got[k], v)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// callerPrincipal is the aws:PrincipalArn of the bed's credentials.
func callerPrincipal(t *testing.T) string {
	t.Helper()
	cfg, err := suite.Bed.AWSConfig(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	return bakery.PrincipalARN(aws.ToString(out.Arn))
}
