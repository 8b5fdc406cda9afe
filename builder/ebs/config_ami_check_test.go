package ebs

import (
	"testing"
)

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
		{name: "no checks", input: test(map[string]interface{}{"instance_type": "t3.large"}), wantErr: []string{"needs `inline`"}},
		{name: "empty check", input: test(map[string]interface{}{"inline": []string{"true", " "}}), wantErr: []string{"command 2 is empty"}},
		{name: "no AMI to test", input: test(map[string]interface{}{"inline": []string{"true"}}, map[string]interface{}{"skip_create_ami": true}),
			wantErr: []string{"`skip_create_ami` makes none"}},
	})
}
