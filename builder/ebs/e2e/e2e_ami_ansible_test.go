//go:build e2e

package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	gossh "golang.org/x/crypto/ssh"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

// playbookBake is a bake of testdata/ami-ansible whose AMI test runs the
// playbook (a file of that folder) with the bed's ansible-playbook.
func playbookBake(t *testing.T, playbook string) (*bake, string) {
	t.Helper()
	b := newBake(t, "true")
	b.dir = "testdata/ami-ansible"
	marker := testbed.RandomHex(4)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	b.vars = map[string]any{
		"playbook":        filepath.Join(wd, b.dir, playbook),
		"ansible_command": filepath.Join(testbed.CacheDir(suite.Root), "ansible-2.19", "bin", "ansible-playbook"),
		"marker":          marker,
	}
	markFile := filepath.Join("/home", suite.Bed.SSHUser, "bakery-"+marker+"-ami-test")
	t.Cleanup(func() { os.Remove(markFile) })
	return b, markFile
}

// assertPlayGone: nothing of the playbook check is left, no
// ansible-playbook or ssh of the build (their argv carry its TMPDIR), no
// ControlMaster in cpDir, and no file of bakery-ansible in TMPDIR.
func (b *bake) assertPlayGone(cpDir string) {
	b.t.Helper()
	time.Sleep(time.Second) // a killed process group takes a moment to go
	for _, pattern := range []string{"ansible-playbook .*" + b.tmp, "ssh .*" + b.tmp} {
		if out, _ := exec.Command("pgrep", "-af", pattern).Output(); len(out) > 0 {
			b.t.Errorf("processes of the playbook check still run:\n%s", out)
		}
	}
	if cpDir != "" {
		if out, _ := exec.Command("pgrep", "-af", "^ssh: "+cpDir+"/").Output(); len(out) > 0 {
			b.t.Errorf("ssh ControlMasters of the playbook check still run:\n%s", out)
		}
		if _, err := os.Stat(cpDir); !errors.Is(err, fs.ErrNotExist) {
			b.t.Errorf("the control folder %s is still there (%v)", cpDir, err)
		}
	}
	_ = filepath.WalkDir(b.tmp, func(path string, d fs.DirEntry, err error) error {
		if err == nil && (strings.Contains(d.Name(), "bakery-ansible") || strings.Contains(d.Name(), "bakery-cp")) {
			b.t.Errorf("%s was left in TMPDIR", path)
		}
		return nil
	})
}

// TestE2EAMITestPlaybook: the playbook check runs after the inline checks,
// on the test instance, with bakery-ansible's own inventory template
// filled in by the play; the build goes on to its AMI.
//
// The bed has one sshd for every instance, so where the play ran is told
// by when and as whom: it logs in with the build's temporary key, which
// the bed's authorized-keys accepts only while an instance launched with
// it runs, and when the play runs the build instance is stopped and the
// test instance is the one running; its output comes between the test
// instance's launch and its termination.
func TestE2EAMITestPlaybook(t *testing.T) {
	b, markFile := playbookBake(t, "check.yml")
	b.vars["ami_test_commands"] = []string{"echo inline-check-ran"}
	checkPlaybookBake(t, b, markFile)
}

// TestE2EAMITestPlaybookMitogen: `use_mitogen` works in the check as in
// the provisioner (the bed's venv has Mitogen).
func TestE2EAMITestPlaybookMitogen(t *testing.T) {
	b, markFile := playbookBake(t, "check.yml")
	b.vars["ami_test_commands"] = []string{"echo inline-check-ran"}
	b.vars["use_mitogen"] = true
	if out := checkPlaybookBake(t, b, markFile); !strings.Contains(out, "strategy mitogen_linear") {
		t.Error("the play did not run with Mitogen")
	}
}

// checkPlaybookBake runs a bake whose inline and playbook checks pass and
// checks what TestE2EAMITestPlaybook says; it returns the output.
func checkPlaybookBake(t *testing.T, b *bake, markFile string) string {
	t.Helper()
	out, err := b.run()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	m := testInstanceLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no test instance in the output")
	}
	launched := strings.Index(out, m[0])
	inline := strings.Index(out, "inline-check-ran")
	play := strings.Index(out, "TASK [the AMI lets ec2-user in]")
	passed := strings.Index(out, "AMI test: the playbook check "+b.vars["playbook"].(string)+" passed")
	terminated := strings.Index(out, "AMI test: terminating instance "+m[1])
	if inline < 0 || play < 0 || passed < 0 || terminated < 0 || !(launched < inline && inline < play && play < passed && passed < terminated) {
		t.Errorf("want test instance launched (%d), inline check (%d), play (%d), passed (%d), test instance terminated (%d), in that order",
			launched, inline, play, passed, terminated)
	}
	if !strings.Contains(out, "Ansible accepts only the instance's host key the builder saw first: "+gossh.FingerprintSHA256(suite.Bed.HostKey())) {
		t.Error("Ansible was not held to the test instance's host key")
	}
	mark, err := os.ReadFile(markFile)
	if err != nil {
		t.Fatalf("the play left no mark on the instance: %v", err)
	}
	want := fmt.Sprintf("ec2-user %s %s:%d", b.vars["marker"], suite.Bed.SSHHost, suite.Bed.SSHPort)
	if got := strings.TrimSpace(string(mark)); got != want {
		t.Errorf("the play wrote %q, want %q (user, the inventory template's variable, host:port)", got, want)
	}
	client := ec2Client(t)
	if imgs := imagesNamed(t, client, b.amiName); len(imgs) != 1 {
		t.Errorf("%d AMIs named %s after the passing check, want 1", len(imgs), b.amiName)
	}
	assertNothingLeft(t, client)
	b.assertNoSecrets(out)
	b.assertPlayGone("")
	return out
}

// TestE2EAMITestPlaybookFails: a failing play fails the build as a failing
// inline check does: named with the end of its output, the AMI and its
// snapshots removed, the test instance terminated, nothing of the play
// left.
func TestE2EAMITestPlaybookFails(t *testing.T) {
	b, _ := playbookBake(t, "check-fails.yml")
	client := ec2Client(t)
	before := selfSnapshots(t, client)
	out, err := b.run()
	if err == nil {
		t.Fatal("the build succeeded although its playbook check failed")
	}
	// What packer repeats at the end, from the build's error.
	_, failure, ok := strings.Cut(out, "Some builds didn't complete successfully and had errors:")
	if !ok {
		t.Fatal("packer reported no build error")
	}
	for _, want := range []string{
		"`ami_test`: the playbook check " + b.vars["playbook"].(string) + " failed",
		`task "the service answers" failed`,
		"the AMI is removed",
		"the-service-is-down", // the end of the play's output
	} {
		if !strings.Contains(failure, want) {
			t.Errorf("the build's error does not say %q", want)
		}
	}
	if imgs := imagesNamed(t, client, b.amiName); len(imgs) != 0 {
		t.Errorf("the failed build left AMI %s", aws.ToString(imgs[0].ImageId))
	}
	for id := range selfSnapshots(t, client) {
		if _, old := before[id]; !old {
			t.Errorf("the failed build left snapshot %s", id)
		}
	}
	if testInstanceLine.FindStringSubmatch(out) == nil {
		t.Error("no test instance in the output")
	}
	assertNothingLeft(t, client)
	b.assertNoSecrets(out)
	b.assertPlayGone("")
}

// TestE2EAMITestPlaybookFailsAbortKeeps: with -on-error=abort, a failed
// playbook check keeps the AMI and the test instance, as packer users
// expect, and says so; the play's own files and processes still go.
func TestE2EAMITestPlaybookFailsAbortKeeps(t *testing.T) {
	b, _ := playbookBake(t, "check-fails.yml")
	out, err := b.runAbort()
	if err == nil {
		t.Fatal("the build succeeded although its playbook check failed")
	}
	client := ec2Client(t)
	imgs := imagesNamed(t, client, b.amiName)
	if len(imgs) != 1 {
		t.Fatalf("%d AMIs named %s, want the one -on-error=abort keeps", len(imgs), b.amiName)
	}
	m := testInstanceLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no test instance in the output")
	}
	for _, kept := range []string{"image " + aws.ToString(imgs[0].ImageId), "instance " + m[1]} {
		if !strings.Contains(out, kept) {
			t.Errorf("the build did not say it kept %q", kept)
		}
	}
	b.assertPlayGone("")
}

// TestE2EAMITestPlaybookInterrupted: Ctrl-C during the play stops
// ansible-playbook and its ssh ControlMaster, removes its files, and
// leaves no AMI and no instance.
func TestE2EAMITestPlaybookInterrupted(t *testing.T) {
	b, _ := playbookBake(t, "check-sleeps.yml")
	// The bed's "instance" outlives the build, and so would the sleep: a
	// unique argv to kill it by.
	sleeper := fmt.Sprintf("sleep 120.%d", time.Now().UnixNano()%1e6)
	t.Cleanup(func() { _ = exec.Command("pkill", "-u", suite.Bed.SSHUser, "-f", "^"+sleeper+"$").Run() })
	b.vars["sleeper"] = sleeper
	cpDir := ""
	out := b.interruptWhen("TASK [ami-test-play-sleeps]", func(pid int) error {
		// The control folder, from ansible-playbook's environment, while it runs.
		pids, _ := exec.Command("pgrep", "-f", "ansible-playbook .*"+b.tmp).Output()
		for _, p := range strings.Fields(string(pids)) {
			env, _ := os.ReadFile("/proc/" + p + "/environ")
			for _, kv := range strings.Split(string(env), "\x00") {
				if dir, ok := strings.CutPrefix(kv, "ANSIBLE_SSH_CONTROL_PATH_DIR="); ok {
					cpDir = dir
				}
			}
		}
		return syscall.Kill(-pid, syscall.SIGINT)
	})
	if cpDir == "" {
		t.Error("found no running ansible-playbook of the build to interrupt: the check below proves nothing")
	}
	client := ec2Client(t)
	if imgs := imagesNamed(t, client, b.amiName); len(imgs) != 0 {
		t.Errorf("the interrupted build left AMI %s", aws.ToString(imgs[0].ImageId))
	}
	assertNothingLeft(t, client)
	b.assertNoSecrets(out)
	b.assertPlayGone(cpDir)
}

// otherSSHD runs a second sshd made like the bed's (same users, same key
// lookup in the emulator), with a host key of its own: another "instance".
// It returns its port, its host key and its log.
func otherSSHD(t *testing.T) (int, gossh.PublicKey, string) {
	t.Helper()
	dir := t.TempDir()
	conf, err := os.ReadFile(filepath.Join(suite.Bed.Dir, "sshd_config"))
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "host_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyPath).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pubText, err := os.ReadFile(keyPath + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := gossh.ParseAuthorizedKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	port := closedPort(t)
	var lines []string
	for _, l := range strings.Split(string(conf), "\n") {
		switch {
		case strings.HasPrefix(l, "Port "):
			l = fmt.Sprintf("Port %d", port)
		case strings.HasPrefix(l, "HostKey "):
			l = "HostKey " + keyPath
		case strings.HasPrefix(l, "PidFile "):
			l = "PidFile " + filepath.Join(dir, "sshd.pid")
		}
		lines = append(lines, l)
	}
	confPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(confPath, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "sshd.log")
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", confPath, "-E", logPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if !testbed.WaitFor(func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, nil, 10*time.Second) {
		t.Fatal("the second sshd does not answer")
	}
	return port, pub, logPath
}

// switchingForward listens on a loopback port and forwards each new
// connection to the port route gives at that moment: one address that
// leads to the build instance, then to the test instance, then elsewhere,
// as an address reused by another machine would.
func switchingForward(t *testing.T, route func() int) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", route()))
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestE2EAMITestPlaybookHostKey: the test instance is another machine,
// with another host key than the build instance. Ansible is held to the
// key the test instance showed: it runs the play there (not refused
// because the key differs from the build instance's), and when the
// address leads to yet another machine by the time Ansible connects (a
// real sshd that would let the build's key in), it refuses it.
func TestE2EAMITestPlaybookHostKey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		decoy bool // the address moves on after the inline check
	}{{"accepts", false}, {"refuses", true}} { // short: TMPDIR holds the plugin's socket
		t.Run(tc.name, func(t *testing.T) {
			testPort, testKey, _ := otherSSHD(t)
			decoyPort, _, decoyLog := otherSSHD(t)
			client := ec2Client(t)
			b, markFile := playbookBake(t, "check.yml")
			// The inline check, run on the test instance before the play,
			// moves the address on.
			moved := filepath.Join("/home", suite.Bed.SSHUser, "bakery-"+b.vars["marker"].(string)+"-moved")
			t.Cleanup(func() { os.Remove(moved) })
			b.vars["ami_test_commands"] = []string{"echo inline-check-ran"}
			if tc.decoy {
				b.vars["ami_test_commands"] = []string{"touch " + moved}
			}
			// Decided at each connection: the bed's sshd until the test
			// instance exists, then the test instance's sshd, then the
			// other machine once the inline check has moved the address.
			b.vars["ssh_port"] = switchingForward(t, func() int {
				if _, err := os.Stat(moved); err == nil {
					return decoyPort
				}
				out, err := client.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{Filters: []types.Filter{
					{Name: aws.String("tag:Name"), Values: []string{"Packer AMI test"}},
					{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}}}})
				if err == nil && len(out.Reservations) > 0 {
					return testPort
				}
				return suite.Bed.SSHPort
			})
			out, err := b.run()
			pinned := "Ansible accepts only the instance's host key the builder saw first: " + gossh.FingerprintSHA256(testKey)
			if !strings.Contains(out, pinned) {
				t.Errorf("Ansible was not held to the test instance's key %s", gossh.FingerprintSHA256(testKey))
			}
			if !tc.decoy {
				if err != nil {
					t.Fatalf("the build failed: %v", err)
				}
				if _, err := os.Stat(markFile); err != nil {
					t.Errorf("the play left no mark: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("the build succeeded: Ansible ran the play on another machine than the test instance")
			}
			if !strings.Contains(out, "the playbook check") || !strings.Contains(out, "Host key verification failed") {
				t.Errorf("the failure is not the playbook check refusing the host")
			}
			log, _ := os.ReadFile(decoyLog)
			if strings.Contains(string(log), "Accepted publickey") {
				t.Errorf("the build logged in to the other machine:\n%s", log)
			}
			if !strings.Contains(string(log), "Connection from") {
				t.Errorf("Ansible never reached the other machine: the test proves nothing\n%s", log)
			}
			if _, err := os.Stat(markFile); err == nil {
				t.Error("the play ran")
			}
			assertNothingLeft(t, client)
		})
	}
}
