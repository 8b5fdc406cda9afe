package ebs

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// ingressRecorder keeps the rules the security group step authorizes.
type ingressRecorder struct {
	securityGroupManager
	rules *[]types.IpPermission
}

func (r ingressRecorder) AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, opts ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error) {
	if !aws.ToBool(in.DryRun) { // the permission check's question is not a rule
		*r.rules = append(*r.rules, in.IpPermissions...)
	}
	return r.securityGroupManager.AuthorizeSecurityGroupIngress(ctx, in, opts...)
}

// TestCommunicatorsThroughThePlan bakes with `communicator = "winrm"` and
// `"none"` through the whole step sequence, against the recording cloud:
// the bake gets to its image, no temporary key pair is made for either,
// and the temporary security group admits the WinRM port, or nothing at
// all when there is no communicator.
func TestCommunicatorsThroughThePlan(t *testing.T) {
	for _, tc := range []struct {
		name      string
		over      map[string]interface{}
		wantPorts []int32
	}{
		{"ssh (the control)", nil, []int32{22}},
		// Not a two-letter password: Prepare hides passwords in the
		// process-wide secret filter, which would then mask "pw" inside
		// other tests' private keys and break their masking check.
		{"winrm", map[string]interface{}{"communicator": "winrm", "winrm_username": "Administrator", "winrm_password": "winrm-pass-e2e", "ssh_username": unset}, []int32{5985}},
		{"none", map[string]interface{}{"communicator": "none", "ssh_username": unset}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCloud(t)
			var rules []types.IpPermission
			record := func(steps []multistep.Step) {
				for _, s := range steps {
					if sg, ok := s.(*stepSecurityGroup); ok {
						sg.ec2 = ingressRecorder{securityGroupManager: sg.ec2, rules: &rules}
					}
				}
			}
			bake(t, c, preparedConfig(t, tc.over), nil, record)
			for step, action := range map[string]string{"stepRunInstance": "ec2:RunInstances", "stepStopInstance": "ec2:StopInstances",
				"stepCreateImage": "ec2:CreateImage", "stepSecurityGroup": "ec2:DeleteSecurityGroup"} {
				if !c.made[step][action] {
					t.Errorf("%s made no %s: the bake did not get through (calls %v)", step, action, c.made)
				}
			}
			keyPairs := c.made["stepKeyPair"]
			if wantKey := tc.over == nil; wantKey != keyPairs["ec2:ImportKeyPair"] || len(keyPairs) > 0 && !wantKey {
				t.Errorf("key pair calls %v, want a temporary key pair only for ssh", keyPairs)
			}
			var ports []int32
			for _, r := range rules {
				if aws.ToInt32(r.FromPort) != aws.ToInt32(r.ToPort) {
					t.Errorf("rule for ports %d-%d, want one port", aws.ToInt32(r.FromPort), aws.ToInt32(r.ToPort))
				}
				ports = append(ports, aws.ToInt32(r.FromPort))
			}
			if len(ports) != len(tc.wantPorts) || (len(ports) > 0 && ports[0] != tc.wantPorts[0]) {
				t.Errorf("the temporary security group admits ports %v, want %v", ports, tc.wantPorts)
			}
		})
	}
}
