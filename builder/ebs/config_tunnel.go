//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type TunnelConfig

package ebs

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/communicator"
)

// TunnelConfig is how the build reaches an instance it has no network path
// to, chosen with `ssh_interface`:
//
//   - `"session_manager"`: through an AWS Systems Manager Session Manager
//     port-forwarding session (document `AWS-StartPortForwardingSession`).
//     The instance needs the SSM agent, an instance profile that lets it
//     register (the `AmazonSSMManagedInstanceCore` policy) and a route to the
//     ssm, ssmmessages and ec2messages endpoints; it needs no inbound rule
//     and no public address. Unlike amazon-ebs, no `session-manager-plugin`
//     binary is needed: the plugin speaks Session Manager's protocol itself,
//     and carries every SSH connection (Ansible's parallel ones too) over one
//     session.
//   - `"instance_connect_endpoint"`: through an EC2 Instance Connect Endpoint
//     in the instance's VPC (found by subnet, or named with
//     `instance_connect_endpoint_id`): one SigV4-signed websocket per SSH
//     connection, nothing on the instance. The temporary security group
//     admits SSH from the endpoint's security groups only.
//
// Either way Packer's communicator, its provisioners and bakery-ansible
// connect to a listener on 127.0.0.1 that forwards through the tunnel.
type TunnelConfig struct {
	// With `ssh_interface = "session_manager"`: the local port the tunnel
	// listens on (on 127.0.0.1). Unset: a free port.
	SessionManagerPort int `mapstructure:"session_manager_port" required:"false"`
	// With `ssh_interface = "session_manager"`: how long to wait after the
	// instance is running before starting the session, e.g. `"30s"`. Rarely
	// needed: the build retries while the instance's agent has not yet
	// registered (up to `ssh_timeout`).
	PauseBeforeSSM time.Duration `mapstructure:"pause_before_ssm" required:"false"`
	// With `ssh_interface = "instance_connect_endpoint"`: the endpoint to use
	// (`eice-…`). Unset: the endpoint in the instance's subnet, else one in
	// its VPC.
	InstanceConnectEndpointID string `mapstructure:"instance_connect_endpoint_id" required:"false"`
}

var eiceIDPattern = regexp.MustCompile(`^eice-[0-9a-f]{8,17}$`)

func (t *TunnelConfig) prepare(run *RunConfig, comm *communicator.Config, sourcePublicIP bool) []error {
	var errs []error
	iface := run.SSHInterface.SSHInterface
	if iface != interfaceSessionManager {
		if t.SessionManagerPort != 0 {
			errs = append(errs, errors.New("`session_manager_port` applies only with `ssh_interface = \"session_manager\"`"))
		}
		if t.PauseBeforeSSM != 0 {
			errs = append(errs, errors.New("`pause_before_ssm` applies only with `ssh_interface = \"session_manager\"`"))
		}
	}
	if iface != interfaceEICE && t.InstanceConnectEndpointID != "" {
		errs = append(errs, errors.New("`instance_connect_endpoint_id` applies only with `ssh_interface = \"instance_connect_endpoint\"`"))
	}
	if t.SessionManagerPort < 0 || t.SessionManagerPort > 65535 {
		errs = append(errs, fmt.Errorf("`session_manager_port` %d: give a port from 1 to 65535, or leave it unset for a free one", t.SessionManagerPort))
	}
	if t.PauseBeforeSSM < 0 {
		errs = append(errs, errors.New("`pause_before_ssm` cannot be negative"))
	}
	if id := t.InstanceConnectEndpointID; id != "" && known(id) && !eiceIDPattern.MatchString(id) {
		errs = append(errs, fmt.Errorf("`instance_connect_endpoint_id` %q is not an endpoint ID like eice-0123456789abcdef0", id))
	}
	if !isTunnel(iface) {
		return errs
	}
	if comm.Type != "" && comm.Type != "ssh" {
		errs = append(errs, fmt.Errorf("`ssh_interface = %q` carries SSH only; the communicator is %q", iface, comm.Type))
	}
	if comm.SSHHost != "" {
		errs = append(errs, fmt.Errorf("`ssh_host` and `ssh_interface = %q` both say how to reach the instance: keep one", iface))
	}
	if comm.SSHBastionHost != "" {
		errs = append(errs, fmt.Errorf("`ssh_bastion_host` and `ssh_interface = %q` both say how to reach the instance: keep one", iface))
	}
	if sourcePublicIP {
		errs = append(errs, fmt.Errorf("`temporary_security_group_source_public_ip` does not apply with `ssh_interface = %q`: the connection does not come from this machine's address", iface))
	}
	if len(run.TemporarySGSourceCidrs) > 0 {
		errs = append(errs, fmt.Errorf("`temporary_security_group_source_cidrs` does not apply with `ssh_interface = %q`: the temporary security group admits %s", iface, map[string]string{
			interfaceSessionManager: "no inbound connection (the SSM agent connects out)",
			interfaceEICE:           "SSH from the endpoint's security groups only",
		}[iface]))
	}
	return errs
}
