package ebs

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	gossh "golang.org/x/crypto/ssh"
)

func newHostKey(t *testing.T) gossh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestHostKeyPinRefusesAnotherMachine: the SDK's communicator would accept
// any host key on every reconnection.
func TestHostKeyPinRefusesAnotherMachine(t *testing.T) {
	pin := new(hostKeyPin)
	cfgFunc := pin.wrap(func(multistep.StateBag) (*gossh.ClientConfig, error) {
		return &gossh.ClientConfig{HostKeyCallback: gossh.InsecureIgnoreHostKey()}, nil
	})
	cfg, err := cfgFunc(new(multistep.BasicStateBag))
	if err != nil {
		t.Fatal(err)
	}
	first, other := newHostKey(t), newHostKey(t)
	if err := cfg.HostKeyCallback("10.0.0.5:22", nil, first); err != nil {
		t.Fatalf("first key refused: %v", err)
	}
	if err := cfg.HostKeyCallback("10.0.0.5:22", nil, first); err != nil {
		t.Errorf("the same key refused on reconnection: %v", err)
	}
	if err := cfg.HostKeyCallback("10.0.0.5:22", nil, other); err == nil || !strings.Contains(err.Error(), "changed during the build") {
		t.Errorf("another key: %v, want refused", err)
	}
	if got, want := pin.authorizedKey(), string(gossh.MarshalAuthorizedKey(first)); got != want {
		t.Errorf("pinned %q, want the first key %q", got, want)
	}
}

func TestPublishSSHRouteGivesProvisionersTheRouteNotThePassword(t *testing.T) {
	pin := new(hostKeyPin)
	key := newHostKey(t)
	_ = pin.check("h", nil, key)
	state := new(multistep.BasicStateBag)
	comm := &communicator.Config{Type: "ssh", SSH: communicator.SSH{
		SSHBastionHost: "b", SSHBastionPort: 2222, SSHBastionUsername: "jump", SSHBastionPassword: "hunter2",
		SSHBastionPrivateKeyFile: "/k", SSHProxyHost: "p", SSHProxyPort: 1080,
	}}
	publishSSHRoute(state, comm, pin)
	data := state.Get("generated_data").(map[string]interface{})
	for k, want := range map[string]interface{}{
		"SSHHostPublicKey": string(gossh.MarshalAuthorizedKey(key)), "SSHBastionHost": "b", "SSHBastionPort": 2222,
		"SSHBastionUsername": "jump", "SSHBastionPrivateKeyFile": "/k", "SSHBastionPasswordAuth": true,
		"SSHProxyHost": "p", "SSHProxyPort": 1080,
	} {
		if data[k] != want {
			t.Errorf("%s = %#v, want %#v", k, data[k], want)
		}
	}
	for k, v := range data {
		if s, ok := v.(string); ok && strings.Contains(s, "hunter2") {
			t.Errorf("%s carries the bastion password", k)
		}
	}
}
