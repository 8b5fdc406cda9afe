package ansible

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

const fakeKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nfake-key-material\n-----END OPENSSH PRIVATE KEY-----\n"

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testUi() (packersdk.Ui, *syncBuffer) {
	out := &syncBuffer{}
	return &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: out, ErrorWriter: out, PB: &packersdk.NoopProgressTracker{}}, out
}

// newTestProvisioner prepares a provisioner on a real playbook file, with
// TMPDIR pointing at a folder the test inspects afterwards.
func newTestProvisioner(t *testing.T, extra map[string]interface{}) (*Provisioner, *stubRunner, string) {
	t.Helper()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	playbook := filepath.Join(t.TempDir(), "site.yml")
	if err := os.WriteFile(playbook, []byte("- hosts: all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := map[string]interface{}{"playbook_file": playbook, "packer_build_name": "b", "packer_builder_type": "bakery-ebs"}
	for k, v := range extra {
		raw[k] = v
	}
	p := &Provisioner{reach: func(string, int) error { return nil }}
	if err := p.Prepare(raw); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	stubs := newStubRunner(t)
	p.runner = stubs
	return p, stubs, tmp
}

func generated() map[string]interface{} {
	return map[string]interface{}{
		"ConnType": "ssh", "Host": "10.0.0.5", "Port": 22, "User": "ec2-user",
		"SSHPrivateKey": fakeKey, "PackerHTTPAddr": "127.0.0.1:8080",
	}
}

func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func mode0600(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s left in TMPDIR after the run", e.Name())
	}
}

func TestProvisionDirectWritesPrivateFilesAndRemovesThem(t *testing.T) {
	p, stubs, tmp := newTestProvisioner(t, map[string]interface{}{
		"extra_vars": map[string]string{"db_password": "s3cr3t-value"},
		"groups":     []string{"web"},
	})
	var files []string
	stubs.Register(`^ssh -V$`, "OpenSSH_9.2p1 Debian", nil, nil)
	stubs.Register(`ansible-playbook --version$`, "ansible-playbook [core 2.19.14]\n  config file = None\n", nil, nil)
	stubs.Register(`ansible-playbook .*site\.yml`, "PLAY [all]\nTASK [x] ***\nok: [default]\n", nil, func(c command) {
		key := argAfter(c.Args, "--private-key")
		inv := argAfter(c.Args, "-i")
		vars := strings.TrimPrefix(argAfter(c.Args, "--extra-vars"), "@")
		files = []string{key, inv, vars}
		for _, f := range files {
			mode0600(t, f)
		}
		if data, _ := os.ReadFile(key); string(data) != fakeKey {
			t.Errorf("key file holds %q", data)
		}
		inventory, _ := os.ReadFile(inv)
		if want := "default ansible_host=10.0.0.5 ansible_port=22\n\n[web]\ndefault\n"; string(inventory) != want {
			t.Errorf("inventory\n%s\nwant\n%s", inventory, want)
		}
		var v map[string]string
		data, _ := os.ReadFile(vars)
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatal(err)
		}
		if v["db_password"] != "s3cr3t-value" || v["packer_build_name"] != "b" || v["packer_http_addr"] != "127.0.0.1:8080" {
			t.Errorf("extra vars %v", v)
		}
		if argAfter(c.Args, "--user") != "ec2-user" {
			t.Errorf("--user %q, want the builder's ssh_username", argAfter(c.Args, "--user"))
		}
		if !strings.Contains(strings.Join(c.Args, " "), "--scp-extra-args=-O") {
			t.Error("OpenSSH 9 but no scp -O")
		}
		cp := ""
		for _, kv := range c.Env {
			if v, ok := strings.CutPrefix(kv, "ANSIBLE_SSH_CONTROL_PATH_DIR="); ok {
				cp = v
			}
		}
		if fi, err := os.Stat(cp); err != nil || !fi.IsDir() {
			t.Errorf("per-run ControlPath folder %q missing: %v", cp, err)
		}
	})
	ui, out := testUi()
	if err := p.Provision(context.Background(), ui, nil, generated()); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	for _, f := range files {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after the run (%v)", f, err)
		}
	}
	emptyDir(t, tmp)
	shown := out.String()
	if strings.Contains(shown, "s3cr3t-value") || strings.Contains(shown, "fake-key-material") {
		t.Errorf("the output shows a secret:\n%s", shown)
	}
	for _, want := range []string{"Ansible connects directly", "Executing Ansible: ", "TASK [x] ***", "ok: [default]"} {
		if !strings.Contains(shown, want) {
			t.Errorf("output lacks %q:\n%s", want, shown)
		}
	}
}

func TestProvisionFailureNamesTaskAndHostAndCleansUp(t *testing.T) {
	p, stubs, tmp := newTestProvisioner(t, map[string]interface{}{"skip_version_check": true, "use_sftp": true})
	play := "TASK [Install nginx] ***\nfatal: [default]: FAILED! => {\"msg\": \"no package\"}\nPLAY RECAP\n"
	stubs.Register(`ansible-playbook .*site\.yml`, play, &exitStatusError{Program: "ansible-playbook", Status: 2}, nil)
	ui, _ := testUi()
	err := p.Provision(context.Background(), ui, nil, generated())
	if err == nil || !strings.Contains(err.Error(), `task "Install nginx" failed on host "default"`) || !strings.Contains(err.Error(), "status 2") {
		t.Fatalf("error %v: want the failed task, host and status", err)
	}
	emptyDir(t, tmp)
}

func TestProvisionKeepInventoryFile(t *testing.T) {
	p, stubs, tmp := newTestProvisioner(t, map[string]interface{}{"skip_version_check": true, "use_sftp": true, "keep_inventory_file": true})
	var inv string
	stubs.Register(`ansible-playbook`, "", nil, func(c command) { inv = argAfter(c.Args, "-i") })
	ui, _ := testUi()
	if err := p.Provision(context.Background(), ui, nil, generated()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(inv); err != nil {
		t.Errorf("keep_inventory_file: inventory gone: %v", err)
	}
	entries, _ := os.ReadDir(tmp)
	if len(entries) != 1 || filepath.Join(tmp, entries[0].Name()) != inv {
		t.Errorf("TMPDIR holds %v, want only the inventory %s (key and vars removed)", entries, inv)
	}
}

func TestProvisionUserDefaultsAndOverride(t *testing.T) {
	for _, tc := range []struct {
		name string
		user string
		want string
	}{{"builder's ssh_username", "", "ec2-user"}, {"user option", "deploy", "deploy"}} {
		t.Run(tc.name, func(t *testing.T) {
			extra := map[string]interface{}{"skip_version_check": true, "use_sftp": true}
			if tc.user != "" {
				extra["user"] = tc.user
			}
			p, stubs, _ := newTestProvisioner(t, extra)
			stubs.Register(`ansible-playbook`, "", nil, func(c command) {
				if got := argAfter(c.Args, "--user"); got != tc.want {
					t.Errorf("--user %q, want %q", got, tc.want)
				}
			})
			ui, _ := testUi()
			if err := p.Provision(context.Background(), ui, nil, generated()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestProvisionGalaxyRunsOnceBeforeThePlay(t *testing.T) {
	req := filepath.Join(t.TempDir(), "requirements.yml")
	if err := os.WriteFile(req, []byte("roles: []\ncollections: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, stubs, _ := newTestProvisioner(t, map[string]interface{}{"skip_version_check": true, "use_sftp": true, "galaxy_file": req, "roles_path": "/r"})
	var order []string
	stubs.Register(`^ansible-galaxy install -r `+req+`$`, "", nil, func(command) { order = append(order, "galaxy") })
	stubs.Register(`^ansible-playbook `, "", nil, func(command) { order = append(order, "play") })
	ui, _ := testUi()
	if err := p.Provision(context.Background(), ui, nil, generated()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, ",") != "galaxy,play" {
		t.Errorf("order %v", order)
	}
}

func TestProvisionOldAnsibleRefused(t *testing.T) {
	p, stubs, _ := newTestProvisioner(t, map[string]interface{}{"use_sftp": true})
	stubs.Register(`--version$`, "ansible-playbook 2.9.27\n", nil, nil)
	ui, _ := testUi()
	err := p.Provision(context.Background(), ui, nil, generated())
	if err == nil || !strings.Contains(err.Error(), "needs 2.14 or newer") {
		t.Fatalf("error %v", err)
	}
}

func TestProvisionNoUserIsAnError(t *testing.T) {
	p, _, _ := newTestProvisioner(t, nil)
	data := generated()
	data["User"] = ""
	ui, _ := testUi()
	if err := p.Provision(context.Background(), ui, nil, data); err == nil || !strings.Contains(err.Error(), "`user`") {
		t.Fatalf("error %v", err)
	}
}

func TestExecRunnerReportsExitStatus(t *testing.T) {
	err := execRunner{}.Run(context.Background(), command{Path: "sh", Args: []string{"-c", "exit 3"}}, nil, nil)
	var st *exitStatusError
	if !errors.As(err, &st) || st.Status != 3 {
		t.Fatalf("error %v, want exit status 3", err)
	}
}

func TestPrepareRegistersExtraVarValuesAsSecrets(t *testing.T) {
	playbook := filepath.Join(t.TempDir(), "site.yml")
	if err := os.WriteFile(playbook, []byte("- hosts: all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var p Provisioner
	err := p.Prepare(map[string]interface{}{
		"playbook_file":      playbook,
		"skip_version_check": true,
		"extra_vars":         map[string]string{"db_password": "fromExtraVars1", "debug": "yes"},
		"extra_arguments":    []string{"-e", "api_token=fromCommandLine2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := packersdk.LogSecretFilter.FilterString("fromExtraVars1 fromCommandLine2 debug=yes")
	if want := "<sensitive> <sensitive> debug=yes"; got != want {
		t.Errorf("filtered %q, want %q", got, want)
	}
}

// A stock template's proxy-only workaround with `use_proxy = false`: the
// play runs, and the build output says the option is not needed.
func TestProvisionWarnsAboutIgnoredProxyOptions(t *testing.T) {
	p, stubs, _ := newTestProvisioner(t, map[string]interface{}{
		"skip_version_check": true, "use_proxy": false, "sftp_command": "/usr/libexec/openssh/sftp-server -e",
	})
	ran := false
	stubs.Register(`^ssh -V$`, "OpenSSH_9.2p1 Debian", nil, nil)
	stubs.Register(`ansible-playbook .*site\.yml`, "PLAY [all]\n", nil, func(command) { ran = true })
	ui, out := testUi()
	if err := p.Provision(context.Background(), ui, nil, generated()); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if !ran {
		t.Error("the play did not run")
	}
	if want := "Warning: `sftp_command` is ignored"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
}
