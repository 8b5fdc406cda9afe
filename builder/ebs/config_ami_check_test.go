package ebs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// testPlaybook writes a playbook for the `ami_test { ansible }` cases.
func testPlaybook(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "check.yml")
	if err := os.WriteFile(path, []byte("- hosts: all\n  tasks: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAMITestConfigPrepare(t *testing.T) {
	test := func(block map[string]interface{}, more ...map[string]interface{}) map[string]interface{} {
		in := map[string]interface{}{"ami_test": block}
		for _, m := range more {
			for k, v := range m {
				in[k] = v
			}
		}
		return validConfig(in)
	}
	playbook := testPlaybook(t)
	ansibleBlock := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{"skip_version_check": true}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return map[string]interface{}{"ansible": m}
	}
	runPrepareCases(t, []prepareCase{
		{name: "off by default", input: validConfig(nil), check: func(t *testing.T, c *Config) {
			if c.AMITest.enabled() {
				t.Error("the AMI test is on without being asked for")
			}
		}},
		{name: "checks, the build's instance type", input: test(map[string]interface{}{"inline": []string{"systemctl is-active sshd"}}),
			check: func(t *testing.T, c *Config) {
				if !c.AMITest.enabled() || c.AMITest.InstanceType != c.InstanceType {
					t.Errorf("AMITest = %+v, want on with instance_type %s", c.AMITest, c.InstanceType)
				}
			}},
		{name: "own instance type", input: test(map[string]interface{}{"inline": []string{"true"}, "instance_type": "t3.large"}),
			check: func(t *testing.T, c *Config) {
				if c.AMITest.InstanceType != "t3.large" {
					t.Errorf("instance type %q", c.AMITest.InstanceType)
				}
			}},
		{name: "no checks", input: test(map[string]interface{}{"instance_type": "t3.large"}), wantErr: []string{"needs `inline` or `ansible`"}},
		{name: "inline rendered by the builder", input: test(map[string]interface{}{"inline": []string{`echo {{ isotime "2006" }}`}}),
			check: func(t *testing.T, c *Config) {
				if strings.Contains(c.AMITest.Inline[0], "{{") {
					t.Errorf("inline %q was not rendered", c.AMITest.Inline[0])
				}
			}},
		{name: "a playbook alone turns the test on", input: test(ansibleBlock("playbook_file", playbook)),
			check: func(t *testing.T, c *Config) {
				if !c.AMITest.enabled() || c.AMITest.playbook == nil || len(c.AMITest.Inline) != 0 {
					t.Errorf("AMITest = %+v, want on with the playbook prepared and no inline", c.AMITest)
				}
				if steps := testSteps(plan(c, planDeps{region: "us-east-1", clients: noClients()})); steps != "connect playbook" {
					t.Errorf("test steps %q, want connect playbook", steps)
				}
			}},
		{name: "inline first, then the playbook", input: test(map[string]interface{}{"inline": []string{"true"}, "ansible": ansibleBlock("playbook_file", playbook)["ansible"]}),
			check: func(t *testing.T, c *Config) {
				if steps := testSteps(plan(c, planDeps{region: "us-east-1", clients: noClients()})); steps != "connect inline playbook" {
					t.Errorf("test steps %q, want connect inline playbook", steps)
				}
			}},
		// The block keeps the provisioner's template as written: the play
		// fills in {{ .Host }}, not the builder.
		{name: "provisioner's options", input: test(ansibleBlock("playbook_file", playbook, "extra_arguments", []string{"-v"},
			"inventory_file_template", "{{ .HostAlias }} ansible_host={{ .Host }}\n", "extra_vars", map[string]interface{}{"who": "{{ build_name }}"}), map[string]interface{}{"packer_build_name": "web"})},
		// packer validate, iam-policy: a playbook known only to the build.
		{name: "a playbook not known yet", input: test(ansibleBlock("playbook_file", hcl2helper.UnknownVariableValue)),
			check: func(t *testing.T, c *Config) {
				if !c.AMITest.enabled() {
					t.Error("the AMI test is off")
				}
			}},
		{name: "the provisioner's own errors, prefixed", input: test(ansibleBlock("ansible_env_vars", []string{"NOEQUALS"})),
			wantErr: []string{"`ami_test.ansible`: `playbook_file` is required", "`ami_test.ansible`: `ansible_env_vars`: \"NOEQUALS\""}},
		{name: "a missing playbook", input: test(ansibleBlock("playbook_file", filepath.Join(t.TempDir(), "nope.yml"))),
			wantErr: []string{"`ami_test.ansible`: `playbook_file`: stat"}},

		{name: "empty check", input: test(map[string]interface{}{"inline": []string{"true", " "}}), wantErr: []string{"command 2 is empty"}},
		{name: "no AMI to test", input: test(map[string]interface{}{"inline": []string{"true"}}, map[string]interface{}{"skip_create_ami": true}),
			wantErr: []string{"`skip_create_ami` makes none"}},
	})
}

func TestAMITestAnsibleUnknownOption(t *testing.T) {
	in := validConfig(map[string]interface{}{"ami_test": map[string]interface{}{"ansible": map[string]interface{}{"playbook_file": testPlaybook(t), "playbook": "x.yml"}}})
	if _, err := new(Config).Prepare(in); err == nil || !strings.Contains(err.Error(), "ami_test.ansible.playbook") {
		t.Errorf("Prepare with an unknown option: %v, want it named", err)
	}
}

// testSteps names the AMI test's steps of a plan, in order.
func testSteps(steps []multistep.Step) string {
	var names []string
	for _, s := range steps {
		switch s.(type) {
		case *communicator.StepConnect:
			names = append(names, "connect")
		case *stepTestChecks:
			names = append(names, "inline")
		case *stepTestPlaybook:
			names = append(names, "playbook")
		}
	}
	return strings.Join(names, " ")
}

// An HCL2 template reaches Prepare as a cty value: the nested `ansible`
// block decodes through the provisioner's own spec, and its templates
// stay for the play.
func TestAMITestAnsibleInHCL2(t *testing.T) {
	src := `
source_ami    = "ami-0123456789abcdef0"
instance_type = "t3.micro"
ssh_username  = "ec2-user"
region        = "us-east-1"
ami_name      = "web"
ami_test {
  inline = ["true"]
  ansible {
    playbook_file           = "` + testPlaybook(t) + `"
    extra_arguments         = ["--diff"]
    extra_vars              = { app = "web" }
    inventory_file_template = "{{ .HostAlias }} ansible_host={{ .Host }}\n"
    skip_version_check      = true
  }
}
`
	var c Config
	if _, err := c.Prepare(hcl2Body(t, src)); err != nil {
		t.Fatalf("Prepare of the HCL2 body: %v", err)
	}
	if c.AMITest.playbook == nil || c.AMITest.Ansible == nil || c.AMITest.Ansible.ExtraArguments[0] != "--diff" {
		t.Errorf("AMITest = %+v, want the playbook prepared", c.AMITest)
	}

	// The provisioner's errors, through HCL2 too.
	bad := strings.Replace(src, "playbook_file ", "limit ", 1)
	if _, err := new(Config).Prepare(hcl2Body(t, bad)); err == nil || !strings.Contains(err.Error(), "`ami_test.ansible`: `playbook_file` is required") {
		t.Errorf("Prepare without playbook_file: %v", err)
	}
}
