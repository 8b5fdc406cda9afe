package ebs

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestSSHHost(t *testing.T) {
	full := types.Instance{
		InstanceId:       aws.String("i-1"),
		PublicIpAddress:  aws.String("203.0.113.5"),
		PrivateIpAddress: aws.String("10.0.0.5"),
		PublicDnsName:    aws.String("ec2-203-0-113-5.compute.amazonaws.com"),
		PrivateDnsName:   aws.String("ip-10-0-0-5.ec2.internal"),
	}
	privateOnly := types.Instance{InstanceId: aws.String("i-2"), PrivateIpAddress: aws.String("10.0.0.6")}
	noAddress := types.Instance{InstanceId: aws.String("i-3")}

	tests := []struct {
		name       string
		configured string
		iface      string
		inst       types.Instance
		want       string
		wantErr    []string
	}{
		{name: "ssh_host wins", configured: "bastion.example.com", iface: "private_ip", inst: full, want: "bastion.example.com"},
		{name: "public IP by default", inst: full, want: "203.0.113.5"},
		{name: "private IP when no public one", inst: privateOnly, want: "10.0.0.6"},
		{name: "public_ip", iface: "public_ip", inst: full, want: "203.0.113.5"},
		{name: "private_ip", iface: "private_ip", inst: full, want: "10.0.0.5"},
		{name: "public_dns", iface: "public_dns", inst: full, want: "ec2-203-0-113-5.compute.amazonaws.com"},
		{name: "private_dns", iface: "private_dns", inst: full, want: "ip-10-0-0-5.ec2.internal"},
		{name: "interface without address", iface: "public_ip", inst: privateOnly, wantErr: []string{"i-2", "no public_ip", "`ssh_interface`"}},
		{name: "no address at all", inst: noAddress, wantErr: []string{"i-3", "no IP address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, _ := newState(t)
			putInstance(state, tt.inst)
			got, err := sshHost(tt.configured, tt.iface)(state)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("sshHost = %q, want an error", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("sshHost = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
