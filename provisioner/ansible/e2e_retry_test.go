//go:build e2e

package ansible_test

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestE2ESSHDroppedConnectionIsRetried: the instance's sshd drops Ansible's
// first connection (as one does while cloud-init restarts it). With the
// provisioner's default ANSIBLE_SSH_RETRIES the play goes on and the bake
// succeeds; with the user's ANSIBLE_SSH_RETRIES=0 (Ansible's own default)
// the same drop fails the build — so the retries, not luck, carried it.
func TestE2ESSHDroppedConnectionIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     []string
		succeed bool
	}{
		{"default retries", nil, true},
		{"user sets no retries", []string{"ANSIBLE_SSH_RETRIES=0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBake(t, "copy.yml", ansibleVersions[0])
			fwd := newFlakyForward(t, suite.Bed.SSHHost+":"+strconv.Itoa(suite.Bed.SSHPort), 1)
			b.vars["ssh_port"] = fwd.port
			b.vars["use_proxy"] = false
			if tc.env != nil {
				b.vars["ansible_env_vars"] = tc.env
			}
			out, err := b.run()
			if got := fwd.dropped.Load(); got != 1 {
				t.Fatalf("the forwarder dropped %d OpenSSH connections, want 1", got)
			}
			if !tc.succeed {
				if err == nil {
					t.Fatal("the build succeeded although Ansible's only connection was dropped and retries were off")
				}
				if !strings.Contains(out, "UNREACHABLE") {
					t.Error("the failed build does not show Ansible's UNREACHABLE")
				}
				b.assertClean(out)
				return
			}
			if err != nil {
				t.Fatalf("packer build failed although ssh retries were on: %v", err)
			}
			if got := b.home("ec2-user", "copied"); got == "" {
				t.Error("the play's copy did not arrive")
			}
			b.assertAMI(1)
			b.assertClean(out)
		})
	}
}

// flakyForward relays TCP to an sshd and closes the first n connections
// whose client is OpenSSH (Ansible), letting packer's own Go client pass.
type flakyForward struct {
	port    int
	dropped atomic.Int32
}

func newFlakyForward(t *testing.T, upstream string, n int32) *flakyForward {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyForward{port: ln.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.relay(c, upstream, n)
			}()
		}
	}()
	return f
}

// drop reports whether this connection is one of the first n to drop.
func (f *flakyForward) drop(n int32) bool {
	for {
		d := f.dropped.Load()
		if d >= n {
			return false
		}
		if f.dropped.CompareAndSwap(d, d+1) {
			return true
		}
	}
}

func (f *flakyForward) relay(c net.Conn, upstream string, n int32) {
	defer c.Close()
	// Both ends send their version line first (RFC 4253 4.2).
	r := bufio.NewReader(c)
	banner, err := r.ReadString('\n')
	if err != nil {
		return
	}
	if strings.HasPrefix(banner, "SSH-2.0-OpenSSH") && f.drop(n) {
		return
	}
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	if _, err := io.WriteString(u, banner); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(u, r)
		if tc, ok := u.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(c, u)
	_ = c.(*net.TCPConn).CloseWrite()
	<-done
}
