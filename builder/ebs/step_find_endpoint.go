package ebs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel/eice"
)

// stepFindEndpoint finds the EC2 Instance Connect Endpoint the build will
// reach its instance through (`ssh_interface = "instance_connect_endpoint"`):
// the one `instance_connect_endpoint_id` names, else the one of the build's
// subnet, else one of its VPC. It runs before the security group step, which
// admits SSH from the endpoint's security groups.
type stepFindEndpoint struct {
	ec2 eice.API
	id  string
	// ownGroup: the build makes its temporary security group (no
	// `security_group_ids`), which can admit only the endpoint's groups.
	ownGroup bool
	port     int
}

var _ multistep.Step = (*stepFindEndpoint)(nil)

func (s *stepFindEndpoint) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	net := getNetwork(state)
	ep, err := eice.Find(ctx, s.ec2, s.id, net.VpcID, net.SubnetID)
	if err != nil {
		return halt(state, fmt.Errorf("`ssh_interface = \"instance_connect_endpoint\"`: %w", err))
	}
	if ep.PreserveClientIP && s.ownGroup {
		// Such an endpoint connects from this machine's address, which a
		// rule for the endpoint's group would not admit.
		return halt(state, fmt.Errorf("EC2 Instance Connect Endpoint %s preserves client IP addresses, so the instance sees this machine's address, not the endpoint's: use an endpoint created with --no-preserve-client-ip, or give `security_group_ids` that admit this machine on port %d", ep.ID, s.port))
	}
	if len(ep.SecurityGroupIDs) == 0 && s.ownGroup {
		return halt(state, fmt.Errorf("EC2 Instance Connect Endpoint %s has no security group to admit SSH from: give `security_group_ids` that admit it", ep.ID))
	}
	getUI(state).Say(fmt.Sprintf("Connecting through EC2 Instance Connect Endpoint %s (subnet %s)", ep.ID, ep.SubnetID))
	putEndpoint(state, ep)
	return multistep.ActionContinue
}

func (s *stepFindEndpoint) Cleanup(multistep.StateBag) {}

func (s *stepFindEndpoint) awsCalls() []awsCall {
	calls := describe("ec2:DescribeInstanceConnectEndpoints")
	calls[0].check = func(ctx context.Context) error {
		_, err := s.ec2.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{DryRun: dryRun})
		return err
	}
	return calls
}
