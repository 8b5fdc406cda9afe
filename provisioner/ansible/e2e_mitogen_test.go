//go:build e2e

package ansible_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// TestE2EMitogen: use_mitogen with each pinned ansible-core (both venvs
// have mitogen 0.3.54), and through the proxy: a 10-task bake whose
// modules run in Mitogen's interpreter, with copy, template and
// lineinfile as the unprivileged become_user bakery-app on the bed's
// host, which has no setfacl.
func TestE2EMitogen(t *testing.T) {
	for _, tc := range []struct {
		name, version string
		proxy         bool
	}{{"ansible-core-2.19", "2.19", false}, {"ansible-core-2.18", "2.18", false}, {"proxy", "2.19", true}} {
		version := tc.version
		t.Run(tc.name, func(t *testing.T) {
			b := newBake(t, "mitogen.yml", version)
			b.vars["use_mitogen"] = true
			b.vars["use_proxy"] = tc.proxy
			out, err := b.run()
			if err != nil {
				t.Fatalf("packer build failed: %v", err)
			}
			if !strings.Contains(out, "Mitogen 0.3.54 (ansible-core "+version+".") || !strings.Contains(out, "strategy mitogen_linear") {
				t.Error("the build does not say it runs Mitogen's mitogen_linear with this ansible-core")
			}
			// Mitogen renames its interpreter "python(mitogen:...)"; plain
			// Ansible's modules run under a python with an AnsiballZ file.
			if got := b.home("ec2-user", "runner"); !strings.Contains(got, "mitogen") {
				t.Errorf("the modules ran under %q, not Mitogen's interpreter", got)
			}
			if got := b.home("ec2-user", "login"); got != "ec2-user" {
				t.Errorf("login user %q", got)
			}
			if got := b.home("ec2-user", "secret"); got != b.pSecret {
				t.Errorf("the secret extra var arrived as %q", got)
			}
			if tc.proxy != strings.Contains(out, "through packer's communicator") {
				t.Errorf("the build does not say it connected with proxy=%v", tc.proxy)
			}
			// The proxy logs in as the communicator's user whatever the
			// play's remote_user, with or without Mitogen.
			if want := "bakery-deploy"; !tc.proxy {
				if got := b.home(want, "task-remote-user"); got != want {
					t.Errorf("task remote_user ran as %q", got)
				}
			} else if got := b.home("ec2-user", "task-remote-user"); got != "ec2-user" {
				t.Errorf("task remote_user through the proxy ran as %q, want the communicator's ec2-user", got)
			}
			if got := b.home("bakery-app", "copied"); got != "uploaded by bakery-ansible" {
				t.Errorf("copied file holds %q", got)
			}
			if got := b.home("bakery-app", "templated"); got != "# rendered by the use_mitogen e2e test\nmarker="+b.marker+"\nlineinfile ran" {
				t.Errorf("templated file holds %q", got)
			}
			for _, f := range []string{"copied", "templated"} {
				if got := b.owner("bakery-app", f); got != "bakery-app" {
					t.Errorf("%s file owned by %q, want bakery-app", f, got)
				}
			}
			// ansible-core 2.19 discovers "the first of its fallback list
			// found": the provisioner answers that through the builder's
			// connection, so Ansible neither discovers nor warns, and
			// Mitogen opens no connection per missing candidate.
			if version == "2.19" {
				if !strings.Contains(out, "Python on the instance: /") {
					t.Error("the build does not say which Python it found on the instance")
				}
				if strings.Contains(out, "using the discovered Python interpreter") {
					t.Error("Ansible still ran its own interpreter discovery")
				}
			}
			b.assertAMI(1)
			b.assertClean(out)
			assertNoMitogenFiles(t, b.tmp)
		})
	}
}

// TestE2EMitogenInterrupt: Ctrl-C (SIGINT to packer's process group)
// during a long task of a Mitogen play leaves no ansible-playbook, no
// Mitogen ssh or ControlMaster, and nothing in TMPDIR (assertClean), and
// no Mitogen socket or temporary folder either.
func TestE2EMitogenInterrupt(t *testing.T) {
	b := interrupt(t, true, syscall.SIGINT, true)
	assertNoMitogenFiles(t, b.tmp)
}

// TestE2EBecomeWithoutSetfacl: the same play without Mitogen fails on the
// bed's host (no setfacl) at the first become_user copy, and the build's
// error names that task and the three ways out.
func TestE2EBecomeWithoutSetfacl(t *testing.T) {
	if _, err := exec.LookPath("setfacl"); err == nil {
		t.Fatal("the bed's host has setfacl: this test would prove nothing (testbed/README.md says it has none)")
	}
	b := newBake(t, "mitogen.yml", ansibleVersions[0])
	out, err := b.run()
	if err == nil {
		t.Fatal("packer build succeeded: become_user copy without setfacl should fail with plain Ansible")
	}
	for _, want := range []string{`task "Copy a file as the unprivileged become_user" failed on host "default"`,
		"no `setfacl` (package `acl`)", "install `acl` in an earlier step", "`use_mitogen = true`", "ANSIBLE_ALLOW_WORLD_READABLE_TMPFILES=True"} {
		if !strings.Contains(out, want) {
			t.Errorf("the build's error lacks %q", want)
		}
	}
	b.assertAMI(0)
	b.assertClean(out)
}

// TestE2EMitogenMissing: use_mitogen with an ansible-playbook whose Python
// has ansible-core but no Mitogen stops the build before anything is
// launched, saying what to install into which Python.
func TestE2EMitogenMissing(t *testing.T) {
	b := newBake(t, "mitogen.yml", ansibleVersions[0])
	b.vars["use_mitogen"] = true
	b.vars["ansible_command"] = ansibleWithoutMitogen(t, ansibleVersions[0])
	out, err := b.run()
	if err == nil {
		t.Fatal("packer build succeeded without Mitogen")
	}
	python := filepath.Join(filepath.Dir(b.vars["ansible_command"].(string)), "python3")
	out = strings.Join(strings.Fields(out), " ") // packer wraps the error's lines
	if want := "Mitogen is not installed in " + python; !strings.Contains(out, want) {
		t.Errorf("the error lacks %q", want)
	}
	if want := "`" + python + " -m pip install mitogen==0.3.54`"; !strings.Contains(out, want) {
		t.Errorf("the error lacks %q", want)
	}
	if strings.Contains(out, "PLAY [") {
		t.Error("the play started before the refusal")
	}
	// Refused when packer prepared the template: the emulator (reset
	// before the bake) has no instance and no key pair.
	client, err := suite.Bed.EC2(t.Context(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Reservations); n != 0 {
		t.Errorf("%d launches before the refusal, want none", n)
	}
	keys, err := client.DescribeKeyPairs(t.Context(), &ec2.DescribeKeyPairsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(keys.KeyPairs); n != 0 {
		t.Errorf("%d key pairs made before the refusal, want none", n)
	}
}

// ansibleWithoutMitogen makes a venv whose Python sees the pinned
// ansible-core's packages but not Mitogen's, and an ansible-playbook run
// by it: a user's environment where Mitogen was never installed.
func ansibleWithoutMitogen(t *testing.T, version string) string {
	t.Helper()
	venv := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.Command("python3", "-m", "venv", "--without-pip", venv).CombinedOutput(); err != nil {
		t.Fatalf("python3 -m venv: %v\n%s", err, out)
	}
	src, err := filepath.Glob(filepath.Join(filepath.Dir(ansibleBin(suite.Root, version, "python3")), "..", "lib", "python3*", "site-packages"))
	if err != nil || len(src) != 1 {
		t.Fatalf("the ansible %s venv's site-packages: %v %q", version, err, src)
	}
	dst, err := filepath.Glob(filepath.Join(venv, "lib", "python3*", "site-packages"))
	if err != nil || len(dst) != 1 {
		t.Fatalf("the new venv's site-packages: %v %q", err, dst)
	}
	entries, err := os.ReadDir(src[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(strings.ToLower(e.Name()), "mitogen") {
			continue
		}
		if err := os.Symlink(filepath.Join(src[0], e.Name()), filepath.Join(dst[0], e.Name())); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	script, err := os.ReadFile(ansibleBin(suite.Root, version, "ansible-playbook"))
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(script), "\n")
	bin := filepath.Join(venv, "bin", "ansible-playbook")
	if err := os.WriteFile(bin, []byte("#!"+filepath.Join(venv, "bin", "python3")+"\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// assertNoMitogenFiles: Mitogen's controller keeps a unix socket in
// TMPDIR while the play runs; none may stay behind.
func assertNoMitogenFiles(t *testing.T, tmp string) {
	t.Helper()
	_ = filepath.WalkDir(tmp, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), "mitogen") {
			t.Errorf("%s was left in TMPDIR", path)
		}
		return nil
	})
}
