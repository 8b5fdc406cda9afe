//go:build e2e

// End-to-end tests: the real packer binary bakes with bakery-ebs and
// bakery-ansible (built from this checkout) against the offline test-bed,
// whose sshd plays the instance. Results are checked on the "instance"
// (files and their owners), through the EC2 API, and in the local
// process table and temp folder.
package ansible_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
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

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

var (
	suite testbed.Suite
	// ansibleVersions are the pinned ansible-core venvs testbed/install.sh
	// makes; the newest is used where the version does not matter.
	ansibleVersions = []string{"2.19", "2.18"}
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	root, err := testbed.FindRoot("")
	if err != nil {
		return fail("finding the project root: %v", err)
	}
	for _, v := range ansibleVersions {
		if _, err := os.Stat(ansibleBin(root, v, "ansible-playbook")); err != nil {
			return fail("ansible-core %s is not installed (%v): run `make testbed-install`", v, err)
		}
	}
	return testbed.RunSuite(m, testbed.Options{Root: root, FaultProxy: true}, &suite)
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
	return 1
}

func ansibleBin(root, version, name string) string {
	return filepath.Join(testbed.CacheDir(root), "ansible-"+version, "bin", name)
}

// bake is one `packer build` of testdata/bake.
type bake struct {
	t       *testing.T
	marker  string // unique per bake: names the files the play writes
	secret  string // AWS secret key: must never show up
	pSecret string // the play's secret extra var: must never show up
	amiName string
	tmp     string // TMPDIR of packer, the plugin and ansible
	logPath string
	vars    map[string]any
	cpDir   string // ssh's control folder, once seen during the play
}

func newBake(t *testing.T, playbook, version string) *bake {
	t.Helper()
	suite.Bed.ResetAfter(t)
	dir := t.TempDir()
	b := &bake{
		t:       t,
		marker:  testbed.RandomHex(4),
		secret:  "awsSecret" + testbed.RandomHex(12),
		pSecret: "playSecret" + testbed.RandomHex(12),
		amiName: "bakery-ansible-e2e-" + testbed.RandomHex(4),
		tmp:     filepath.Join(dir, "tmp"),
		logPath: filepath.Join(dir, "packer.log"),
	}
	b.vars = map[string]any{
		"secret_key":      b.secret,
		"ami_name":        b.amiName,
		"playbook":        filepath.Join(suite.Root, "provisioner/ansible/testdata/playbooks", playbook),
		"ansible_command": ansibleBin(suite.Root, version, "ansible-playbook"),
		"galaxy_command":  ansibleBin(suite.Root, version, "ansible-galaxy"),
		"marker":          b.marker,
		"play_secret":     b.pSecret,
	}
	if err := os.MkdirAll(b.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeMarked(b.marker) })
	return b
}

// removeMarked deletes the files a play wrote on the "instance".
func removeMarked(marker string) {
	for _, home := range []string{"/home/ec2-user", "/home/bakery-deploy", "/home/bakery-app"} {
		matches, _ := filepath.Glob(filepath.Join(home, "bakery-"+marker+"-*"))
		for _, m := range matches {
			os.Remove(m)
		}
	}
}

func (b *bake) cmd(ctx context.Context) *exec.Cmd {
	b.t.Helper()
	data, err := json.Marshal(b.vars)
	if err != nil {
		b.t.Fatal(err)
	}
	varFile := filepath.Join(filepath.Dir(b.tmp), "vars.pkrvars.json")
	if err := os.WriteFile(varFile, data, 0o600); err != nil {
		b.t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, suite.Packer, "build", "-color=false", "-var-file="+varFile, "testdata/bake")
	cmd.Env = append(suite.Bed.Env(),
		"PACKER_PLUGIN_PATH="+suite.PluginPath,
		"PACKER_CONFIG_DIR="+filepath.Join(filepath.Dir(b.tmp), "packer-config"),
		"PACKER_LOG=1",
		"PACKER_LOG_PATH="+b.logPath,
		"TMPDIR="+b.tmp,
		// ansible's own state (~/.ansible) stays out of root's home.
		"HOME="+filepath.Dir(b.tmp),
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func (b *bake) run() (string, error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, err := b.cmd(ctx).CombinedOutput()
	b.t.Logf("packer build output:\n%s", out)
	return string(out), err
}

// home reads a file the play wrote on the "instance".
func (b *bake) home(user, suffix string) string {
	b.t.Helper()
	data, err := os.ReadFile(filepath.Join("/home", user, "bakery-"+b.marker+"-"+suffix))
	if err != nil {
		b.t.Errorf("the play did not write its file: %v", err)
		return ""
	}
	return strings.TrimSpace(string(data))
}

func (b *bake) owner(user, suffix string) string {
	b.t.Helper()
	fi, err := os.Stat(filepath.Join("/home", user, "bakery-"+b.marker+"-"+suffix))
	if err != nil {
		b.t.Errorf("%v", err)
		return ""
	}
	uid := fi.Sys().(*syscall.Stat_t).Uid
	out, _ := exec.Command("id", "-nu", fmt.Sprint(uid)).Output()
	return strings.TrimSpace(string(out))
}

// assertClean checks what users would find after the build: no secret in
// the output or PACKER_LOG, nothing of the provisioner's left in TMPDIR,
// no ansible or ssh process of the build still running.
func (b *bake) assertClean(output string) {
	b.t.Helper()
	log, err := os.ReadFile(b.logPath)
	if err != nil || len(log) == 0 {
		b.t.Fatalf("no PACKER_LOG output (%v): the checks below would prove nothing", err)
	}
	for name, text := range map[string]string{"terminal output": output, "PACKER_LOG": string(log)} {
		for _, s := range []string{b.secret, b.pSecret, "PRIVATE KEY"} {
			if strings.Contains(text, s) {
				b.t.Errorf("%s shows a secret (%.12s...)", name, s)
			}
		}
	}
	err = filepath.WalkDir(b.tmp, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// packer-bakery-run-*: the run's shared retry budget (common/runshare.go).
		if strings.Contains(d.Name(), "bakery-ansible") || strings.Contains(d.Name(), "bakery-cp") || strings.HasPrefix(d.Name(), "packer-bakery-") {
			b.t.Errorf("%s was left in TMPDIR", path)
		}
		if !d.IsDir() {
			data, _ := os.ReadFile(path)
			if bytes.Contains(data, []byte("PRIVATE KEY")) || bytes.Contains(data, []byte(b.pSecret)) {
				b.t.Errorf("%s, left in TMPDIR, holds a secret", path)
			}
		}
		return nil
	})
	if err != nil {
		b.t.Fatal(err)
	}
	// ansible-playbook and its workers carry the inventory path (under
	// TMPDIR) in their argv; ssh, ControlMasters included, the control
	// folder; Mitogen's ssh the key's path (under TMPDIR).
	// Only this build's: other builds (other packages' tests, run at the
	// same time) have ControlMasters of their own.
	for _, pattern := range []string{"ansible-playbook .*" + b.tmp, "ssh .*" + b.tmp} {
		b.assertNoProcess(pattern)
	}
	b.assertNoControlMaster()
}

// controlMasters lists the build's ssh ControlMasters. A master renames
// itself ("ssh: <ControlPath> [mux]", its environment overwritten too), so
// the argv checks above miss it; the build's are told from other builds'
// by the control folder, read from ansible-playbook's environment.
func (b *bake) controlMasters() []string {
	if b.cpDir == "" {
		out, _ := exec.Command("pgrep", "-f", "ansible-playbook .*"+b.tmp).Output()
		for _, pid := range strings.Fields(string(out)) {
			env, _ := os.ReadFile("/proc/" + pid + "/environ")
			for _, kv := range strings.Split(string(env), "\x00") {
				if dir, ok := strings.CutPrefix(kv, "ANSIBLE_SSH_CONTROL_PATH_DIR="); ok {
					b.cpDir = dir
				}
			}
		}
		if b.cpDir == "" {
			return nil
		}
	}
	out, _ := exec.Command("pgrep", "-af", "^ssh: "+b.cpDir+"/").Output()
	return strings.Fields(string(out))
}

// assertNoControlMaster: only after controlMasters found the build's
// control folder during the play.
func (b *bake) assertNoControlMaster() {
	b.t.Helper()
	if b.cpDir == "" {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := b.controlMasters()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.t.Errorf("ssh ControlMasters of the build still run after it: %s", strings.Join(left, " "))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *bake) assertNoProcess(pattern string) {
	b.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := processesMatching(pattern)
		if err != nil {
			b.t.Fatal(err)
		}
		if out == "" {
			return
		}
		if time.Now().After(deadline) {
			b.t.Errorf("processes matching %q still run after the build:\n%s", pattern, out)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// processesMatching lists the processes whose command line matches pattern
// ("" when none). Only pgrep's exit status 1 means "none": a missing pgrep,
// a bad pattern (2) or a failure (3) is an error, never a clean result.
func processesMatching(pattern string) (string, error) {
	out, err := exec.Command("pgrep", "-af", pattern).Output()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return "", nil
	default:
		return "", fmt.Errorf("pgrep -af %q: %w", pattern, err)
	}
}

func (b *bake) assertAMI(want int) {
	b.t.Helper()
	client, err := suite.Bed.EC2(context.Background(), "us-east-1")
	if err != nil {
		b.t.Fatal(err)
	}
	imgs, err := client.DescribeImages(context.Background(), &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{b.amiName}}},
	})
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
	// The emulator is reset after every bake, so the build's instance is
	// the only one; with none, "all terminated" would hold vacuously.
	instances := 0
	for _, r := range res.Reservations {
		for _, inst := range r.Instances {
			instances++
			if inst.State.Name != types.InstanceStateNameTerminated {
				b.t.Errorf("instance %s is %s after the build", aws.ToString(inst.InstanceId), inst.State.Name)
			}
		}
	}
	if instances != 1 {
		b.t.Errorf("%d instances after the build, want the one it launched", instances)
	}
	keys, err := client.DescribeKeyPairs(context.Background(), &ec2.DescribeKeyPairsInput{})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, k := range keys.KeyPairs {
		b.t.Errorf("key pair %s left behind", aws.ToString(k.KeyName))
	}
}

// TestE2EDirect: the default connection, with each pinned ansible-core.
// One play covers the login user default, task and play remote_user,
// become_user to an unprivileged user (no allow_world_readable_tmpfiles),
// a secret extra var and the playbook folder's ansible.cfg.
func TestE2EDirect(t *testing.T) {
	for _, version := range ansibleVersions {
		t.Run("ansible-core-"+version, func(t *testing.T) {
			b := newBake(t, "site.yml", version)
			out, err := b.run()
			if err != nil {
				t.Fatalf("packer build failed: %v", err)
			}
			if !strings.Contains(out, "Ansible connects directly") {
				t.Error("the build does not say it connected directly")
			}
			if !strings.Contains(out, "[core "+version+".") {
				t.Errorf("the build does not report ansible-core %s", version)
			}
			if !strings.Contains(out, "TASK [Record the login user]") {
				t.Error("ansible's task lines are not in the build output")
			}
			if !strings.Contains(out, "--extra-vars @") {
				t.Error("the echoed command does not pass extra vars through a file")
			}
			if got := b.home("ec2-user", "login"); got != "ec2-user" {
				t.Errorf("default login user %q, want the builder's ssh_username ec2-user", got)
			}
			if got := b.home("ec2-user", "secret"); got != b.pSecret {
				t.Errorf("the secret extra var arrived as %q", got)
			}
			if got, want := b.home("ec2-user", "cfg"), filepath.Join(suite.Root, "provisioner/ansible/testdata/playbooks/ansible.cfg"); got != want {
				t.Errorf("ansible_config_file %q, want the playbook folder's %s", got, want)
			}
			if got := b.home("bakery-deploy", "task-remote-user"); got != "bakery-deploy" {
				t.Errorf("task remote_user ran as %q", got)
			}
			if got := b.home("bakery-deploy", "play-remote-user"); got != "bakery-deploy" {
				t.Errorf("play remote_user ran as %q", got)
			}
			if got := b.home("bakery-app", "become"); got != "bakery-app\nlineinfile ran" {
				t.Errorf("become_user file holds %q, want bakery-app's id and the lineinfile line", got)
			}
			if got := b.owner("bakery-app", "become"); got != "bakery-app" {
				t.Errorf("become_user file owned by %q", got)
			}
			b.assertAMI(1)
			b.assertClean(out)
		})
	}
}

// TestE2ETransfer: file transfer through packer's communicator with SFTP
// (no sftp_command, on the test-bed whose sshd serves sftp-server from
// Amazon Linux's path) and with SCP against OpenSSH >= 9 (no `-O` from
// the user), and SCP in direct mode.
func TestE2ETransfer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proxy bool
		sftp  bool
	}{{"proxy-sftp", true, true}, {"proxy-scp", true, false}, {"direct-scp", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBake(t, "copy.yml", ansibleVersions[0])
			b.vars["use_proxy"] = tc.proxy
			b.vars["use_sftp"] = tc.sftp
			out, err := b.run()
			if err != nil {
				t.Fatalf("packer build failed: %v", err)
			}
			if tc.proxy != strings.Contains(out, "through packer's communicator") {
				t.Errorf("the build does not say it connected with proxy=%v", tc.proxy)
			}
			if got := b.home("ec2-user", "copied"); got != "uploaded by bakery-ansible" {
				t.Errorf("copied file holds %q", got)
			}
			if got := b.home("ec2-user", "login"); got != "ec2-user" {
				t.Errorf("proxy ran commands as %q, want ec2-user", got)
			}
			b.assertAMI(1)
			b.assertClean(out)
		})
	}
}

// TestE2EStockSFTPWorkaround: the seed document's workaround for the
// stock provisioner, copied into countless templates, bakes unchanged:
// `sftp_command` with `use_proxy = false` is ignored with a warning (as the
// stock provisioner ignores it), not refused.
func TestE2EStockSFTPWorkaround(t *testing.T) {
	b := newBake(t, "copy.yml", ansibleVersions[0])
	b.vars["use_proxy"] = false
	b.vars["use_sftp"] = true
	b.vars["sftp_command"] = "/usr/libexec/openssh/sftp-server -e"
	out, err := b.run()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	if !strings.Contains(out, "Warning: `sftp_command` is ignored: it only applies to the proxy") {
		t.Error("the build does not warn that sftp_command is not needed")
	}
	if !strings.Contains(out, "Ansible connects directly") {
		t.Error("the build did not connect directly")
	}
	if got := b.home("ec2-user", "copied"); got != "uploaded by bakery-ansible" {
		t.Errorf("copied file holds %q", got)
	}
	b.assertAMI(1)
	b.assertClean(out)
}

func TestE2EFailingPlay(t *testing.T) {
	b := newBake(t, "fail.yml", ansibleVersions[0])
	out, err := b.run()
	if err == nil {
		t.Fatal("packer build succeeded although the play failed")
	}
	if !strings.Contains(out, `task "Break on purpose" failed on host "default"`) {
		t.Error("the build's error does not name the failed task and host")
	}
	if _, err := os.Stat("/home/ec2-user/bakery-" + b.marker + "-unreachable"); err == nil {
		t.Error("the play went on after the failed task")
	}
	b.assertAMI(0)
	b.assertClean(out)
}

// TestE2EInterrupt: Ctrl-C (SIGINT to packer's process group) or SIGTERM
// to packer during a long task stops ansible-playbook and its ssh
// processes, and removes the key and vars files.
func TestE2EInterrupt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		group bool // Ctrl-C: SIGINT to the process group; else SIGTERM to packer
		sig   syscall.Signal
	}{{"ctrl-c", true, syscall.SIGINT}, {"sigterm", false, syscall.SIGTERM}} {
		t.Run(tc.name, func(t *testing.T) { interrupt(t, tc.group, tc.sig, false) })
	}
}

func interrupt(t *testing.T, group bool, sig syscall.Signal, mitogen bool) *bake {
	b := newBake(t, "sleep.yml", ansibleVersions[0])
	b.vars["use_mitogen"] = mitogen
	n, _ := rand.Int(rand.Reader, big.NewInt(1e8))
	b.marker = fmt.Sprint(n.Int64() + 1e8)
	b.vars["marker"] = b.marker
	sleeper := "sleep 300." + b.marker
	t.Cleanup(func() { _ = exec.Command("pkill", "-f", "^"+sleeper+"$").Run() })

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run := testbed.StartCmd(t, b.cmd(ctx))
	cmd, out := run.Cmd, run.Out
	run.Until(t, func() bool { return exec.Command("pgrep", "-f", "^"+sleeper+"$").Run() == nil }, "the long task never started")
	// The orphan checks of assertClean match these processes now.
	// ssh (Mitogen's own too) carries the key's path, under TMPDIR.
	patterns := []string{"ansible-playbook .*" + b.tmp, "ssh .*" + b.tmp}
	for _, pattern := range patterns {
		if out, err := processesMatching(pattern); err != nil || out == "" {
			t.Errorf("no process matches %q during the play (%v): the orphan check would prove nothing", pattern, err)
		}
	}
	switch masters := b.controlMasters(); {
	case mitogen && len(masters) > 0:
		t.Errorf("the Mitogen play runs ssh ControlMasters (%s): its ssh should open none", strings.Join(masters, " "))
	case !mitogen && len(masters) == 0:
		t.Errorf("no ControlMaster of the build runs during the play (control folder %q): the check would prove nothing", b.cpDir)
	}
	target := cmd.Process.Pid
	if group {
		target = -target
	}
	if err := syscall.Kill(target, sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-run.Ended:
		if run.Err() == nil {
			t.Error("packer build exited 0 after an interrupt")
		}
	case <-time.After(90 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("packer did not finish within 90 s of Ctrl-C:\n%s", out.String())
	}
	t.Logf("output:\n%s", out.String())
	b.assertAMI(0)
	b.assertClean(out.String())
	return b
}

// TestE2EGalaxy: a requirements file with a role and a collection, both
// from local tarballs, installed in one step with no network.
func TestE2EGalaxy(t *testing.T) {
	b := newBake(t, "galaxy.yml", ansibleVersions[0])
	src := t.TempDir()
	role := filepath.Join(src, "bakery_role")
	writeFiles(t, role, map[string]string{
		"meta/main.yml":  "galaxy_info:\n  author: bakery\n  description: e2e role\n  license: MIT\n  min_ansible_version: '2.14'\n  platforms: []\ndependencies: []\n",
		"tasks/main.yml": "- name: Role task\n  ansible.builtin.shell: echo role > ~/bakery-{{ marker }}-role\n",
	})
	roleTar := filepath.Join(src, "bakery_role.tar.gz")
	if out, err := exec.Command("tar", "-C", src, "-czf", roleTar, "bakery_role").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	coll := filepath.Join(src, "collection")
	writeFiles(t, coll, map[string]string{
		"galaxy.yml":                 "namespace: bakery\nname: tools\nversion: 1.0.0\nreadme: README.md\nauthors: [bakery]\n",
		"README.md":                  "e2e collection\n",
		"meta/runtime.yml":           "requires_ansible: '>=2.14'\n",
		"roles/stamp/tasks/main.yml": "- name: Collection task\n  ansible.builtin.shell: echo collection > ~/bakery-{{ marker }}-collection\n",
	})
	build := exec.Command(ansibleBin(suite.Root, ansibleVersions[0], "ansible-galaxy"), "collection", "build", "--output-path", src, coll)
	build.Env = append(os.Environ(), "HOME="+src)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the collection: %v\n%s", err, out)
	}
	req := filepath.Join(src, "requirements.yml")
	writeFiles(t, src, map[string]string{"requirements.yml": fmt.Sprintf(
		"roles:\n  - name: bakery_role\n    src: %s\ncollections:\n  - name: %s\n    type: file\n",
		roleTar, filepath.Join(src, "bakery-tools-1.0.0.tar.gz"))})
	install := t.TempDir()
	b.vars["galaxy_file"] = req
	b.vars["roles_path"] = filepath.Join(install, "roles")
	b.vars["collections_path"] = filepath.Join(install, "collections")
	// No galaxy server to reach: proves the install is offline.
	b.vars["ansible_env_vars"] = []string{"ANSIBLE_GALAXY_SERVER=http://127.0.0.1:9"}
	out, err := b.run()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	if n := strings.Count(out, "Installing galaxy roles and collections"); n != 1 {
		t.Errorf("galaxy ran %d times, want once", n)
	}
	if got := b.home("ec2-user", "role"); got != "role" {
		t.Errorf("the galaxy role wrote %q", got)
	}
	if got := b.home("ec2-user", "collection"); got != "collection" {
		t.Errorf("the galaxy collection's role wrote %q", got)
	}
	b.assertAMI(1)
	b.assertClean(out)
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
