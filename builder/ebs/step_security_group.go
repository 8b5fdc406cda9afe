package ebs

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

type securityGroupManager interface {
	CreateSecurityGroup(context.Context, *ec2.CreateSecurityGroupInput, ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error)
	AuthorizeSecurityGroupIngress(context.Context, *ec2.AuthorizeSecurityGroupIngressInput, ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
	DeleteSecurityGroup(context.Context, *ec2.DeleteSecurityGroupInput, ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error)
}

// stepSecurityGroup uses the configured security groups, or creates a
// temporary one that admits only the communicator port.
type stepSecurityGroup struct {
	ec2     securityGroupManager
	ids     []string
	name    string
	port    int
	cidrs   []string
	tags    bakery.Tags
	poll    bakery.Poll // how to wait for the instance to let go of the group
	created string
}

var _ multistep.Step = (*stepSecurityGroup)(nil)

func (s *stepSecurityGroup) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	if len(s.ids) > 0 {
		state.Put(keySGIDs, s.ids)
		return multistep.ActionContinue
	}
	ui := getUI(state)
	vpc := getNetwork(state).VpcID
	ui.Say(fmt.Sprintf("Creating temporary security group %s in %s...", s.name, vpc))
	out, err := s.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName:         aws.String(s.name),
		Description:       aws.String("Temporary group of a Packer bakery-ebs build"),
		VpcId:             aws.String(vpc),
		TagSpecifications: s.tags.Spec(types.ResourceTypeSecurityGroup),
	})
	if err != nil {
		return halt(state, fmt.Errorf("creating temporary security group %q: %w", s.name, err))
	}
	s.created = aws.ToString(out.GroupId)

	perm := types.IpPermission{
		IpProtocol: aws.String("tcp"),
		FromPort:   aws.Int32(int32(s.port)),
		ToPort:     aws.Int32(int32(s.port)),
	}
	for _, cidr := range s.cidrs {
		// EC2 takes IPv6 blocks only in their own list.
		if _, block, err := net.ParseCIDR(cidr); err == nil && block.IP.To4() == nil {
			perm.Ipv6Ranges = append(perm.Ipv6Ranges, types.Ipv6Range{CidrIpv6: aws.String(cidr), Description: aws.String("Packer communicator")})
			continue
		}
		perm.IpRanges = append(perm.IpRanges, types.IpRange{CidrIp: aws.String(cidr), Description: aws.String("Packer communicator")})
	}
	_, err = s.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId:       aws.String(s.created),
		IpPermissions: []types.IpPermission{perm},
	})
	if err != nil {
		return halt(state, fmt.Errorf("allowing port %d into security group %s: %w", s.port, s.created, err))
	}
	ui.Say(fmt.Sprintf("Security group %s admits port %d from %v", s.created, s.port, s.cidrs))
	state.Put(keySGIDs, []string{s.created})
	return multistep.ActionContinue
}

func (s *stepSecurityGroup) Cleanup(state multistep.StateBag) {
	if s.created == "" {
		return
	}
	ui := getUI(state)
	ctx, cancel := cleanupContext()
	defer cancel()
	ui.Say(fmt.Sprintf("Deleting temporary security group %s...", s.created))
	poll := s.poll
	if poll.Timeout == 0 || poll.Timeout > cleanupTimeout {
		poll.Timeout = cleanupTimeout
	}
	// EC2 refuses while a network interface still uses the group, which
	// lasts a little after the instance is terminated.
	err := bakery.Wait(ctx, ui.Say, "security group "+s.created+" to be released", poll, func(ctx context.Context) (bool, string, error) {
		_, err := s.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(s.created)})
		switch apiErrorCode(err) {
		case "":
			return true, "deleted", nil
		case "InvalidGroup.NotFound":
			return true, "already gone", nil
		case "DependencyViolation":
			return false, "in use", nil
		default:
			return false, "", err
		}
	})
	if err != nil {
		cleanupFailed(ui, "temporary security group", s.created, "aws ec2 delete-security-group --group-id "+s.created, err)
		return
	}
	s.created = ""
}

// apiErrorCode is the AWS error code of err ("" for nil or a non-API error).
func apiErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return "unknown"
}
