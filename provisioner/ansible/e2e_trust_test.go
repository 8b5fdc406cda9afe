//go:build e2e

// End-to-end tests of what bakery-ansible must never do: go around the
// builder's bastion, talk to a machine whose host key is not the one the
// build saw, or take an ansible.cfg anyone could have written.
package ansible_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

// fakeBastion is an SSH jump host that sees another network than this
// machine: a forward to `decoy` (an address that also answers here) lands
// on `instance` (the test-bed's sshd). Everything runs on one loopback, so
// only such a remapping bastion can tell "through the bastion" from
// "straight to an address that happens to answer". It proves the route
// Ansible takes; it cannot prove anything about real VPC routing.
type fakeBastion struct {
	addr      string
	forwarded atomic.Int32 // forwards to the decoy address, carried to the instance
	ln        net.Listener
	wg        sync.WaitGroup
}

func startFakeBastion(t *testing.T, authorized ssh.PublicKey, decoy, instance string) *fakeBastion {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		if meta.User() == "jump" && string(key.Marshal()) == string(authorized.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("not the bastion key")
	}}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBastion{addr: ln.Addr().String(), ln: ln}
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.wg.Add(1)
			go func() { defer b.wg.Done(); b.serve(c, cfg, decoy, instance) }()
		}
	}()
	return b
}

func (b *fakeBastion) serve(c net.Conn, cfg *ssh.ServerConfig, decoy, instance string) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "direct-tcpip" {
			_ = nc.Reject(ssh.Prohibited, "a jump host only forwards")
			continue
		}
		// RFC 4254 7.2: host string, port uint32, origin string, origin port.
		p := nc.ExtraData()
		if len(p) < 4 {
			_ = nc.Reject(ssh.ConnectionFailed, "bad request")
			continue
		}
		n := binary.BigEndian.Uint32(p)
		if len(p) < int(4+n+4) {
			_ = nc.Reject(ssh.ConnectionFailed, "bad request")
			continue
		}
		target := net.JoinHostPort(string(p[4:4+n]), strconv.Itoa(int(binary.BigEndian.Uint32(p[4+n:]))))
		if target != decoy {
			_ = nc.Reject(ssh.Prohibited, "only the instance is reachable from this bastion")
			continue
		}
		b.forwarded.Add(1)
		up, err := net.Dial("tcp", instance)
		if err != nil {
			_ = nc.Reject(ssh.ConnectionFailed, err.Error())
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			up.Close()
			continue
		}
		go ssh.DiscardRequests(creqs)
		go func() {
			defer ch.Close()
			defer up.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(up, ch); done <- struct{}{} }()
			go func() { _, _ = io.Copy(ch, up); done <- struct{}{} }()
			<-done
		}()
	}
}

// decoy answers TCP on an address of this machine and counts who came.
type decoy struct {
	addr  string
	conns atomic.Int32
}

func startDecoy(t *testing.T) *decoy {
	t.Helper()
	// 127.0.0.2: another loopback address, so the decoy's address is not
	// the bastion's or the test-bed sshd's.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &decoy{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.conns.Add(1)
			// An sshd someone else runs: it answers, and would be handed
			// the play (and its secrets) if Ansible came here.
			_, _ = c.Write([]byte("SSH-2.0-decoy\r\n"))
			c.Close()
		}
	}()
	return d
}

func writeKey(t *testing.T, path string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshPub
}

// TestE2EBastionNotBypassed: the builder reaches the instance through a
// bastion; its address also answers from here (a decoy). Ansible must
// take the bastion too, and never touch the decoy.
func TestE2EBastionNotBypassed(t *testing.T) {
	b := newBake(t, "site.yml", ansibleVersions[0])
	keyFile := filepath.Join(t.TempDir(), "bastion_ed25519")
	d := startDecoy(t)
	bastion := startFakeBastion(t, writeKey(t, keyFile), d.addr, net.JoinHostPort(suite.Bed.SSHHost, strconv.Itoa(suite.Bed.SSHPort)))
	host, port, _ := net.SplitHostPort(d.addr)
	bHost, bPort, _ := net.SplitHostPort(bastion.addr)
	b.vars["ssh_host"] = host
	b.vars["ssh_port"], _ = strconv.Atoi(port)
	b.vars["bastion_host"] = bHost
	b.vars["bastion_port"], _ = strconv.Atoi(bPort)
	b.vars["bastion_key_file"] = keyFile
	out, err := b.run()
	if n := d.conns.Load(); n != 0 {
		t.Errorf("%d connections to the decoy at %s: something went around the bastion", n, d.addr)
	}
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	if !strings.Contains(out, "through the bastion jump@"+bastion.addr) {
		t.Error("the build does not say Ansible went through the bastion")
	}
	// The builder's login, then Ansible's ControlMaster(s).
	if n := bastion.forwarded.Load(); n < 2 {
		t.Errorf("the bastion forwarded %d connections, want the builder's and Ansible's", n)
	}
	if got := b.home("ec2-user", "login"); got != "ec2-user" {
		t.Errorf("the play ran as %q", got)
	}
	b.assertAMI(1)
	b.assertClean(out)
}

// TestE2EHostKeyPinned: Ansible is held to the host key the builder saw,
// and says which.
func TestE2EHostKeyPinned(t *testing.T) {
	b := newBake(t, "site.yml", ansibleVersions[0])
	out, err := b.run()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	if want := "host key the builder saw first: " + ssh.FingerprintSHA256(suite.Bed.HostKey()); !strings.Contains(out, want) {
		t.Errorf("the build does not say it pinned the test-bed's host key (%s)", want)
	}
	b.assertClean(out)
}

// TestE2EUserTurnsOnStrictHostKeyChecking: the user's
// `ansible_ssh_extra_args` win over the provisioner's own ssh options. With
// strict checking and a known_hosts that does not know the instance, ssh
// must refuse it.
func TestE2EUserTurnsOnStrictHostKeyChecking(t *testing.T) {
	b := newBake(t, "site.yml", ansibleVersions[0])
	empty := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b.vars["ansible_ssh_extra_args"] = []string{"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + empty}
	out, err := b.run()
	if err == nil {
		t.Fatal("the build succeeded: the user's StrictHostKeyChecking=yes was overridden")
	}
	if !strings.Contains(out, "Host key verification failed") {
		t.Error("the failure is not ssh refusing the unknown host key")
	}
	b.assertAMI(0)
	b.assertClean(out)
}

// TestE2EWorldWritableAnsibleCfg: an ansible.cfg in a world-writable
// playbook folder is ignored with a warning, as Ansible does with its
// working folder.
func TestE2EWorldWritableAnsibleCfg(t *testing.T) {
	b := newBake(t, "site.yml", ansibleVersions[0])
	dir := filepath.Join(t.TempDir(), "public")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(suite.Root, "provisioner/ansible/testdata/playbooks")
	for _, name := range []string{"site.yml", "ansible.cfg"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	b.vars["playbook"] = filepath.Join(dir, "site.yml")
	out, err := b.run()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	if got := b.home("ec2-user", "cfg"); got == filepath.Join(dir, "ansible.cfg") {
		t.Errorf("Ansible read %s from a world-writable folder", got)
	}
	if !strings.Contains(out, "Ignoring "+filepath.Join(dir, "ansible.cfg")) {
		t.Error("the build does not warn that it ignored the ansible.cfg")
	}
	b.assertAMI(1)
	b.assertClean(out)
}

// TestE2ESecretsStaySecret: a secret in each place a user can put one,
// none marked `sensitive` (packer itself would mask those): the session
// token, an extra_vars value, a `-e k=v` in extra_arguments, and the
// temporary SSH private key. Through the proxy, whose log shows every
// command Ansible runs. None may show in the output or PACKER_LOG.
func TestE2ESecretsStaySecret(t *testing.T) {
	b := newBake(t, "secrets.yml", ansibleVersions[0])
	token := "sessionToken" + testbed.RandomHex(12)
	plain := "extraVar" + testbed.RandomHex(12)
	cli := "commandLine" + testbed.RandomHex(12)
	b.vars["session_token"] = token
	b.vars["plain_secret"] = plain
	b.vars["extra_arguments"] = []string{"-e", "bakery_cli=" + cli}
	b.vars["use_proxy"] = true
	out, err := b.run()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	if got := b.home("ec2-user", "secrets"); got != "ok" {
		t.Errorf("the play did not run its command with the secrets: %q", got)
	}
	log, err := os.ReadFile(b.logPath)
	if err != nil || !strings.Contains(string(log), "new exec request") {
		t.Fatalf("PACKER_LOG lacks the proxy's command log (%v): the check below would prove nothing", err)
	}
	for name, text := range map[string]string{"terminal output": out, "PACKER_LOG": string(log)} {
		for what, s := range map[string]string{"session token": token, "extra_vars value": plain, "-e value": cli, "secret key": b.secret, "private key": "PRIVATE KEY"} {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the %s", name, what)
				for _, line := range strings.Split(text, "\n") {
					if strings.Contains(line, s) {
						t.Logf("  %.300s", strings.ReplaceAll(line, s, "(the "+what+")"))
					}
				}
			}
		}
	}
	if !strings.Contains(out, "-e 'bakery_cli=<sensitive>'") {
		t.Error("the echoed command does not show the -e variable masked")
	}
	b.assertClean(out)
}
