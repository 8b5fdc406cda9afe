package ansible

import (
	"errors"
	"strings"
	"testing"
)

func TestChooseMode(t *testing.T) {
	ok := func(string, int) error { return nil }
	down := func(string, int) error { return errors.New("connection refused") }
	full := connection{Type: "ssh", Host: "10.0.0.5", Port: 22, User: "ec2-user", PrivateKey: "k"}
	for _, tc := range []struct {
		name     string
		useProxy *bool
		conn     connection
		reach    func(string, int) error
		want     mode
		why      string // substring of the reason, or of the error
		wantErr  bool
	}{
		{"reachable host with key", nil, full, ok, modeDirect, "SSH straight to ec2-user@10.0.0.5:22", false},
		{"agent only", nil, connection{Type: "ssh", Host: "h", Port: 22, AgentAuth: true}, ok, modeDirect, "straight", false},
		{"use_proxy true", boolPtr(true), full, ok, modeProxy, "`use_proxy = true`", false},
		{"host does not answer", nil, full, down, modeProxy, "does not answer", false},
		{"no host", nil, connection{Type: "ssh", PrivateKey: "k"}, ok, modeProxy, "no SSH host", false},
		{"no credentials", nil, connection{Type: "ssh", Host: "h", Port: 22}, ok, modeProxy, "no SSH private key", false},
		{"winrm", nil, connection{Type: "winrm", Host: "h", Port: 5986}, ok, modeProxy, "not ssh", false},
		{"use_proxy false but unreachable", boolPtr(false), full, down, modeDirect, "`use_proxy = false` but", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why, err := chooseMode(tc.useProxy, tc.conn, tc.reach)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.why) {
					t.Fatalf("error %v, want %q", err, tc.why)
				}
				return
			}
			if err != nil || got != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("got %v %q %v, want %v %q", got, why, err, tc.want, tc.why)
			}
		})
	}
}

func TestConnectionFromGeneratedData(t *testing.T) {
	for _, port := range []interface{}{22, int64(22), float64(22), "22"} {
		c := connectionFrom(map[string]interface{}{"Port": port, "Host": "h", "SSHAgentAuth": true})
		if c.Port != 22 || c.Host != "h" || !c.AgentAuth {
			t.Errorf("Port %T: %+v", port, c)
		}
	}
}

// TestChooseModeNeverGoesAroundTheBuildersRoute: with a bastion or a SOCKS
// proxy, an address that answers from here proves nothing (it may be a
// decoy on this side of the bastion), so it is never even dialled.
func TestChooseModeNeverGoesAroundTheBuildersRoute(t *testing.T) {
	keyed := &bastion{Host: "bastion.example", Port: 22, User: "jump", KeyFile: "/k"}
	pw := &bastion{Host: "bastion.example", Port: 22, User: "jump", Password: true}
	base := connection{Type: "ssh", Host: "10.0.0.5", Port: 22, User: "ec2-user", PrivateKey: "k"}
	for _, tc := range []struct {
		name     string
		useProxy *bool
		edit     func(*connection)
		want     mode
		why      string
		wantErr  bool
	}{
		{"bastion with key: ssh through it", nil, func(c *connection) { c.Bastion = keyed }, modeDirect, "through the bastion jump@bastion.example:22", false},
		{"bastion with agent: ssh through it", nil, func(c *connection) { c.Bastion = &bastion{Host: "b", Port: 2222, Agent: true} }, modeDirect, "through the bastion", false},
		{"bastion with password only: packer's communicator", nil, func(c *connection) { c.Bastion = pw }, modeProxy, "with a password", false},
		{"bastion with password only, use_proxy false", boolPtr(false), func(c *connection) { c.Bastion = pw }, modeDirect, "`use_proxy = false` but the builder logs in to the bastion", true},
		{"socks proxy: packer's communicator", nil, func(c *connection) { c.SOCKSProxy = "127.0.0.1:1080" }, modeProxy, "`ssh_proxy_host`", false},
		{"socks proxy, use_proxy false", boolPtr(false), func(c *connection) { c.SOCKSProxy = "127.0.0.1:1080" }, modeDirect, "`use_proxy = false` but the builder reaches the instance through the proxy", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			dialled := false
			reach := func(string, int) error { dialled = true; return nil }
			got, why, err := chooseMode(tc.useProxy, c, reach)
			if dialled {
				t.Errorf("dialled %s:%d although the builder's route goes elsewhere", c.Host, c.Port)
			}
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.why) {
					t.Fatalf("error %v, want %q", err, tc.why)
				}
				return
			}
			if err != nil || got != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("got %v %q %v, want %v %q", got, why, err, tc.want, tc.why)
			}
		})
	}
}

func TestConnectionFromReadsTheBuildersRoute(t *testing.T) {
	c := connectionFrom(map[string]interface{}{
		"Host": "10.0.0.5", "Port": 22, "SSHHostPublicKey": "ssh-ed25519 AAAA",
		"SSHBastionHost": "b", "SSHBastionPort": int64(2222), "SSHBastionUsername": "jump",
		"SSHBastionPrivateKeyFile": "/k", "SSHBastionAgentAuth": false, "SSHBastionPasswordAuth": true,
		"SSHProxyHost": "127.0.0.1", "SSHProxyPort": 1080,
	})
	want := bastion{Host: "b", Port: 2222, User: "jump", KeyFile: "/k", Password: true}
	if c.Bastion == nil || *c.Bastion != want {
		t.Errorf("bastion %+v, want %+v", c.Bastion, want)
	}
	if c.SOCKSProxy != "127.0.0.1:1080" || c.HostKey != "ssh-ed25519 AAAA" {
		t.Errorf("proxy %q, host key %q", c.SOCKSProxy, c.HostKey)
	}
	if c := connectionFrom(map[string]interface{}{"SSHBastionHost": "b"}); c.Bastion.Port != 22 {
		t.Errorf("bastion port defaults to %d, want 22", c.Bastion.Port)
	}
}
