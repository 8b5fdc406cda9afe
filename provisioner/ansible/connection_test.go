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
