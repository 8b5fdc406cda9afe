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
		name    string
		raw     map[string]interface{}
		wantErr []string // substrings; none: must succeed
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
		{name: "proxy options with use_proxy false", raw: map[string]interface{}{
			"playbook_file": playbook, "use_proxy": false, "sftp_command": "x", "local_port": 2200,
		}, wantErr: []string{"`sftp_command` only applies to the proxy", "`local_port` only applies"}},
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
