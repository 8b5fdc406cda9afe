package ebs

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// sshHost returns how the communicator reaches the instance: `ssh_host` when
// given, else the address `ssh_interface` names, else the public IP when
// there is one and the private IP otherwise.
func sshHost(configured, iface string) func(multistep.StateBag) (string, error) {
	return sshHostOf(configured, iface, getInstance)
}

// sshHostOf is sshHost for the instance instance returns (the build's, or
// the AMI test's).
func sshHostOf(configured, iface string, instance func(multistep.StateBag) types.Instance) func(multistep.StateBag) (string, error) {
	return func(state multistep.StateBag) (string, error) {
		if configured != "" {
			return configured, nil
		}
		if isTunnel(iface) { // stepTunnel's listener
			return tunnelHost, nil
		}
		inst := instance(state)
		candidates := map[string]string{
			"public_ip":   aws.ToString(inst.PublicIpAddress),
			"private_ip":  aws.ToString(inst.PrivateIpAddress),
			"public_dns":  aws.ToString(inst.PublicDnsName),
			"private_dns": aws.ToString(inst.PrivateDnsName),
		}
		if iface != "" {
			if host := candidates[iface]; host != "" {
				return host, nil
			}
			return "", fmt.Errorf("instance %s has no %s (`ssh_interface`)", aws.ToString(inst.InstanceId), iface)
		}
		for _, name := range []string{"public_ip", "private_ip"} {
			if host := candidates[name]; host != "" {
				return host, nil
			}
		}
		return "", fmt.Errorf("instance %s has no IP address to connect to", aws.ToString(inst.InstanceId))
	}
}
