package ebs

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

type groupDescriber interface {
	DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
}

// stepConnect runs Packer's communicator step and, when SSH never answers,
// says what was tried and what stands in the way, instead of the bare
// "Timeout waiting for SSH." users otherwise get.
type stepConnect struct {
	inner   multistep.Step
	ec2     groupDescriber
	comm    *communicator.Config
	host    func(multistep.StateBag) (string, error)
	keyName string // the temporary key pair's name, for the report
	pin     *hostKeyPin
}

var _ multistep.Step = (*stepConnect)(nil)

func (s *stepConnect) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	action := s.inner.Run(ctx, state)
	if action == multistep.ActionContinue && s.pin != nil {
		publishSSHRoute(state, s.comm, s.pin)
	}
	if action != multistep.ActionHalt || ctx.Err() != nil || s.comm.Type != "ssh" {
		return action
	}
	cause, _ := getError(state)
	report := s.diagnose(ctx, state)
	getUI(state).Error(report)
	putError(state, fmt.Errorf("%w\n%s", cause, report))
	return action
}

func (s *stepConnect) Cleanup(state multistep.StateBag) { s.inner.Cleanup(state) }

// diagnose describes the attempt: address, user, key, the instance's own
// addresses and the security group rules for the port.
func (s *stepConnect) diagnose(ctx context.Context, state multistep.StateBag) string {
	port := s.comm.SSHPort
	host, err := s.host(state)
	if err != nil {
		host = "(none: " + err.Error() + ")"
	}
	lines := []string{
		"SSH did not answer. What the build tried:",
		fmt.Sprintf("  %s:%d as user %q with %s", host, port, s.comm.SSHUsername, s.credential()),
	}
	if s.comm.SSHBastionHost != "" {
		lines = append(lines, fmt.Sprintf("  through bastion %s:%d", s.comm.SSHBastionHost, s.comm.SSHBastionPort))
	}
	inst := getInstance(state)
	public, private := aws.ToString(inst.PublicIpAddress), aws.ToString(inst.PrivateIpAddress)
	where := "one of the instance's addresses"
	if host != public && host != private && host != aws.ToString(inst.PublicDnsName) && host != aws.ToString(inst.PrivateDnsName) {
		where = "NOT one of the instance's addresses (`ssh_host` or `ssh_interface` chose it)"
	}
	lines = append(lines, fmt.Sprintf("  instance %s: public IP %s, private IP %s; %s is %s",
		aws.ToString(inst.InstanceId), orNone(public), orNone(private), host, where))
	if public == "" && s.comm.SSHHost == "" && s.comm.SSHBastionHost == "" {
		lines = append(lines, "  the instance has no public IP: from outside its VPC set `associate_public_ip_address = true`, a bastion, or `ssh_interface = \"private_ip\"` from inside")
	}
	lines = append(lines, s.groupRules(ctx, state, port)...)
	lines = append(lines, "Check that the AMI starts sshd on that port and accepts that user with that key (cloud-init), and that nothing between here and the instance blocks the port.")
	return strings.Join(lines, "\n")
}

func (s *stepConnect) credential() string {
	switch {
	case s.keyName != "" && len(s.comm.SSHPrivateKey) > 0:
		return fmt.Sprintf("the temporary %s key of key pair %s", s.comm.SSHTemporaryKeyPairType, s.keyName)
	case s.comm.SSHPrivateKeyFile != "":
		return "the key in " + s.comm.SSHPrivateKeyFile
	case s.comm.SSHAgentAuth:
		return "the keys of the SSH agent"
	case s.comm.SSHPassword != "":
		return "a password"
	}
	return "no key or password"
}

// groupRules says, for each of the instance's security groups, what admits
// the port, or that nothing does.
func (s *stepConnect) groupRules(ctx context.Context, state multistep.StateBag, port int) []string {
	ids := getSecurityGroupIDs(state)
	if len(ids) == 0 {
		return nil
	}
	out, err := s.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: ids})
	if err != nil {
		return []string{fmt.Sprintf("  security groups %v: could not describe them: %v", ids, err)}
	}
	var lines []string
	for _, g := range out.SecurityGroups {
		sources := admitting(g.IpPermissions, port)
		if len(sources) == 0 {
			lines = append(lines, fmt.Sprintf("  security group %s admits nothing on tcp port %d: add a rule, or let the build create its temporary group", aws.ToString(g.GroupId), port))
			continue
		}
		lines = append(lines, fmt.Sprintf("  security group %s admits tcp port %d from %s", aws.ToString(g.GroupId), port, strings.Join(sources, ", ")))
	}
	return lines
}

// admitting lists the sources of the rules that let tcp port in.
func admitting(perms []types.IpPermission, port int) []string {
	var sources []string
	for _, p := range perms {
		proto := aws.ToString(p.IpProtocol)
		if proto != "tcp" && proto != "-1" {
			continue
		}
		if proto == "tcp" && (int(aws.ToInt32(p.FromPort)) > port || int(aws.ToInt32(p.ToPort)) < port) {
			continue
		}
		for _, r := range p.IpRanges {
			sources = append(sources, aws.ToString(r.CidrIp))
		}
		for _, r := range p.Ipv6Ranges {
			sources = append(sources, aws.ToString(r.CidrIpv6))
		}
		for _, g := range p.UserIdGroupPairs {
			sources = append(sources, "group "+aws.ToString(g.GroupId))
		}
		for _, pl := range p.PrefixListIds {
			sources = append(sources, "prefix list "+aws.ToString(pl.PrefixListId))
		}
	}
	slices.Sort(sources)
	return slices.Compact(sources)
}

func (s *stepConnect) awsCalls() []awsCall {
	if s.comm.Type != "ssh" {
		return nil
	}
	// When SSH never answers, the report reads the instance's groups.
	calls := describe("ec2:DescribeSecurityGroups")
	calls[0].check = func(ctx context.Context) error {
		_, err := s.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{DryRun: dryRun})
		return err
	}
	return calls
}
