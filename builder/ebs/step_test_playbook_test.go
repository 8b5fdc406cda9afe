package ebs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	gossh "golang.org/x/crypto/ssh"
)

// fakePlaybook records what the step hands the provisioner, prints lines
// as a play would, and fails with err.
type fakePlaybook struct {
	lines []string
	err   error
	data  map[string]interface{}
	comm  packersdk.Communicator
}

func (f *fakePlaybook) Provision(_ context.Context, ui packersdk.Ui, comm packersdk.Communicator, data map[string]interface{}) error {
	f.data, f.comm = data, comm
	for _, l := range f.lines {
		ui.Message(l)
	}
	return f.err
}

func TestStepTestPlaybook(t *testing.T) {
	comm := &communicator.Config{Type: "ssh", SSH: communicator.SSH{SSHHost: "10.0.0.9", SSHPort: 22, SSHUsername: "ec2-user",
		SSHPrivateKey: []byte("PRIVATE KEY"), SSHBastionHost: "bastion.example", SSHBastionPort: 2222, SSHBastionUsername: "jump", SSHBastionAgentAuth: true}}
	// The build instance's key is pinned in the build's generated data;
	// the test instance showed another.
	buildKey, testKey := newHostKey(t), newHostKey(t)
	buildPin, testPin := new(hostKeyPin), new(hostKeyPin)
	_ = buildPin.check("build", nil, buildKey)
	_ = testPin.check("test", nil, testKey)

	setup := func(t *testing.T, play *fakePlaybook) (multistep.StateBag, *uiOutput, *packersdk.MockCommunicator, *stepTestPlaybook) {
		state, ui := newState(t)
		publishSSHRoute(state, comm, buildPin)
		putTestInstance(state, types.Instance{InstanceId: aws.String("i-0test")})
		remote := new(packersdk.MockCommunicator)
		state.Put("communicator", remote)
		return state, ui, remote, &stepTestPlaybook{playbook: play, playbookFile: "checks/ami.yml", comm: comm, pin: testPin}
	}

	played := []string{"PLAY [all] ***", "TASK [nginx answers] ***", "ok: [default]", "", "PLAY RECAP ***",
		"default                    : ok=1    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0", ""}
	t.Run("hands the provisioner the test instance", func(t *testing.T) {
		play := &fakePlaybook{lines: played}
		state, ui, remote, step := setup(t, play)
		wantContinue(t, step.Run(t.Context(), state), state, ui)
		if play.comm != remote {
			t.Errorf("the provisioner got communicator %v, want the test instance's", play.comm)
		}
		want := map[string]interface{}{
			"ID": "i-0test", "ConnType": "ssh", "Host": "10.0.0.9", "Port": 22, "User": "ec2-user", "SSHPrivateKey": "PRIVATE KEY",
			"SSHHostPublicKey": string(gossh.MarshalAuthorizedKey(testKey)),
			"SSHBastionHost":   "bastion.example", "SSHBastionPort": 2222, "SSHBastionUsername": "jump", "SSHBastionAgentAuth": true,
		}
		for k, v := range want {
			if play.data[k] != v {
				t.Errorf("data[%s] = %v, want %v", k, play.data[k], v)
			}
		}
		if !strings.Contains(ui.Out.String(), "the playbook check checks/ami.yml passed") {
			t.Errorf("output %q does not say the check passed", ui.Out.String())
		}
	})

	t.Run("a failed play fails the build, naming it", func(t *testing.T) {
		play := &fakePlaybook{lines: []string{"TASK [nginx answers] ***", `fatal: [default]: FAILED! => {"msg": "connection refused"}`},
			err: errors.New(`task "nginx answers" failed on default: ansible-playbook exited with status 2`)}
		state, ui, _, step := setup(t, play)
		wantHalt(t, step.Run(t.Context(), state), state, ui, "the playbook check checks/ami.yml failed", `task "nginx answers" failed`,
			"the AMI is removed", `fatal: [default]: FAILED! => {"msg": "connection refused"}`)
	})

	// ansible-playbook exits 0 when no play matched the host.
	t.Run("a play that ran on no host fails", func(t *testing.T) {
		play := &fakePlaybook{lines: []string{"PLAY [webservers] ***", "skipping: no hosts matched", "", "PLAY RECAP ***", ""}}
		state, ui, _, step := setup(t, play)
		wantHalt(t, step.Run(t.Context(), state), state, ui, "the playbook check checks/ami.yml failed", "no play ran on the test instance")
	})

	// A stdout callback without a recap (json, minimal) is taken at its word.
	t.Run("no recap, ansible-playbook's word", func(t *testing.T) {
		play := &fakePlaybook{lines: []string{`{"plays": [], "stats": {"default": {"ok": 1}}}`}}
		state, ui, _, step := setup(t, play)
		wantContinue(t, step.Run(t.Context(), state), state, ui)
	})

	t.Run("no host key, no play", func(t *testing.T) {
		play := new(fakePlaybook)
		state, ui, _, step := setup(t, play)
		step.pin = new(hostKeyPin)
		wantHalt(t, step.Run(t.Context(), state), state, ui, "host key is unknown")
		if play.data != nil {
			t.Error("the play ran without a host key to hold Ansible to")
		}
	})
}

// TestPlanPinsTheTestInstance: in the plan, the connection to the test
// instance pins the host key it shows, and that pin, not the build
// instance's, is what the playbook check hands Ansible.
func TestPlanPinsTheTestInstance(t *testing.T) {
	cfg := preparedConfig(t, map[string]interface{}{"ami_test": map[string]interface{}{
		"ansible": map[string]interface{}{"playbook_file": testPlaybook(t), "skip_version_check": true}}})
	private, _, err := generateKey("ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Comm.SSHPrivateKey = private // as the key pair step leaves it
	var connects []*communicator.StepConnect
	var buildPin *hostKeyPin
	var check *stepTestPlaybook
	for _, s := range plan(cfg, planDeps{region: "us-east-1", clients: noClients()}) {
		switch s := s.(type) {
		case *stepConnect:
			buildPin = s.pin
		case *communicator.StepConnect:
			connects = append(connects, s)
		case *stepTestPlaybook:
			check = s
		}
	}
	if len(connects) != 1 || buildPin == nil || check == nil {
		t.Fatalf("plan has %d test connect steps, build pin %v, playbook check %v", len(connects), buildPin, check)
	}
	state, _ := newState(t)
	sshCfg, err := connects[0].SSHConfig(state)
	if err != nil {
		t.Fatal(err)
	}
	testKey := newHostKey(t)
	if err := sshCfg.HostKeyCallback("test", nil, testKey); err != nil {
		t.Fatalf("the test instance's first key was refused: %v", err)
	}
	if err := sshCfg.HostKeyCallback("test", nil, newHostKey(t)); err == nil {
		t.Error("the test instance's connection accepted a second host key")
	}
	if got, want := check.pin.authorizedKey(), string(gossh.MarshalAuthorizedKey(testKey)); got != want {
		t.Errorf("the playbook check holds Ansible to %q, want the test instance's key %q", got, want)
	}
	if buildPin == check.pin || buildPin.authorizedKey() != "" {
		t.Error("the test instance's key went to the build instance's pin")
	}
}
