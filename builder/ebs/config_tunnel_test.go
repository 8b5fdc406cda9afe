package ebs

import (
	"strings"
	"testing"
	"time"
)

func TestTunnelConfigPrepare(t *testing.T) {
	tests := []struct {
		name    string
		over    map[string]interface{}
		wantErr []string
		check   func(*testing.T, *Config)
	}{
		{name: "session manager with amazon-ebs's options",
			over: map[string]interface{}{"ssh_interface": "session_manager", "session_manager_port": 8022, "pause_before_ssm": "30s"},
			check: func(t *testing.T, c *Config) {
				if c.SessionManagerPort != 8022 || c.PauseBeforeSSM != 30*time.Second {
					t.Errorf("port %d pause %s", c.SessionManagerPort, c.PauseBeforeSSM)
				}
			}},
		{name: "instance connect endpoint named", over: map[string]interface{}{"ssh_interface": "instance_connect_endpoint", "instance_connect_endpoint_id": "eice-0123456789abcdef0"}},
		{name: "instance connect endpoint found", over: map[string]interface{}{"ssh_interface": "instance_connect_endpoint"}},
		{name: "session options without session manager", over: map[string]interface{}{"session_manager_port": 8022, "pause_before_ssm": "5s"},
			wantErr: []string{"`session_manager_port` applies only with", "`pause_before_ssm` applies only with"}},
		{name: "endpoint id without the endpoint", over: map[string]interface{}{"ssh_interface": "private_ip", "instance_connect_endpoint_id": "eice-0123456789abcdef0"},
			wantErr: []string{"`instance_connect_endpoint_id` applies only with"}},
		{name: "bad endpoint id", over: map[string]interface{}{"ssh_interface": "instance_connect_endpoint", "instance_connect_endpoint_id": "vpce-1"},
			wantErr: []string{"is not an endpoint ID like eice-"}},
		{name: "port out of range", over: map[string]interface{}{"ssh_interface": "session_manager", "session_manager_port": 70000},
			wantErr: []string{"`session_manager_port` 70000"}},
		{name: "tunnel with ssh_host", over: map[string]interface{}{"ssh_interface": "session_manager", "ssh_host": "10.0.0.5"},
			wantErr: []string{"`ssh_host` and `ssh_interface = \"session_manager\"`"}},
		{name: "tunnel with a bastion", over: map[string]interface{}{"ssh_interface": "instance_connect_endpoint", "ssh_bastion_host": "bastion.example.com"},
			wantErr: []string{"`ssh_bastion_host` and `ssh_interface = \"instance_connect_endpoint\"`"}},
		{name: "tunnel with winrm", over: map[string]interface{}{"ssh_interface": "session_manager", "communicator": "winrm", "winrm_username": "Administrator"},
			wantErr: []string{"carries SSH only"}},
		{name: "endpoint with source cidrs", over: map[string]interface{}{"ssh_interface": "instance_connect_endpoint", "temporary_security_group_source_cidrs": []string{"10.0.0.0/8"}},
			wantErr: []string{"SSH from the endpoint's security groups only"}},
		{name: "session manager with source cidrs", over: map[string]interface{}{"ssh_interface": "session_manager", "temporary_security_group_source_cidrs": []string{"10.0.0.0/8"}},
			wantErr: []string{"no inbound connection"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			_, err := c.Prepare(validConfig(tt.over))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				if tt.check != nil {
					tt.check(t, &c)
				}
				return
			}
			if err == nil {
				t.Fatalf("Prepare accepted it; want %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}
