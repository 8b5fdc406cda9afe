package ansible

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// probedProvisioner prepares with the stub runner already in place and the
// early version check on, as in a real build.
func probedProvisioner(t *testing.T, stubs *stubRunner, extra map[string]interface{}) *Provisioner {
	t.Helper()
	probeOnPrepare = true
	t.Cleanup(func() { probeOnPrepare = false })
	t.Setenv("TMPDIR", t.TempDir())
	playbook := filepath.Join(t.TempDir(), "site.yml")
	if err := os.WriteFile(playbook, []byte("- hosts: all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := map[string]interface{}{"playbook_file": playbook, "packer_build_name": "b", "packer_builder_type": "bakery-ebs"}
	for k, v := range extra {
		raw[k] = v
	}
	p := &Provisioner{reach: func(string, int) error { return nil }, runner: stubs}
	if err := p.Prepare(raw); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return p
}

func TestVersionCheckStartsAtPrepareAndIsUsedOnce(t *testing.T) {
	stubs := newStubRunner(t)
	var versions atomic.Int32
	ran := make(chan struct{})
	stubs.Register(`ansible-playbook --version$`, "ansible-playbook [core 2.19.14]\n", nil, func(command) {
		versions.Add(1)
		close(ran)
	})
	stubs.Register(`^ssh -V$`, "OpenSSH_9.2p1", nil, nil)
	stubs.Register(`ansible-playbook .*site\.yml`, "PLAY [all]\n", nil, nil)
	p := probedProvisioner(t, stubs, nil)
	select { // before Provision is called at all
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("Prepare did not start `ansible-playbook --version`")
	}
	ui, out := testUi()
	if err := p.Provision(context.Background(), ui, nil, generated()); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if n := versions.Load(); n != 1 {
		t.Errorf("--version ran %d times, want once", n)
	}
	if !strings.Contains(out.String(), "Ansible: ansible-playbook [core 2.19.14]") {
		t.Errorf("the early check's version is not reported:\n%s", out)
	}
}

func TestEarlyVersionCheckFailureFailsProvision(t *testing.T) {
	stubs := newStubRunner(t)
	stubs.Register(`ansible-playbook --version$`, "ansible-playbook [core 2.9.27]\n", nil, nil)
	stubs.Register(`^ssh -V$`, "OpenSSH_9.2p1", nil, nil)
	p := probedProvisioner(t, stubs, nil)
	ui, _ := testUi()
	err := p.Provision(context.Background(), ui, nil, generated())
	if err == nil || !strings.Contains(err.Error(), "ansible-core 2.9; bakery-ansible needs 2.14 or newer") {
		t.Fatalf("Provision: %v, want the version refusal", err)
	}
}

// When the environment changed between Prepare and Provision, the early
// result may not describe what runs now: Provision checks again.
func TestEarlyVersionCheckIgnoredWhenTheCommandChanged(t *testing.T) {
	stubs := newStubRunner(t)
	var versions atomic.Int32
	for range 2 {
		stubs.Register(`ansible-playbook --version$`, "ansible-playbook [core 2.19.14]\n", nil, func(command) { versions.Add(1) })
	}
	stubs.Register(`^ssh -V$`, "OpenSSH_9.2p1", nil, nil)
	stubs.Register(`ansible-playbook .*site\.yml`, "PLAY [all]\n", nil, nil)
	p := probedProvisioner(t, stubs, nil)
	if _, _, err := p.probe.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BAKERY_PROBE_TEST", "changed")
	ui, _ := testUi()
	if err := p.Provision(context.Background(), ui, nil, generated()); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if n := versions.Load(); n != 2 {
		t.Errorf("--version ran %d times, want 2 (early, then again for the changed environment)", n)
	}
}

func TestNoEarlyVersionCheckWithSkipVersionCheck(t *testing.T) {
	stubs := newStubRunner(t)
	stubs.Register(`^ssh -V$`, "OpenSSH_9.2p1", nil, nil)
	stubs.Register(`ansible-playbook .*site\.yml`, "PLAY [all]\n", nil, nil)
	p := probedProvisioner(t, stubs, map[string]interface{}{"skip_version_check": true})
	if p.probe != nil {
		t.Fatal("a probe started although skip_version_check is set")
	}
	ui, _ := testUi()
	if err := p.Provision(context.Background(), ui, nil, generated()); err != nil {
		t.Fatalf("Provision: %v", err)
	}
}
