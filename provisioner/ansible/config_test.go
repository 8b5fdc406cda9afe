package ansible

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	playbook := filepath.Join(dir, "site.yml")
	if err := os.WriteFile(playbook, []byte("- hosts: all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		raw      map[string]interface{}
		wantErr  []string // substrings; none: must succeed
		wantWarn []string // substrings of the warnings, in order
	}{
		{name: "minimal", raw: map[string]interface{}{"playbook_file": playbook}},
		{name: "no playbook", raw: map[string]interface{}{}, wantErr: []string{"`playbook_file` is required"}},
		{name: "missing playbook", raw: map[string]interface{}{"playbook_file": filepath.Join(dir, "nope.yml")}, wantErr: []string{"`playbook_file`", "no such file"}},
		{name: "playbook is a folder", raw: map[string]interface{}{"playbook_file": dir}, wantErr: []string{"is a folder"}},
		{name: "every problem at once", raw: map[string]interface{}{
			"playbook_file":          playbook,
			"galaxy_file":            filepath.Join(dir, "req.yml"),
			"ansible_env_vars":       []string{"NOEQUALS"},
			"local_port":             70000,
			"galaxy_force_install":   true,
			"galaxy_force_with_deps": true,
			"groups":                 []string{"bad group"},
		}, wantErr: []string{"`galaxy_file`", "NOEQUALS", "`local_port`", "galaxy_force_with_deps", `"bad group"`}},
		// Each of these would change the generated INI inventory's meaning.
		{name: "group with a comment sign", raw: map[string]interface{}{"playbook_file": playbook, "groups": []string{"web#x"}}, wantErr: []string{"`groups`: \"web#x\""}},
		{name: "group with a semicolon", raw: map[string]interface{}{"playbook_file": playbook, "groups": []string{"web;x"}}, wantErr: []string{"`groups`"}},
		{name: "group of groups", raw: map[string]interface{}{"playbook_file": playbook, "empty_groups": []string{"all:children"}}, wantErr: []string{"`empty_groups`"}},
		{name: "group with a carriage return", raw: map[string]interface{}{"playbook_file": playbook, "groups": []string{"web\rx"}}, wantErr: []string{"`groups`"}},
		{name: "group with a unicode line separator", raw: map[string]interface{}{"playbook_file": playbook, "groups": []string{"web\u2028evil ansible_host=10.9.9.9"}}, wantErr: []string{"`groups`"}},
		{name: "host alias with a comment sign", raw: map[string]interface{}{"playbook_file": playbook, "host_alias": "h#x"}, wantErr: []string{"`host_alias`"}},
		{name: "host alias with a line separator", raw: map[string]interface{}{"playbook_file": playbook, "host_alias": "h\u0085other"}, wantErr: []string{"`host_alias`"}},
		{name: "host alias that is an option", raw: map[string]interface{}{"playbook_file": playbook, "host_alias": "-x"}, wantErr: []string{"`host_alias`"}},
		{name: "good names", raw: map[string]interface{}{"playbook_file": playbook, "host_alias": "web-1.example", "groups": []string{"web_servers", "eu-west"}}},
		// The seed document's workaround, in countless stock templates:
		// the stock provisioner ignores it in direct mode, so do we.
		{name: "proxy options with use_proxy false", raw: map[string]interface{}{
			"playbook_file": playbook, "use_proxy": false, "sftp_command": "/usr/libexec/openssh/sftp-server -e", "local_port": 2200,
			"ssh_host_key_file": playbook, "ssh_authorized_key_file": playbook, "ansible_proxy_key_type": "rsa",
		}, wantWarn: []string{"`local_port` is ignored", "`ssh_host_key_file` is ignored", "`ssh_authorized_key_file` is ignored",
			"`sftp_command` is ignored: it only applies to the proxy, and `use_proxy = false` turns the proxy off", "`ansible_proxy_key_type` is ignored"}},
		{name: "proxy options with the proxy", raw: map[string]interface{}{
			"playbook_file": playbook, "use_proxy": true, "sftp_command": "/usr/libexec/openssh/sftp-server -e", "ansible_proxy_key_type": "ecdsa",
		}},
		{name: "unknown proxy key type", raw: map[string]interface{}{"playbook_file": playbook, "ansible_proxy_key_type": "dsa"},
			wantErr: []string{"`ansible_proxy_key_type` \"DSA\": use ECDSA or RSA"}},
		{name: "winrm over http", raw: map[string]interface{}{"playbook_file": playbook, "ansible_winrm_use_http": true},
			wantWarn: []string{"`ansible_winrm_use_http` is ignored: bakery-ansible reaches the instance over SSH only"}},
		{name: "winrm over http off", raw: map[string]interface{}{"playbook_file": playbook, "ansible_winrm_use_http": false}},
		{name: "inventory file and template", raw: map[string]interface{}{
			"playbook_file": playbook, "inventory_file": playbook, "inventory_file_template": "x",
		}, wantErr: []string{"cannot both be set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := c.Prepare(tc.raw)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				if c.Command != "ansible-playbook" || c.HostAlias != "default" && tc.raw["host_alias"] == nil || c.GalaxyCommand != "ansible-galaxy" {
					t.Errorf("defaults not applied: %+v", c)
				}
				if len(c.warnings) != len(tc.wantWarn) {
					t.Fatalf("warnings %q, want %d like %q", c.warnings, len(tc.wantWarn), tc.wantWarn)
				}
				for i, want := range tc.wantWarn {
					if !strings.Contains(c.warnings[i], want) {
						t.Errorf("warning %d %q lacks %q", i, c.warnings[i], want)
					}
				}
				return
			}
			if err == nil {
				t.Fatal("Prepare accepted it")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}
