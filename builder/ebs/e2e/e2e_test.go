//go:build e2e

// End-to-end tests: the real packer binary runs the plugin built from this
// checkout against the offline test-bed (moto + a local sshd), and the
// results are checked through the EC2 API and on the "instance" itself.
// Run with `make e2e` (it installs the test-bed first).
package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
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

var suite testbed.Suite

func TestMain(m *testing.M) {
	// The fault proxy sits in front of the emulator for every test; it
	// injects nothing until a test configures it.
	os.Exit(testbed.RunSuite(m, testbed.Options{FaultProxy: true}, &suite))
}

func command(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	return cmd
}

// bake is one `packer build` of testdata/bake.
type bake struct {
	t        *testing.T
	amiName  string
	secret   string // the template's secret_key: must never show up anywhere
	tmp      string // TMPDIR of packer and the plugin
	logPath  string // PACKER_LOG_PATH
	commands []string
	vars     map[string]any // more template variables, e.g. ssh_port
	journals string         // PACKER_BAKERY_JOURNAL_DIR
	dir      string         // the template folder; "" is testdata/bake
	env      []string       // more environment for packer
}

func newBake(t *testing.T, commands ...string) *bake {
	t.Helper()
	suite.Bed.ResetAfter(t)
	dir := t.TempDir()
	b := &bake{
		t:        t,
		amiName:  "bakery-e2e-" + testbed.RandomHex(4),
		secret:   "e2eSecret" + testbed.RandomHex(16),
		tmp:      filepath.Join(dir, "tmp"),
		logPath:  filepath.Join(dir, "packer.log"),
		journals: filepath.Join(dir, "journal"),
		commands: commands,
	}
	if err := os.MkdirAll(b.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *bake) cmd(ctx context.Context) *exec.Cmd {
	b.t.Helper()
	values := map[string]any{
		"access_key": "AKIDBAKERYE2E",
		"secret_key": b.secret,
		"ami_name":   b.amiName,
		"commands":   b.commands,
	}
	for k, v := range b.vars {
		values[k] = v
	}
	vars, err := json.Marshal(values)
	if err != nil {
		b.t.Fatal(err)
	}
	varFile := filepath.Join(filepath.Dir(b.tmp), "vars.pkrvars.json")
	if err := os.WriteFile(varFile, vars, 0o600); err != nil {
		b.t.Fatal(err)
	}
	dir := b.dir
	if dir == "" {
		dir = "testdata/bake"
	}
	cmd := exec.CommandContext(ctx, suite.Packer, "build", "-color=false", "-var-file="+varFile, dir)
	cmd.Env = append(suite.Bed.PackerEnv(suite.PluginPath, filepath.Join(filepath.Dir(b.tmp), "packer-config")),
		"PACKER_LOG=1",
		"PACKER_BAKERY_JOURNAL_DIR="+b.journals,
		"PACKER_LOG_PATH="+b.logPath,
		"TMPDIR="+b.tmp,
	)
	cmd.Env = append(cmd.Env, b.env...)
	// Its own process group, so an interrupt can reach packer and the
	// plugin the way a terminal's Ctrl-C does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// runAbort is run with `-on-error=abort`.
func (b *bake) runAbort() (string, error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := b.cmd(ctx)
	cmd.Args = append(cmd.Args[:2], append([]string{"-on-error=abort"}, cmd.Args[2:]...)...)
	out, err := cmd.CombinedOutput()
	b.t.Logf("packer build -on-error=abort:\n%s", out)
	return string(out), err
}

// run builds and returns the combined output and the error of packer.
func (b *bake) run() (string, error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := b.cmd(ctx)
	out, err := cmd.CombinedOutput()
	b.t.Logf("packer build output:\n%s", out)
	return string(out), err
}

// assertNoSecrets checks the terminal output, the PACKER_LOG file and every
// file packer or the plugin left in TMPDIR for the secret key and any
// private key.
func (b *bake) assertNoSecrets(output string) {
	b.t.Helper()
	log, err := os.ReadFile(b.logPath)
	if err != nil {
		b.t.Fatalf("reading PACKER_LOG output: %v", err)
	}
	if len(log) == 0 {
		b.t.Fatal("PACKER_LOG output is empty: the check below would prove nothing")
	}
	for name, text := range map[string]string{"terminal output": output, "PACKER_LOG": string(log)} {
		if strings.Contains(text, b.secret) {
			b.t.Errorf("%s shows the secret key", name)
		}
		if strings.Contains(text, "PRIVATE KEY") {
			b.t.Errorf("%s shows a private key", name)
		}
	}
	err = filepath.WalkDir(b.tmp, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err == nil && (bytes.Contains(data, []byte("PRIVATE KEY")) || bytes.Contains(data, []byte(b.secret))) {
			b.t.Errorf("%s, left in TMPDIR, holds a secret", path)
		}
		return nil
	})
	if err != nil {
		b.t.Fatal(err)
	}
}

func ec2Client(t *testing.T) *ec2.Client {
	t.Helper()
	client, err := suite.Bed.EC2(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func imagesNamed(t *testing.T, client *ec2.Client, name string) []types.Image {
	t.Helper()
	out, err := client.DescribeImages(context.Background(), &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Images
}

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, tag := range tags {
		m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return m
}

// buildInstances returns every instance a bake launched (they carry the
// bakery:build-id tag).
func buildInstances(t *testing.T, client *ec2.Client) []types.Instance {
	t.Helper()
	out, err := client.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{
		Filters: []types.Filter{{Name: aws.String("tag-key"), Values: []string{"bakery:build-id"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var all []types.Instance
	for _, r := range out.Reservations {
		all = append(all, r.Instances...)
	}
	return all
}

// assertNothingLeft checks that every instance is terminated and that no
// key pair or non-default security group remains.
func assertNothingLeft(t *testing.T, client *ec2.Client) {
	t.Helper()
	ctx := context.Background()
	instances := buildInstances(t, client)
	if len(instances) == 0 {
		t.Error("no instance carries the bakery:build-id tag: the bake launched nothing, or did not tag at launch")
	}
	for _, inst := range instances {
		if inst.State.Name != types.InstanceStateNameTerminated {
			t.Errorf("instance %s is %s, want terminated", aws.ToString(inst.InstanceId), inst.State.Name)
		}
	}
	keys, err := client.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.KeyPairs {
		t.Errorf("key pair %s was left behind", aws.ToString(k.KeyName))
	}
	groups, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.SecurityGroups {
		if aws.ToString(g.GroupName) != "default" {
			t.Errorf("security group %s (%s) was left behind", aws.ToString(g.GroupId), aws.ToString(g.GroupName))
		}
	}
}

func TestE2EBakeCreatesTaggedAMIAndCleansUp(t *testing.T) {
	marker := filepath.Join("/home", suite.Bed.SSHUser, "bakery-e2e-"+testbed.RandomHex(4))
	t.Cleanup(func() { os.Remove(marker) })
	b := newBake(t,
		"echo baked-by-$(id -un) > "+marker,
		"sudo -n true",
	)
	out, err := b.run()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	b.assertNoSecrets(out)

	client := ec2Client(t)
	images := imagesNamed(t, client, b.amiName)
	if len(images) != 1 {
		t.Fatalf("found %d AMIs named %s, want 1", len(images), b.amiName)
	}
	img := images[0]
	if img.State != types.ImageStateAvailable {
		t.Errorf("AMI state %s, want available", img.State)
	}
	if got := aws.ToString(img.Description); got != "bakery e2e" {
		t.Errorf("AMI description %q", got)
	}
	if got, want := tagMap(img.Tags), productTags(t, map[string]string{"Name": b.amiName, "Suite": "e2e"}); !equalMaps(got, want) {
		t.Errorf("AMI tags %v, want %v", got, want)
	}
	if !strings.Contains(out, "us-east-1: "+aws.ToString(img.ImageId)) {
		t.Errorf("packer did not report the artifact us-east-1: %s", aws.ToString(img.ImageId))
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
		if got, want := tagMap(s.Tags), productTags(t, map[string]string{"Name": b.amiName, "Suite": "e2e", "Snapshot": "yes"}); !equalMaps(got, want) {
			t.Errorf("snapshot %s tags %v, want %v", aws.ToString(s.SnapshotId), got, want)
		}
	}

	instances := buildInstances(t, client)
	if len(instances) != 1 {
		t.Fatalf("%d instances launched, want 1", len(instances))
	}
	inst := instances[0]
	tags := tagMap(inst.Tags)
	if tags["Suite"] != "e2e" || tags["Name"] != "Packer Builder" {
		t.Errorf("instance tags %v: want run_tags and the default Name", tags)
	}
	if want := newestSourceAMI(t, client); aws.ToString(inst.ImageId) != want {
		t.Errorf("instance launched from %s, want the newest match of source_ami_filter %s", aws.ToString(inst.ImageId), want)
	}
	if inst.MetadataOptions == nil || inst.MetadataOptions.HttpTokens != types.HttpTokensStateRequired {
		t.Errorf("instance metadata options %+v: want IMDSv2 tokens required", inst.MetadataOptions)
	}
	if aws.ToString(inst.KeyName) == "" {
		t.Error("the instance was launched without a key pair")
	}
	assertNothingLeft(t, client)

	data, err := os.ReadFile(marker)
	if err != nil {
		t.Fatalf("the provisioner's file is not on the instance: %v", err)
	}
	if got := strings.TrimSpace(string(data)); got != "baked-by-"+suite.Bed.SSHUser {
		t.Errorf("provisioner wrote %q, want it to run as %s", got, suite.Bed.SSHUser)
	}
	if !strings.Contains(out, "access_key") || !strings.Contains(out, "account 123456789012") {
		t.Errorf("the build did not report its credential source and account")
	}
}

func TestE2EFailingProvisionerLeavesNothing(t *testing.T) {
	b := newBake(t, "echo about to fail", "exit 3")
	out, err := b.run()
	if err == nil {
		t.Fatal("packer build succeeded although the provisioner failed")
	}
	if !strings.Contains(out, "exit status 3") && !strings.Contains(out, "non-zero exit status: 3") {
		t.Errorf("the output does not say why the build failed")
	}
	b.assertNoSecrets(out)
	client := ec2Client(t)
	if imgs := imagesNamed(t, client, b.amiName); len(imgs) != 0 {
		t.Errorf("an AMI was created by a failed build: %s", aws.ToString(imgs[0].ImageId))
	}
	assertNothingLeft(t, client)
}

// TestE2EInterruptCleansUp interrupts a bake in each of its long phases,
// the way a terminal's Ctrl-C does (SIGINT to packer's process group) and
// the way a CI runner cancels a job (SIGTERM to packer), and checks that the
// build ends promptly and leaves nothing behind. The fault proxy makes each
// wait last long enough to be interrupted in.
func TestE2EInterruptCleansUp(t *testing.T) {
	slow := 30 * time.Second
	phases := []struct {
		name      string
		readiness faultproxy.Readiness
		reached   string // output that shows the build is in the phase
		closedSSH bool   // point the communicator at a port nobody listens on
	}{
		{name: "launch", readiness: faultproxy.Readiness{InstancePending: slow}, reached: "to run (now pending"},
		{name: "ssh-wait", closedSSH: true, reached: "Waiting for SSH to become available"},
		{name: "provisioning", reached: "provisioning-started"},
		{name: "stop", readiness: faultproxy.Readiness{InstanceStopping: slow}, reached: "to stop (now stopping"},
		{name: "image", readiness: faultproxy.Readiness{ImagePending: slow}, reached: "to become available (now pending"},
	}
	signals := []struct {
		name string
		send func(pid int) error
	}{
		{"ctrl-c", func(pid int) error { return syscall.Kill(-pid, syscall.SIGINT) }},
		{"sigterm", func(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }},
	}
	for _, phase := range phases {
		for _, sig := range signals {
			t.Run(phase.name+"/"+sig.name, func(t *testing.T) {
				withFaults(t, faultproxy.Config{Readiness: phase.readiness})
				// The test-bed's "instance" outlives the build, and so would
				// a sleep whose SSH session was cut: give it a unique argv
				// to kill it by.
				sleeper := fmt.Sprintf("sleep 120.%d", time.Now().UnixNano()%1e6)
				t.Cleanup(func() { _ = exec.Command("pkill", "-u", suite.Bed.SSHUser, "-f", "^"+sleeper+"$").Run() })
				commands := []string{"true"}
				if phase.name == "provisioning" {
					commands = []string{"echo provisioning-started", sleeper}
				}
				b := newBake(t, commands...)
				if phase.closedSSH {
					b.vars = map[string]any{"ssh_port": closedPort(t)}
				}
				out := b.interruptWhen(phase.reached, sig.send)

				client := ec2Client(t)
				if imgs := imagesNamed(t, client, b.amiName); len(imgs) != 0 {
					t.Errorf("the interrupted build left AMI %s", aws.ToString(imgs[0].ImageId))
				}
				assertNothingLeft(t, client)
				b.assertNoSecrets(out)
			})
		}
	}
}

// interruptWhen starts the bake, sends the signal once the output shows
// reached, and returns the output after packer has ended.
func (b *bake) interruptWhen(reached string, send func(pid int) error) string {
	t := b.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := b.cmd(ctx)
	out := &testbed.Output{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	if !testbed.WaitFor(func() bool { return strings.Contains(out.String(), reached) }, done, 2*time.Minute) {
		t.Fatalf("the build never reached %q:\n%s", reached, out.String())
	}
	interrupted := time.Now()
	if err := send(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("packer build exited 0 after an interrupt")
		}
	case <-time.After(90 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("packer did not finish within 90 s of the interrupt:\n%s", out.String())
	}
	t.Logf("packer ended %s after the interrupt; output:\n%s", time.Since(interrupted).Round(time.Millisecond), out.String())
	return out.String()
}

// closedPort is a loopback port nobody listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// newestSourceAMI is what the template's source_ami_filter should select.
func newestSourceAMI(t *testing.T, client *ec2.Client) string {
	t.Helper()
	out, err := client.DescribeImages(context.Background(), &ec2.DescribeImagesInput{
		Owners:  []string{"137112412989"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"amzn2-ami-hvm-*-x86_64-gp2"}}},
	})
	if err != nil || len(out.Images) == 0 {
		t.Fatalf("no source AMI candidates: %v", err)
	}
	newest := out.Images[0]
	for _, img := range out.Images[1:] {
		if aws.ToString(img.CreationDate) > aws.ToString(newest.CreationDate) {
			newest = img
		}
	}
	return aws.ToString(newest.ImageId)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestE2ETemplatesValidate runs `packer validate` (which runs the plugin's
// Prepare) and `packer fmt -check` on the templates of this package's bakes;
// example/example_e2e_test.go does the same for every example.
func TestE2ETemplatesValidate(t *testing.T) {
	b := newBake(t, "true")
	vars, err := json.Marshal(map[string]any{"access_key": "AKIDBAKERYE2E", "secret_key": b.secret, "ami_name": b.amiName, "commands": b.commands})
	if err != nil {
		t.Fatal(err)
	}
	varFile := filepath.Join(t.TempDir(), "vars.pkrvars.json")
	if err := os.WriteFile(varFile, vars, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir  string
		args []string
	}{
		{dir: "builder/ebs/e2e/testdata/bake", args: []string{"-var-file=" + varFile}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			for _, args := range [][]string{
				append(append([]string{"validate"}, tc.args...), tc.dir),
				{"fmt", "-check", "-diff", tc.dir},
			} {
				cmd := command(suite.Root, suite.Packer, args...)
				cmd.Env = suite.Bed.PackerEnv(suite.PluginPath, t.TempDir())
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("packer %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
		})
	}
}

// withFaults makes the emulator misbehave for one test.
func withFaults(t *testing.T, cfg faultproxy.Config) *faultproxy.Proxy {
	t.Helper()
	p := suite.Bed.Faults()
	if err := p.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.SetConfig(faultproxy.Config{}); err != nil {
			t.Error(err)
		}
	})
	return p
}

// assertOneBake checks what a successful bake must leave: one instance
// launched (now terminated), one AMI of that name, nothing temporary.
func assertOneBake(t *testing.T, client *ec2.Client, amiName string) {
	t.Helper()
	if n := len(buildInstances(t, client)); n != 1 {
		t.Errorf("%d instances were launched, want exactly 1", n)
	}
	if n := len(imagesNamed(t, client, amiName)); n != 1 {
		t.Errorf("%d AMIs named %s, want exactly 1", n, amiName)
	}
	assertNothingLeft(t, client)
}

// TestE2ELostRepliesAreAdopted loses the reply to the first call of each
// create and delete the bake makes: the call takes effect, the SDK retries,
// and the retry meets what the first attempt did. The stock builder fails
// (and leaks) exactly there.
func TestE2ELostRepliesAreAdopted(t *testing.T) {
	for _, action := range []string{
		"ImportKeyPair", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "RunInstances",
		"CreateImage", "CreateTags", "TerminateInstances", "DeleteSecurityGroup", "DeleteKeyPair",
	} {
		t.Run(action, func(t *testing.T) {
			proxy := withFaults(t, faultproxy.Config{
				LoseReply: faultproxy.Fault{Rate: 1, Actions: []string{action}, Max: 1},
			})
			b := newBake(t, "true")
			out, err := b.run()
			if err != nil {
				t.Fatalf("packer build failed after one lost %s reply: %v", action, err)
			}
			if got := proxy.Injected()[faultproxy.KindLoseReply]; got != 1 {
				t.Fatalf("the proxy lost %d replies, want 1: the test did not test anything", got)
			}
			if strings.Contains(out, "Could not delete") {
				t.Errorf("cleanup reported a failure")
			}
			assertOneBake(t, ec2Client(t), b.amiName)
		})
	}
}

// TestE2ESweepAfterKill kills one build with SIGKILL mid-launch, while a
// second build is provisioning, then sweeps: the dead build's instance,
// security group and key pair go; the live build is untouched and then
// finishes its own cleanup.
func TestE2ESweepAfterKill(t *testing.T) {
	withFaults(t, faultproxy.Config{Readiness: faultproxy.Readiness{InstancePending: time.Minute}})
	journals := filepath.Join(t.TempDir(), "journal")

	dead := newBake(t, "true")
	dead.journals = journals
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	deadRun := testbed.StartCmd(t, dead.cmd(ctx))
	deadRun.UntilOutput(t, "to run (now pending", "the first build never launched")
	deadRun.Kill()
	deadOut := deadRun.Out
	deadInstance := regexp.MustCompile(`Instance (i-[0-9a-f]+) launched`).FindStringSubmatch(deadOut.String())
	if deadInstance == nil {
		t.Fatalf("no instance ID in the killed build's output:\n%s", deadOut.String())
	}
	if err := suite.Bed.Faults().SetConfig(faultproxy.Config{}); err != nil {
		t.Fatal(err)
	}

	sleeper := fmt.Sprintf("sleep 120.%d", time.Now().UnixNano()%1e6)
	t.Cleanup(func() { _ = exec.Command("pkill", "-u", suite.Bed.SSHUser, "-f", "^"+sleeper+"$").Run() })
	live := newBake(t, "echo provisioning-started", sleeper)
	live.journals = journals
	liveCmd := live.cmd(ctx)
	liveOut := &testbed.Output{}
	liveCmd.Stdout, liveCmd.Stderr = liveOut, liveOut
	if err := liveCmd.Start(); err != nil {
		t.Fatal(err)
	}
	liveDone := make(chan error, 1)
	go func() { liveDone <- liveCmd.Wait() }()
	defer func() { _ = syscall.Kill(-liveCmd.Process.Pid, syscall.SIGKILL) }()
	if !testbed.WaitFor(func() bool { return strings.Contains(liveOut.String(), "provisioning-started") }, liveDone, 2*time.Minute) {
		t.Fatalf("the second build never started provisioning:\n%s", liveOut.String())
	}

	sweep := func(args ...string) string {
		cmd := exec.Command(suite.Plugin, append([]string{"sweep", "--region", "us-east-1"}, args...)...)
		cmd.Env = append(suite.Bed.Env(), "PACKER_BAKERY_JOURNAL_DIR="+journals)
		out, err := cmd.CombinedOutput()
		t.Logf("sweep %v:\n%s", args, out)
		if err != nil {
			t.Fatalf("sweep %v: %v", args, err)
		}
		return string(out)
	}
	client := ec2Client(t)
	states := func() map[string]types.InstanceStateName {
		m := map[string]types.InstanceStateName{}
		for _, inst := range buildInstances(t, client) {
			m[aws.ToString(inst.InstanceId)] = inst.State.Name
		}
		return m
	}

	out := sweep("--dry-run")
	if !strings.Contains(out, "would be removed (dry run)") || !strings.Contains(out, deadInstance[1]) || !strings.Contains(out, "still running") {
		t.Errorf("the dry run does not list the dead build for removal and the live one as running")
	}
	if s := states()[deadInstance[1]]; s != types.InstanceStateNameRunning {
		t.Fatalf("after a dry run the dead build's instance is %s, want untouched (running)", s)
	}

	sweep()
	after := states()
	if s := after[deadInstance[1]]; s != types.InstanceStateNameTerminated {
		t.Errorf("the dead build's instance is %s after the sweep, want terminated", s)
	}
	running := 0
	for id, s := range after {
		if id != deadInstance[1] && s == types.InstanceStateNameRunning {
			running++
		}
	}
	if running != 1 {
		t.Errorf("%d live instances after the sweep, want the live build's 1: %v", running, after)
	}
	keys, err := client.DescribeKeyPairs(context.Background(), &ec2.DescribeKeyPairsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.KeyPairs) != 1 {
		t.Errorf("%d key pairs after the sweep, want only the live build's", len(keys.KeyPairs))
	}

	// The live build ends normally (interrupted here) and cleans up its own.
	_ = syscall.Kill(-liveCmd.Process.Pid, syscall.SIGINT)
	select {
	case <-liveDone:
	case <-time.After(90 * time.Second):
		t.Fatal("the live build did not end")
	}
	assertNothingLeft(t, client)
	if entries, _ := filepath.Glob(filepath.Join(journals, "*.json")); len(entries) != 0 {
		t.Errorf("journals left after both builds were cleaned: %v", entries)
	}
}

// TestE2EOnErrorAbortSaysWhatWasKept: with -on-error=abort packer skips
// every cleanup on purpose; the build must say exactly what it kept, and
// the sweep it names must remove it.
func TestE2EOnErrorAbortSaysWhatWasKept(t *testing.T) {
	b := newBake(t, "exit 7")
	out, err := b.runAbort()
	if err == nil {
		t.Fatal("the build succeeded although its provisioner failed")
	}
	client := ec2Client(t)
	instances := buildInstances(t, client)
	if len(instances) != 1 || instances[0].State.Name != types.InstanceStateNameRunning {
		t.Fatalf("-on-error=abort should keep the instance running, got %v", instances)
	}
	keys, err := client.DescribeKeyPairs(context.Background(), &ec2.DescribeKeyPairsInput{})
	if err != nil || len(keys.KeyPairs) != 1 {
		t.Fatalf("-on-error=abort should keep the key pair: %v %v", keys, err)
	}
	groups, err := client.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{{Name: aws.String("tag-key"), Values: []string{"bakery:build-id"}}},
	})
	if err != nil || len(groups.SecurityGroups) != 1 {
		t.Fatalf("-on-error=abort should keep the security group: %v %v", groups, err)
	}
	for _, kept := range []string{
		"instance " + aws.ToString(instances[0].InstanceId),
		"key-pair " + aws.ToString(keys.KeyPairs[0].KeyName),
		"security-group " + aws.ToString(groups.SecurityGroups[0].GroupId),
		"packer-plugin-bakery sweep --region us-east-1 --build-id ",
	} {
		if !strings.Contains(out, kept) {
			t.Errorf("the build did not say it kept %q", kept)
		}
	}

	m := regexp.MustCompile(`sweep --region us-east-1 --build-id (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no sweep command in the output")
	}
	sweep := exec.Command(suite.Plugin, "sweep", "--region", "us-east-1", "--build-id", m[1])
	sweep.Env = append(suite.Bed.Env(), "PACKER_BAKERY_JOURNAL_DIR="+b.journals)
	if sout, err := sweep.CombinedOutput(); err != nil {
		t.Fatalf("the sweep the build named failed: %v\n%s", err, sout)
	}
	assertNothingLeft(t, client)
}

// TestE2ESSHTimeoutIsExplained: when SSH never answers, the build says what
// it tried and what the security group admits, then cleans up.
func TestE2ESSHTimeoutIsExplained(t *testing.T) {
	b := newBake(t, "true")
	port := closedPort(t)
	b.vars = map[string]any{"ssh_port": port, "ssh_timeout": "3s"}
	out, err := b.run()
	if err == nil {
		t.Fatal("the build succeeded without SSH")
	}
	for _, want := range []string{
		"Timeout waiting for SSH.",
		fmt.Sprintf("127.0.0.1:%d as user %q with the temporary ed25519 key of key pair packer_bakery_", port, suite.Bed.SSHUser),
		"127.0.0.1 is NOT one of the instance's addresses",
		fmt.Sprintf("admits tcp port %d from 0.0.0.0/0", port),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q", want)
		}
	}
	assertNothingLeft(t, ec2Client(t))
}

// TestE2EKillThenSweep kills packer and the plugin with SIGKILL in each long
// phase of a bake, where no cleanup can run, then sweeps: nothing is left,
// not even the half-made AMI of a build killed while imaging.
func TestE2EKillThenSweep(t *testing.T) {
	slow := time.Minute
	for _, phase := range []struct {
		name      string
		readiness faultproxy.Readiness
		reached   string
		closedSSH bool
	}{
		{name: "launch", readiness: faultproxy.Readiness{InstancePending: slow}, reached: "to run (now pending"},
		{name: "ssh-wait", closedSSH: true, reached: "Waiting for SSH to become available"},
		{name: "provisioning", reached: "provisioning-started"},
		{name: "stop", readiness: faultproxy.Readiness{InstanceStopping: slow}, reached: "to stop (now stopping"},
		{name: "image", readiness: faultproxy.Readiness{ImagePending: slow}, reached: "to become available (now pending"},
	} {
		t.Run(phase.name, func(t *testing.T) {
			withFaults(t, faultproxy.Config{Readiness: phase.readiness})
			sleeper := fmt.Sprintf("sleep 120.%d", time.Now().UnixNano()%1e6)
			t.Cleanup(func() { _ = exec.Command("pkill", "-u", suite.Bed.SSHUser, "-f", "^"+sleeper+"$").Run() })
			commands := []string{"true"}
			if phase.name == "provisioning" {
				commands = []string{"echo provisioning-started", sleeper}
			}
			b := newBake(t, commands...)
			if phase.closedSSH {
				b.vars = map[string]any{"ssh_port": closedPort(t)}
			}
			b.interruptWhen(phase.reached, func(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) })

			client := ec2Client(t)
			if n := len(buildInstances(t, client)); n != 1 {
				t.Fatalf("%d instances after the kill, want the 1 the build launched", n)
			}
			sweep := exec.Command(suite.Plugin, "sweep", "--region", "us-east-1")
			sweep.Env = append(suite.Bed.Env(), "PACKER_BAKERY_JOURNAL_DIR="+b.journals)
			out, err := sweep.CombinedOutput()
			t.Logf("sweep:\n%s", out)
			if err != nil {
				t.Fatalf("sweep: %v", err)
			}
			if imgs := imagesNamed(t, client, b.amiName); len(imgs) != 0 {
				t.Errorf("AMI %s of the killed build is still there", aws.ToString(imgs[0].ImageId))
			}
			assertNothingLeft(t, client)
		})
	}
}

// TestE2EForceReplacesTheAMI: a second bake of the same name with
// `packer build -force` and `force_delete_snapshot` replaces the first AMI
// and deletes its snapshot; without -force it fails before launching.
func TestE2EForceReplacesTheAMI(t *testing.T) {
	first := newBake(t, "true")
	if _, err := first.run(); err != nil {
		t.Fatalf("first bake: %v", err)
	}
	client := ec2Client(t)
	old := imagesNamed(t, client, first.amiName)
	if len(old) != 1 {
		t.Fatalf("%d AMIs after the first bake", len(old))
	}
	oldSnap := aws.ToString(old[0].BlockDeviceMappings[0].Ebs.SnapshotId)

	again := newBake(t, "true")
	again.amiName = first.amiName
	out, err := again.run()
	if err == nil || !strings.Contains(out, "already exists") || !strings.Contains(out, "packer build -force") {
		t.Fatalf("a taken name without -force: err %v; want a failure that names -force", err)
	}
	if n := len(buildInstances(t, client)); n != 1 {
		t.Errorf("the refused bake launched an instance (%d in all)", n)
	}

	forced := newBake(t, "true")
	forced.amiName = first.amiName
	forced.vars = map[string]any{"force_delete_snapshot": true}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := forced.cmd(ctx)
	cmd.Args = append(cmd.Args[:2], append([]string{"-force"}, cmd.Args[2:]...)...)
	if raw, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bake with -force: %v\n%s", err, raw)
	}
	now := imagesNamed(t, client, first.amiName)
	if len(now) != 1 || aws.ToString(now[0].ImageId) == aws.ToString(old[0].ImageId) {
		t.Fatalf("AMIs named %s after -force: %d, want the new one only", first.amiName, len(now))
	}
	snaps, err := client.DescribeSnapshots(context.Background(), &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps.Snapshots {
		if aws.ToString(s.SnapshotId) == oldSnap {
			t.Errorf("the replaced AMI's snapshot %s is still there", oldSnap)
		}
	}
	assertNothingLeft(t, client)
}
