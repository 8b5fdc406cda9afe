package ebs

import (
	"bytes"
	"fmt"
	"net"
	"sync"

	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"
	"github.com/hashicorp/packer-plugin-sdk/pathing"
	gossh "golang.org/x/crypto/ssh"
)

// hostKeyPin holds the instance's SSH host key from the build's first
// handshake on. The SDK's communicator accepts any host key; with the pin
// its reconnections, and bakery-ansible (given the key as generated data),
// refuse a machine that is not the one the build first reached (an address
// reused, a decoy on the route).
type hostKeyPin struct {
	mu  sync.Mutex
	key gossh.PublicKey
}

// wrap makes the communicator's SSH config check host keys against the pin.
func (p *hostKeyPin) wrap(inner func(multistep.StateBag) (*gossh.ClientConfig, error)) func(multistep.StateBag) (*gossh.ClientConfig, error) {
	return func(state multistep.StateBag) (*gossh.ClientConfig, error) {
		cfg, err := inner(state)
		if err != nil {
			return nil, err
		}
		cfg.HostKeyCallback = p.check
		return cfg, nil
	}
}

func (p *hostKeyPin) check(hostname string, _ net.Addr, key gossh.PublicKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.key == nil {
		p.key = key
		return nil
	}
	if !bytes.Equal(p.key.Marshal(), key.Marshal()) {
		return fmt.Errorf("the SSH host key of %s changed during the build (%s, first %s): refusing the connection, it may not reach the build's instance",
			hostname, gossh.FingerprintSHA256(key), gossh.FingerprintSHA256(p.key))
	}
	return nil
}

// authorizedKey is the pinned key in authorized_keys format, "" before
// the first handshake.
func (p *hostKeyPin) authorizedKey() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.key == nil {
		return ""
	}
	return string(gossh.MarshalAuthorizedKey(p.key))
}

// publishSSHRoute tells provisioners (bakery-ansible) how the builder
// reached the instance: the host key it pinned, and the bastion or proxy
// it went through, so that they take the same route.
func publishSSHRoute(state multistep.StateBag, comm *communicator.Config, pin *hostKeyPin) {
	data := packerbuilderdata.GeneratedData{State: state}
	for k, v := range sshRoute(comm, pin) {
		data.Put(k, v)
	}
}

// sshRoute is the generated data that says how the builder reached an
// instance over SSH: the host key it pinned, and the bastion or proxy it
// went through. Never a password: only whether one is used.
func sshRoute(comm *communicator.Config, pin *hostKeyPin) map[string]interface{} {
	route := map[string]interface{}{}
	if comm.Type != "ssh" {
		return route
	}
	if key := pin.authorizedKey(); key != "" {
		route["SSHHostPublicKey"] = key
	}
	if comm.SSHBastionHost != "" {
		keyFile := comm.SSHBastionPrivateKeyFile
		if expanded, err := pathing.ExpandUser(keyFile); err == nil {
			keyFile = expanded
		}
		certFile := comm.SSHBastionCertificateFile
		if expanded, err := pathing.ExpandUser(certFile); err == nil {
			certFile = expanded
		}
		route["SSHBastionHost"] = comm.SSHBastionHost
		route["SSHBastionPort"] = comm.SSHBastionPort
		route["SSHBastionUsername"] = comm.SSHBastionUsername
		route["SSHBastionPrivateKeyFile"] = keyFile
		route["SSHBastionCertificateFile"] = certFile
		route["SSHBastionAgentAuth"] = comm.SSHBastionAgentAuth
		route["SSHBastionPasswordAuth"] = comm.SSHBastionPassword != "" || comm.SSHBastionInteractive
	}
	if comm.SSHProxyHost != "" {
		route["SSHProxyHost"] = comm.SSHProxyHost
		route["SSHProxyPort"] = comm.SSHProxyPort
	}
	return route
}
