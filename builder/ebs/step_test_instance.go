package ebs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// stepTestInstance launches the `ami_test` instance from the AMI the build
// just made, into the build's subnet with its security group and
// temporary key pair, tagged at creation and journalled like the build
// instance; Cleanup terminates it on every path.
type stepTestInstance struct {
	ec2          instanceRunner
	instanceType string
	tags         bakery.Tags // the instance's and its volumes' tags
	clientToken  string
	poll         bakery.Poll
	journal      *journal.Journal
	instanceID   string
}

var _ multistep.Step = (*stepTestInstance)(nil)

func (s *stepTestInstance) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	img, ok := getImage(state)
	if !ok {
		return halt(state, fmt.Errorf("`ami_test`: the build made no AMI to test"))
	}
	net := getNetwork(state)
	in := &ec2.RunInstancesInput{
		ImageId:           img.ImageId,
		InstanceType:      types.InstanceType(s.instanceType),
		MinCount:          aws.Int32(1),
		MaxCount:          aws.Int32(1),
		ClientToken:       aws.String(s.clientToken),
		SubnetId:          aws.String(net.SubnetID),
		SecurityGroupIds:  getSecurityGroupIDs(state),
		MetadataOptions:   &types.InstanceMetadataOptionsRequest{HttpTokens: types.HttpTokensStateRequired, HttpEndpoint: types.InstanceMetadataEndpointStateEnabled},
		TagSpecifications: append(s.tags.Spec(types.ResourceTypeInstance), s.tags.Spec(types.ResourceTypeVolume)...),
		// The test instance's volumes go with it.
		InstanceInitiatedShutdownBehavior: types.ShutdownBehaviorTerminate,
	}
	if name := getKeyPairName(state); name != "" {
		in.KeyName = aws.String(name)
	}
	ui.Say(fmt.Sprintf("AMI test: launching a %s instance from %s...", s.instanceType, aws.ToString(img.ImageId)))
	out, err := s.ec2.RunInstances(ctx, in)
	if err != nil {
		return halt(state, fmt.Errorf("`ami_test`: launching the test instance from %s: %w", aws.ToString(img.ImageId), err))
	}
	if len(out.Instances) != 1 {
		return halt(state, fmt.Errorf("`ami_test`: launching the test instance: EC2 returned %d instances, expected 1", len(out.Instances)))
	}
	s.instanceID = aws.ToString(out.Instances[0].InstanceId)
	_ = s.journal.Record("instance", s.instanceID, "")
	putTestInstance(state, out.Instances[0])
	inst, err := waitUntilRunning(ctx, s.ec2, ui.Say, s.instanceID, s.poll)
	if err != nil {
		return halt(state, fmt.Errorf("`ami_test`: %w", err))
	}
	putTestInstance(state, inst)
	ui.Say(fmt.Sprintf("AMI test: instance %s is running (private IP %s, public IP %s)", s.instanceID,
		orNone(aws.ToString(inst.PrivateIpAddress)), orNone(aws.ToString(inst.PublicIpAddress))))
	return multistep.ActionContinue
}

func (s *stepTestInstance) Cleanup(state multistep.StateBag) {
	if s.instanceID == "" {
		return
	}
	ui := getUI(state)
	ctx, cancel := cleanupContext()
	defer cancel()
	ui.Say(fmt.Sprintf("AMI test: terminating instance %s...", s.instanceID))
	if err := terminateInstance(ctx, s.ec2, ui.Say, s.instanceID, s.poll); err != nil {
		cleanupFailed(ui, "test instance", s.instanceID, "aws ec2 terminate-instances --instance-ids "+s.instanceID, err)
		return
	}
	_ = s.journal.Forget(s.instanceID)
	s.instanceID = ""
}

// awsCalls: the launch is the build instance's, from the new AMI (not yet
// known, so any image), into the build's network, with the build's tags.
func (s *stepTestInstance) awsCalls() []awsCall {
	calls := []awsCall{
		{action: "ec2:RunInstances", grants: []Grant{
			{Sid: "LaunchTaggedInstance", EC2: []string{"instance/*", "volume/*"}, Tagged: RequestTagged},
			{Sid: "LaunchTestFrom", EC2: []string{"image/*", "subnet/*", "security-group/*", "key-pair/*", "network-interface/*"}},
		}}, // the build's own launch dry-runs RunInstances with the same tags

		{action: "ec2:CreateTags", partOf: "ec2:RunInstances", grants: []Grant{tagOnCreate("RunInstances", "instance/*", "volume/*")}},
		{action: "ec2:TerminateInstances", grants: []Grant{{Sid: "TerminateOwnInstance", EC2: []string{"instance/*"}, Tagged: ResourceTagged}}},
	}
	return append(calls, describe("ec2:DescribeInstances")...)
}
