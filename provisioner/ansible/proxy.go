package ansible

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/hashicorp/packer-plugin-sdk/adapter"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"golang.org/x/crypto/ssh"
)

// proxy is the in-process SSH server Ansible connects to when it cannot
// reach the instance itself. Every exec and SFTP request is carried out
// through packer's communicator, so it runs as the builder's ssh_username
// whatever user Ansible asks for.
type proxy struct {
	Port int
	done chan struct{}
	ad   *adapter.Adapter
}

// proxyKeys are the keys of one proxy run.
type proxyKeys struct {
	HostSigner ssh.Signer
	Authorized ssh.PublicKey
	// ClientPEM is the private key Ansible logs in with; nil when the user
	// brought their own (ssh_authorized_key_file).
	ClientPEM []byte
}

// newProxyKeys loads the configured keys or generates them for the run,
// of keyType (see proxyKeyType).
func newProxyKeys(hostKeyFile, authorizedKeyFile, keyType string) (proxyKeys, error) {
	var k proxyKeys
	if hostKeyFile != "" {
		data, err := os.ReadFile(hostKeyFile)
		if err != nil {
			return k, fmt.Errorf("reading `ssh_host_key_file`: %w", err)
		}
		if k.HostSigner, err = ssh.ParsePrivateKey(data); err != nil {
			return k, fmt.Errorf("parsing `ssh_host_key_file` %s: %w", hostKeyFile, err)
		}
	} else {
		priv, err := generateProxyKey(keyType)
		if err != nil {
			return k, err
		}
		if k.HostSigner, err = ssh.NewSignerFromKey(priv); err != nil {
			return k, err
		}
	}
	if authorizedKeyFile != "" {
		data, err := os.ReadFile(authorizedKeyFile)
		if err != nil {
			return k, fmt.Errorf("reading `ssh_authorized_key_file`: %w", err)
		}
		if k.Authorized, _, _, _, err = ssh.ParseAuthorizedKey(data); err != nil {
			return k, fmt.Errorf("parsing `ssh_authorized_key_file` %s: %w", authorizedKeyFile, err)
		}
		return k, nil
	}
	priv, err := generateProxyKey(keyType)
	if err != nil {
		return k, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return k, err
	}
	k.Authorized = signer.PublicKey()
	block, err := ssh.MarshalPrivateKey(priv, "bakery-ansible proxy client")
	if err != nil {
		return k, err
	}
	k.ClientPEM = pem.EncodeToMemory(block)
	return k, nil
}

// generateProxyKey makes one of the proxy's keys: ed25519 unless the
// template asks for the stock provisioner's `ansible_proxy_key_type`
// (kept for an Ansible whose SSH client cannot use ed25519, and with the
// stock sizes: ECDSA P-384, RSA 2048).
func generateProxyKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case "":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case proxyKeyECDSA:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case proxyKeyRSA:
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("`ansible_proxy_key_type` %q: use ECDSA or RSA", keyType)
}

// startProxy listens on 127.0.0.1:port (0: any free port) and serves
// Ansible's SSH sessions through comm until Stop.
func startProxy(port int, keys proxyKeys, sftpCmd string, ui packersdk.Ui, comm packersdk.Communicator) (*proxy, error) {
	if comm == nil {
		return nil, errors.New("the proxy needs packer's communicator, and this build has none (set `communicator = \"ssh\"` in the source)")
	}
	want := keys.Authorized.Marshal()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), want) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(keys.HostSigner)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("the proxy cannot listen on 127.0.0.1:%d (`local_port`): %w", port, err)
	}
	p := &proxy{Port: l.Addr().(*net.TCPAddr).Port, done: make(chan struct{})}
	p.ad = adapter.NewAdapter(p.done, l, cfg, sftpCmd, ui, quietComm{comm})
	go p.ad.Serve()
	return p, nil
}

// Stop closes the listener; Serve returns.
func (p *proxy) Stop() {
	close(p.done)
	p.ad.Shutdown()
}
