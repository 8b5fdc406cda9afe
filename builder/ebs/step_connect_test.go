package ebs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// timeoutStep halts as Packer's communicator step does when SSH never answers.
type timeoutStep struct{ cleaned bool }

func (s *timeoutStep) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	state.Put(keyError, errors.New("Timeout waiting for SSH."))
	return multistep.ActionHalt
}

func (s *timeoutStep) Cleanup(multistep.StateBag) { s.cleaned = true }

type fakeGroups struct {
	t      *testing.T
	groups []types.SecurityGroup
	asked  []string
	calls  int
}

func (f *fakeGroups) DescribeSecurityGroups(_ context.Context, in *ec2.DescribeSecurityGroupsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	f.calls++
	f.asked = append(f.asked, in.GroupIds...)
	return &ec2.DescribeSecurityGroupsOutput{SecurityGroups: f.groups}, nil
}

func TestStepConnect_timeoutIsExplained(t *testing.T) {
	tests := []struct {
		name  string
		host  string
		perms []types.IpPermission
		want  []string
	}{
		{
			name: "public IP, rule admits the port",
			host: "198.51.100.9",
			perms: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
				IpRanges: []types.IpRange{{CidrIp: aws.String("203.0.113.0/24")}}}},
			want: []string{
				`198.51.100.9:22 as user "ec2-user" with the temporary ed25519 key of key pair packer_bakery_b1`,
				"public IP 198.51.100.9, private IP 10.0.0.5; 198.51.100.9 is one of the instance's addresses",
				"security group sg-1 admits tcp port 22 from 203.0.113.0/24",
			},
		},
		{
			name: "no rule for the port, ssh_host elsewhere",
			host: "192.0.2.1",
			perms: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443),
				IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}},
			want: []string{
				"192.0.2.1 is NOT one of the instance's addresses",
				"security group sg-1 admits nothing on tcp port 22",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state, ui := newState(t)
			putInstance(state, types.Instance{InstanceId: aws.String("i-1"),
				PublicIpAddress: aws.String("198.51.100.9"), PrivateIpAddress: aws.String("10.0.0.5")})
			state.Put(keySGIDs, []string{"sg-1"})
			comm := &communicator.Config{Type: "ssh", SSH: communicator.SSH{SSHPort: 22, SSHUsername: "ec2-user",
				SSHPrivateKey: []byte("k"), SSHTemporaryKeyPair: communicator.SSHTemporaryKeyPair{SSHTemporaryKeyPairType: "ed25519"}}}
			groups := &fakeGroups{t: t, groups: []types.SecurityGroup{{GroupId: aws.String("sg-1"), IpPermissions: tc.perms}}}
			inner := &timeoutStep{}
			step := &stepConnect{inner: inner, ec2: groups, comm: comm, keyName: "packer_bakery_b1",
				host: func(multistep.StateBag) (string, error) { return tc.host, nil }}

			if got := step.Run(t.Context(), state); got != multistep.ActionHalt {
				t.Fatalf("action %v, want halt", got)
			}
			err, _ := state.Get(keyError).(error)
			if err == nil || !strings.HasPrefix(err.Error(), "Timeout waiting for SSH.") {
				t.Fatalf("error %v: want the timeout, explained", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) || !strings.Contains(ui.Err.String(), w) {
					t.Errorf("neither error nor UI says %q:\n%s", w, err)
				}
			}
			if strings.Join(groups.asked, ",") != "sg-1" {
				t.Errorf("described groups %v, want the instance's sg-1", groups.asked)
			}
			step.Cleanup(state)
			if !inner.cleaned {
				t.Error("Cleanup did not reach the communicator step")
			}
		})
	}
}

func TestStepConnect_cancelIsNotExplained(t *testing.T) {
	state, ui := newState(t)
	putInstance(state, types.Instance{InstanceId: aws.String("i-1"), PublicIpAddress: aws.String("198.51.100.9")})
	state.Put(keySGIDs, []string{"sg-1"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	groups := &fakeGroups{t: t}
	inner := &timeoutStep{}
	step := &stepConnect{inner: inner, ec2: groups, comm: &communicator.Config{Type: "ssh"},
		host: func(multistep.StateBag) (string, error) { return "h", nil }}
	if got := step.Run(ctx, state); got != multistep.ActionHalt {
		t.Errorf("action %v after a cancel, want halt", got)
	}
	// Packer reports the cancel; the step neither explains nor asks AWS.
	if err, _ := state.Get(keyError).(error); err == nil || err.Error() != "Timeout waiting for SSH." {
		t.Errorf("error %v, want the communicator's own, unexplained", err)
	}
	if groups.calls != 0 {
		t.Errorf("DescribeSecurityGroups called %d times after the cancel", groups.calls)
	}
	if ui.Err.Len() > 0 {
		t.Errorf("a cancelled wait was diagnosed: %q", ui.Err.String())
	}
	step.Cleanup(state)
	if !inner.cleaned {
		t.Error("Cleanup did not reach the communicator step")
	}
}
