package ansible

import (
	"bytes"
	"testing"

	"golang.org/x/crypto/ssh"
)

// The proxy's generated keys follow `ansible_proxy_key_type`, and the
// client key Ansible gets matches the one the proxy accepts.
func TestProxyKeyTypes(t *testing.T) {
	for _, tc := range []struct{ keyType, want string }{
		{"", ssh.KeyAlgoED25519},
		{proxyKeyECDSA, ssh.KeyAlgoECDSA384},
		{proxyKeyRSA, ssh.KeyAlgoRSA},
	} {
		t.Run(tc.want, func(t *testing.T) {
			k, err := newProxyKeys("", "", tc.keyType)
			if err != nil {
				t.Fatal(err)
			}
			if got := k.HostSigner.PublicKey().Type(); got != tc.want {
				t.Errorf("host key %s, want %s", got, tc.want)
			}
			if got := k.Authorized.Type(); got != tc.want {
				t.Errorf("client key %s, want %s", got, tc.want)
			}
			client, err := ssh.ParsePrivateKey(k.ClientPEM)
			if err != nil {
				t.Fatalf("Ansible's client key does not parse: %v", err)
			}
			if !bytes.Equal(client.PublicKey().Marshal(), k.Authorized.Marshal()) {
				t.Error("Ansible's client key is not the one the proxy accepts")
			}
		})
	}
	if _, err := newProxyKeys("", "", "DSA"); err == nil {
		t.Error("DSA accepted")
	}
}
