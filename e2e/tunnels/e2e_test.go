//go:build e2e

// Package tunnels_test bakes with bakery-ebs and bakery-ansible through the
// test-bed's tunnel stand-ins: the bed's sshd admits only the stand-ins'
// address (testbed.Options.TunnelOnly), so a build that does not go through
// the Session Manager or EC2 Instance Connect Endpoint tunnel cannot log in.
//
//	go test -tags e2e ./e2e/tunnels/
package tunnels_test

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/packer-bakery/packer-plugin-bakery/testbed/tunnels"
)

var suite testbed.Suite

func TestMain(m *testing.M) {
	os.Exit(testbed.RunSuite(m, testbed.Options{Tunnels: true, TunnelOnly: true}, &suite))
}

const (
	sessionManager = "session_manager"
	endpoint       = "instance_connect_endpoint"
	accessKey      = "AKIDBAKERYTUNNEL"
)

var modes = []string{sessionManager, endpoint}

func ansiblePlaybook() string {
	return filepath.Join(testbed.CacheDir(suite.Root), "ansible-2.19", "bin", "ansible-playbook")
}

type bake struct {
	t       *testing.T
	iface   string
	marker  string
	secret  string
	amiName string
	tmp     string
	logPath string
	vars    map[string]any
}

func newBake(t *testing.T, iface, playbook string) *bake {
	t.Helper()
	suite.Bed.ResetAfter(t)
	t.Cleanup(func() {
		suite.Bed.Tunnels().SSM.SetFaults(tunnels.SSMFaults{})
		suite.Bed.Tunnels().EICE.SetFaults(tunnels.EICEFaults{})
	})
	dir := t.TempDir()
	b := &bake{
		t: t, iface: iface, marker: testbed.RandomHex(4), secret: "tunnelSecret" + testbed.RandomHex(12),
		amiName: "bakery-tunnel-e2e-" + testbed.RandomHex(4), tmp: filepath.Join(dir, "tmp"), logPath: filepath.Join(dir, "packer.log"),
	}
	// The stand-ins check the build's signatures with its key.
	suite.Bed.Tunnels().SSM.AllowKey(accessKey, b.secret)
	suite.Bed.Tunnels().EICE.AllowKey(accessKey, b.secret)
	b.vars = map[string]any{
		"access_key": accessKey, "secret_key": b.secret, "ami_name": b.amiName, "ssh_interface": iface,
		"playbook":        filepath.Join(suite.Root, "e2e/tunnels/testdata/playbooks", playbook),
		"ansible_command": ansiblePlaybook(), "marker": b.marker,
	}
	if err := os.MkdirAll(b.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, home := range []string{"/home/ec2-user", "/home/bakery-app"} {
			matches, _ := filepath.Glob(filepath.Join(home, "bakery-"+b.marker+"-*"))
			for _, m := range matches {
				os.Remove(m)
			}
		}
	})
	return b
}

func (b *bake) cmd(ctx context.Context) *exec.Cmd {
	data, err := json.Marshal(b.vars)
	if err != nil {
		b.t.Fatal(err)
	}
	varFile := filepath.Join(filepath.Dir(b.tmp), "vars.pkrvars.json")
	if err := os.WriteFile(varFile, data, 0o600); err != nil {
		b.t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, suite.Packer, "build", "-color=false", "-var-file="+varFile, "testdata/bake")
	cmd.Env = append(suite.Bed.PackerEnv(suite.PluginPath, filepath.Join(filepath.Dir(b.tmp), "packer-config")),
		"PACKER_LOG=1", "PACKER_LOG_PATH="+b.logPath, "TMPDIR="+b.tmp, "HOME="+filepath.Dir(b.tmp))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func (b *bake) run() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, err := b.cmd(ctx).CombinedOutput()
	b.t.Logf("packer build output:\n%s", out)
	return string(out), err
}

func (b *bake) home(user, suffix string) string {
	b.t.Helper()
	data, err := os.ReadFile(filepath.Join("/home", user, "bakery-"+b.marker+"-"+suffix))
	if err != nil {
		b.t.Errorf("the build did not write its file: %v", err)
		return ""
	}
	return strings.TrimSpace(string(data))
}

var listening = regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)

// assertClean: no session left open, no tunnel, no listener, no process,
// nothing in TMPDIR, no secret shown.
func (b *bake) assertClean(output string) {
	b.t.Helper()
	tun := suite.Bed.Tunnels()
	if active := tun.SSM.Active(); len(active) != 0 {
		b.t.Errorf("Session Manager sessions still open after the build: %v", active)
	}
	if !testbed.WaitFor(func() bool { return tun.EICE.Open() == 0 && tun.SSM.Streams() == 0 }, nil, 5*time.Second) {
		b.t.Errorf("%d endpoint tunnels and %d session streams still open after the build", tun.EICE.Open(), tun.SSM.Streams())
	}
	if p := tun.SSM.Problems(); len(p) != 0 {
		b.t.Errorf("the stand-in agent saw protocol problems: %v", p)
	}
	if r := tun.EICE.Refused(); len(r) != 0 {
		b.t.Errorf("the stand-in endpoint refused: %v", r)
	}
	for _, m := range listening.FindAllStringSubmatch(output, -1) {
		if c, err := net.DialTimeout("tcp", m[1], time.Second); err == nil {
			c.Close()
			b.t.Errorf("the tunnel's listener %s still accepts connections after the build", m[1])
		}
	}
	log, err := os.ReadFile(b.logPath)
	if err != nil || len(log) == 0 {
		b.t.Fatalf("no PACKER_LOG output (%v)", err)
	}
	for name, text := range map[string]string{"output": output, "PACKER_LOG": string(log)} {
		for _, s := range []string{b.secret, "PRIVATE KEY", "X-Amz-Signature=", "TokenValue"} {
			if strings.Contains(text, s) {
				b.t.Errorf("%s shows %q", name, s)
			}
		}
	}
	err = filepath.WalkDir(b.tmp, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != b.tmp && !strings.HasPrefix(d.Name(), "packer-plugin") {
			b.t.Errorf("%s was left in TMPDIR", path)
		}
		return nil
	})
	if err != nil {
		b.t.Fatal(err)
	}
	// Local processes only: the play's remote command runs on the
	// "instance" (the bed's sshd host), which a real build terminates.
	// Only this build's: other builds running at the same time have ssh
	// processes of their own (ControlMasters: checked by their folder).
	for _, pattern := range []string{"ansible-playbook .*" + b.tmp, "ssh .*" + b.tmp} {
		if !testbed.WaitFor(func() bool { out, _ := exec.Command("pgrep", "-af", pattern).Output(); return len(out) == 0 }, nil, 5*time.Second) {
			out, _ := exec.Command("pgrep", "-af", pattern).Output()
			b.t.Errorf("processes matching %q still run after the build:\n%s", pattern, out)
		}
	}
}

func (b *bake) assertAMI(want int) {
	b.t.Helper()
	client, err := suite.Bed.EC2(context.Background(), "us-east-1")
	if err != nil {
		b.t.Fatal(err)
	}
	imgs, err := client.DescribeImages(context.Background(), &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{b.amiName}}}})
	if err != nil {
		b.t.Fatal(err)
	}
	if len(imgs.Images) != want {
		b.t.Errorf("%d AMIs named %s, want %d", len(imgs.Images), b.amiName, want)
	}
	res, err := client.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, r := range res.Reservations {
		for _, inst := range r.Instances {
			if inst.State.Name != types.InstanceStateNameTerminated {
				b.t.Errorf("instance %s is %s after the build", aws.ToString(inst.InstanceId), inst.State.Name)
			}
		}
	}
}

// ingress is what the temporary security group was told to admit.
func ingress(t *testing.T) []string {
	var rules []string
	for _, req := range suite.Bed.Faults().Requests("ec2", "AuthorizeSecurityGroupIngress") {
		for k, v := range req {
			if strings.Contains(k, "CidrIp") || strings.Contains(k, "GroupId") && strings.HasPrefix(k, "IpPermissions") || strings.HasSuffix(k, "FromPort") {
				rules = append(rules, k+"="+strings.Join(v, ","))
			}
		}
	}
	return rules
}

// TestE2ETunnelBake: a full bake whose every connection — Packer's
// communicator, the shell provisioner, bakery-ansible's copy, become_user
// and five parallel connections — goes through the tunnel.
func TestE2ETunnelBake(t *testing.T) {
	for _, iface := range modes {
		t.Run(iface, func(t *testing.T) {
			b := newBake(t, iface, "tunnel.yml")
			tun := suite.Bed.Tunnels()
			out, err := b.run()
			if err != nil {
				t.Fatalf("packer build failed: %v", err)
			}
			if got := b.home("ec2-user", "shell"); got != "shell-over-the-tunnel" {
				t.Errorf("the shell provisioner wrote %q", got)
			}
			if got := b.home("ec2-user", "copied"); got != "copied over the tunnel" {
				t.Errorf("the copied file holds %q", got)
			}
			if got := b.home("bakery-app", "become"); got != "bakery-app" {
				t.Errorf("the become_user task ran as %q", got)
			}
			for i := 1; i <= 5; i++ {
				if got := b.home("ec2-user", fmt.Sprintf("fanout-%d", i)); got != fmt.Sprintf("fanout-%d", i) {
					t.Errorf("fan-out host %d wrote %q", i, got)
				}
			}
			rules := strings.Join(ingress(t), " ")
			switch iface {
			case sessionManager:
				if n := tun.SSM.MaxStreams(); n < 5 {
					t.Errorf("at most %d connections at once went through the session; the five parallel ones should have", n)
				}
				if n := suite.Bed.Faults().Count("ssm", "StartSession"); n != 1 {
					t.Errorf("%d StartSession calls, want 1 (every connection multiplexed over one session)", n)
				}
				if suite.Bed.Faults().Count("ssm", "TerminateSession") < 1 {
					t.Error("no TerminateSession call")
				}
				if rules != "" {
					t.Errorf("the temporary security group admits something with Session Manager: %s", rules)
				}
			case endpoint:
				if n := tun.EICE.MaxOpen(); n < 5 {
					t.Errorf("at most %d tunnels were open at once; the five parallel connections should each have one", n)
				}
				if strings.Contains(rules, "CidrIp") || !strings.Contains(rules, "GroupId=sg-") {
					t.Errorf("the temporary security group should admit the endpoint's group only: %s", rules)
				}
			}
			b.assertAMI(1)
			b.assertClean(out)
		})
	}
}

// TestE2ETunnelInterrupt: Ctrl-C during the play leaves no session,
// tunnel, listener, process or temp file.
func TestE2ETunnelInterrupt(t *testing.T) {
	for _, iface := range modes {
		t.Run(iface, func(t *testing.T) {
			b := newBake(t, iface, "sleep.yml")
			// Digits: the marker is the fraction of the sleep's seconds.
			b.marker = fmt.Sprint(100000000 + time.Now().UnixNano()%100000000)
			b.vars["marker"] = b.marker
			sleeper := "sleep 300." + b.marker
			t.Cleanup(func() { _ = exec.Command("pkill", "-f", "^"+sleeper+"$").Run() })
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			run := testbed.StartCmd(t, b.cmd(ctx))
			cmd, out := run.Cmd, run.Out
			run.Until(t, func() bool { return exec.Command("pgrep", "-f", "^"+sleeper+"$").Run() == nil }, "the long task never started")
			if iface == sessionManager && len(suite.Bed.Tunnels().SSM.Active()) != 1 {
				t.Fatalf("no session open during the play: the checks below would prove nothing")
			}
			if iface == endpoint && suite.Bed.Tunnels().EICE.Open() == 0 {
				t.Fatalf("no tunnel open during the play: the checks below would prove nothing")
			}
			// The orphan checks of assertClean match these now.
			for _, pattern := range []string{"ansible-playbook .*" + b.tmp, "ssh .*" + b.tmp} {
				if out, _ := exec.Command("pgrep", "-af", pattern).Output(); len(out) == 0 {
					t.Errorf("no process matches %q during the play: the orphan check would prove nothing", pattern)
				}
			}
			if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			select {
			case <-run.Ended:
				if run.Err() == nil {
					t.Error("packer build exited 0 after Ctrl-C")
				}
			case <-time.After(90 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Fatalf("packer did not finish within 90 s of Ctrl-C:\n%s", out.String())
			}
			t.Logf("output:\n%s", out.String())
			b.assertAMI(0)
			b.assertClean(out.String())
		})
	}
}

// TestE2ESessionManagerNoAgent: an instance whose agent never registers
// fails once `ssh_timeout` is up, saying what to fix — not a bare SSH
// timeout.
func TestE2ESessionManagerNoAgent(t *testing.T) {
	b := newBake(t, sessionManager, "tunnel.yml")
	b.vars["ssh_timeout"] = "10s"
	suite.Bed.Tunnels().SSM.SetFaults(tunnels.SSMFaults{NoAgentAnywhere: true})
	begin := time.Now()
	out, err := b.run()
	if err == nil {
		t.Fatal("the build succeeded without an agent")
	}
	if d := time.Since(begin); d > 90*time.Second {
		t.Errorf("the build took %s to fail with a 10 s ssh_timeout", d.Round(time.Second))
	}
	for _, want := range []string{"is not connected to Session Manager", "TargetNotConnected", "SSM agent", "AmazonSSMManagedInstanceCore", "ssmmessages"} {
		if !strings.Contains(out, want) {
			t.Errorf("the failure does not say %q", want)
		}
	}
	if strings.Contains(out, "Timeout waiting for SSH") {
		t.Error("the failure is a bare SSH timeout")
	}
	b.assertAMI(0)
	b.assertClean(out)
}

// TestE2ETunnelDropped: the far end drops the tunnel mid-play. Session
// Manager: a cut websocket is resumed and the build succeeds; a session AWS
// ends is replaced, or the build fails saying so. Endpoint: the close code
// and reason are shown; the build succeeds (Ansible retries the
// connection on a new tunnel) or fails saying so. Never a hang.
func TestE2ETunnelDropped(t *testing.T) {
	cases := []struct {
		name   string
		iface  string
		ssm    tunnels.SSMFaults
		eice   tunnels.EICEFaults
		expect func(t *testing.T, out string, err error)
	}{
		{name: "session manager websocket cut", iface: sessionManager, ssm: tunnels.SSMFaults{DropAfterBytes: 200_000},
			expect: func(t *testing.T, out string, err error) {
				if err != nil {
					t.Fatalf("the build failed after a resumable drop: %v", err)
				}
				if suite.Bed.Tunnels().SSM.Resumes() < 1 {
					t.Error("no ResumeSession: did the websocket drop?")
				}
			}},
		{name: "session manager session closed by AWS", iface: sessionManager, ssm: tunnels.SSMFaults{CloseAfterBytes: 200_000},
			expect: func(t *testing.T, out string, err error) {
				if !strings.Contains(out, "Session terminated by the test-bed") {
					t.Errorf("the output does not say why the session ended")
				}
			}},
		{name: "endpoint closes a tunnel", iface: endpoint, eice: tunnels.EICEFaults{CloseAfterBytes: 200_000, CloseMax: 1, CloseCode: 4001, CloseReason: "tunnel closed by the test-bed"},
			expect: func(t *testing.T, out string, err error) {
				if !strings.Contains(out, `code 4001, reason "tunnel closed by the test-bed"`) {
					t.Errorf("the output does not show the close code and reason")
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBake(t, tc.iface, "tunnel.yml")
			suite.Bed.Tunnels().SSM.SetFaults(tc.ssm)
			suite.Bed.Tunnels().EICE.SetFaults(tc.eice)
			begin := time.Now()
			out, err := b.run()
			if d := time.Since(begin); d > 3*time.Minute {
				t.Errorf("the build took %s", d.Round(time.Second))
			}
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("packer did not finish: %v", err)
			}
			tc.expect(t, out, err)
			if err == nil {
				b.assertAMI(1)
			} else {
				b.assertAMI(0)
			}
			b.assertClean(out)
		})
	}
}

// TestE2ETunnelAMITest: the AMI test's instance is reached through a
// tunnel of its own, opened and closed like the build's.
func TestE2ETunnelAMITest(t *testing.T) {
	for _, iface := range modes {
		t.Run(iface, func(t *testing.T) {
			b := newBake(t, iface, "tunnel.yml")
			b.vars["ami_test"] = []string{"test \"$(cat ~/bakery-" + b.marker + "-shell)\" = shell-over-the-tunnel && echo ami-test-over-the-tunnel"}
			out, err := b.run()
			if err != nil {
				t.Fatalf("packer build failed: %v", err)
			}
			if !strings.Contains(out, "ami-test-over-the-tunnel") {
				t.Error("the AMI test's command did not run through the tunnel")
			}
			if n := len(listening.FindAllString(out, -1)); n != 2 {
				t.Errorf("%d tunnels listened, want one for the build's instance and one for the test's", n)
			}
			if iface == sessionManager {
				if n := suite.Bed.Faults().Count("ssm", "StartSession"); n != 2 {
					t.Errorf("%d StartSession calls, want 2", n)
				}
			}
			b.assertAMI(1)
			b.assertClean(out)
		})
	}
}
