package ebs

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// playbookRunner is the `bakery-ansible` provisioner, as the AMI test uses
// it. *ansible.Provisioner satisfies it.
type playbookRunner interface {
	Provision(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, data map[string]interface{}) error
}

// stepTestPlaybook runs the `ami_test { ansible }` playbook against the
// test instance with the bakery-ansible provisioner, handing it the
// connection data packer hands a provisioner, made for the test instance:
// its address, the build's user and key, the build's route, and the host
// key the test instance showed when the connect step before reached it
// (never the build instance's, which is another machine).
type stepTestPlaybook struct {
	playbook     playbookRunner
	playbookFile string               // for the messages
	comm         *communicator.Config // the build's, pointing at the test instance once connected
	pin          *hostKeyPin          // the test instance's host key
}

var _ multistep.Step = (*stepTestPlaybook)(nil)

func (s *stepTestPlaybook) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	comm, ok := state.Get("communicator").(packersdk.Communicator)
	if !ok {
		return halt(state, fmt.Errorf("`ami_test`: no connection to the test instance"))
	}
	if s.pin.authorizedKey() == "" {
		// Without it Ansible would accept whatever answers.
		return halt(state, fmt.Errorf("`ami_test`: the test instance's SSH host key is unknown; the playbook check would not know whom it talks to"))
	}
	ui.Say(fmt.Sprintf("AMI test: playbook check: %s", s.playbookFile))
	out := &tail{limit: checkOutputLimit}
	tee := &teeUi{Ui: ui, out: out}
	err := s.playbook.Provision(ctx, tee, comm, testConnectionData(state, s.comm, s.pin))
	if err == nil && tee.recaps > 0 && tee.recapHosts == 0 {
		// ansible-playbook exits 0 when no play matched the host: as a
		// check, that proves nothing about the AMI. (Only told from the
		// recap of the default output; a callback such as json prints
		// none, and is taken at its word.)
		err = fmt.Errorf("no play ran on the test instance (its recap names no host): check the plays' `hosts`, and `limit`, `groups` or the inventory options")
	}
	if err != nil {
		if ctx.Err() != nil {
			return halt(state, fmt.Errorf("`ami_test`: the playbook check %s was stopped: %w", s.playbookFile, err))
		}
		return halt(state, fmt.Errorf("`ami_test`: the playbook check %s failed: %w; the AMI is removed (-on-error=abort keeps it). The end of its output:\n%s",
			s.playbookFile, err, packersdk.LogSecretFilter.FilterString(strings.TrimRight(out.String(), "\n"))))
	}
	ui.Say(fmt.Sprintf("AMI test: the playbook check %s passed", s.playbookFile))
	return multistep.ActionContinue
}

func (s *stepTestPlaybook) Cleanup(multistep.StateBag) {}

// testConnectionData is what packer's StepProvision would hand a
// provisioner of the test instance: the communicator's host, port, user and
// key (the connect step pointed comm at the test instance), and the route.
// Built afresh: the build's generated data describes the build instance,
// with its host key.
func testConnectionData(state multistep.StateBag, comm *communicator.Config, pin *hostKeyPin) map[string]interface{} {
	data := sshRoute(comm, pin)
	data["ID"] = aws.ToString(getTestInstance(state).InstanceId)
	data["ConnType"] = comm.Type
	data["Host"] = comm.Host()
	data["Port"] = comm.Port()
	data["User"] = comm.User()
	data["SSHPublicKey"] = string(comm.SSHPublicKey)
	data["SSHPrivateKey"] = string(comm.SSHPrivateKey)
	data["SSHPrivateKeyFile"] = comm.SSHPrivateKeyFile
	data["SSHAgentAuth"] = comm.SSHAgentAuth
	data["PackerRunUUID"] = os.Getenv("PACKER_RUN_UUID")
	return data
}

// teeUi shows everything as ui does and keeps the end of it, for the
// error of a failed check; it counts the hosts of the play recaps.
type teeUi struct {
	packersdk.Ui
	out        *tail
	mu         sync.Mutex
	inRecap    bool
	recaps     int // PLAY RECAP headers seen
	recapHosts int // host lines in them
}

// recapHost is a host's line of a PLAY RECAP: `default : ok=2 changed=0 ...`.
var recapHost = regexp.MustCompile(`^\S+\s+:\s+ok=\d+`)

func (u *teeUi) Say(msg string)     { u.keep(msg); u.Ui.Say(msg) }
func (u *teeUi) Message(msg string) { u.keep(msg); u.Ui.Message(msg) }
func (u *teeUi) Error(msg string)   { u.keep(msg); u.Ui.Error(msg) }

func (u *teeUi) keep(msg string) {
	_, _ = u.out.Write([]byte(msg + "\n"))
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, line := range strings.Split(msg, "\n") {
		switch {
		case strings.HasPrefix(line, "PLAY RECAP"):
			u.inRecap = true
			u.recaps++
		case u.inRecap && recapHost.MatchString(line):
			u.recapHosts++
		case strings.TrimSpace(line) != "":
			u.inRecap = false
		}
	}
}
