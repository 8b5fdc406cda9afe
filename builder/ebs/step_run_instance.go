package ebs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

type instanceRunner interface {
	RunInstances(context.Context, *ec2.RunInstancesInput, ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	instanceDescriber
	TerminateInstances(context.Context, *ec2.TerminateInstancesInput, ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
}

type instanceDescriber interface {
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

// stepRunInstance launches the build instance, tagged at creation, and
// waits until it runs; Cleanup terminates it and waits until it is gone.
type stepRunInstance struct {
	ec2               instanceRunner
	instanceType      string
	associatePublicIP *bool
	tags              bakery.Tags // instance tags
	volumeTags        bakery.Tags // tags of the instance's volumes
	options           InstanceConfig
	// What the launch is known to use before anything exists, for its
	// permission check and grants: the source AMI's ID (looked up if
	// given by filter), the configured subnet, groups, key pair and
	// instance profile.
	sourceAMI        string // source_ami, if given
	source           func(context.Context) string
	comm             *communicator.Config
	subnetID         string
	securityGroupIDs []string
	profile          string
	written          asWritten // the tags as written, for the permission check before render
	clientToken      string    // makes a retried launch return the first instance
	poll             bakery.Poll
	journal          *journal.Journal
	instanceID       string

	// The capacity fallback: the types to try after instanceType, and
	// whether to try the VPC's other subnets (listed through subnets).
	fallbackTypes   []string
	fallbackSubnets bool
	subnets         subnetLister
}

type subnetLister interface {
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
}

// capacityCodes are EC2's answers that another type or zone may not get:
// no capacity for the type in the zone now, or the type not offered there.
var capacityCodes = map[string]bool{"InsufficientInstanceCapacity": true, "Unsupported": true}

var _ multistep.Step = (*stepRunInstance)(nil)

func (s *stepRunInstance) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	in := s.input(state)
	if err := s.options.LaunchMappings.checkSizes("launch_block_device_mappings", getSourceImage(state)); err != nil {
		return halt(state, err)
	}
	out, err := s.launch(ctx, state, in)
	if err != nil {
		return halt(state, fmt.Errorf("launching the build instance: %w", err))
	}
	if len(out.Instances) != 1 {
		return halt(state, fmt.Errorf("launching the build instance: EC2 returned %d instances, expected 1", len(out.Instances)))
	}
	s.instanceID = aws.ToString(out.Instances[0].InstanceId)
	_ = s.journal.Record(journal.KindInstance, s.instanceID, "")
	ui.Say(fmt.Sprintf("Instance %s launched", s.instanceID))
	putInstance(state, out.Instances[0])

	inst, err := waitUntilRunning(ctx, s.ec2, ui.Say, s.instanceID, s.poll)
	if err != nil {
		return halt(state, err)
	}
	putInstance(state, inst)
	ui.Say(fmt.Sprintf("Instance %s is running (private IP %s, public IP %s)", s.instanceID,
		orNone(aws.ToString(inst.PrivateIpAddress)), orNone(aws.ToString(inst.PublicIpAddress))))
	return multistep.ActionContinue
}

// launch runs the instance of in, and, while EC2 answers that it has no
// capacity, the next subnet of the VPC (fallback_subnets), then the next
// type (fallback_instance_types). Each attempt has a ClientToken of its
// own: a retry after a lost reply returns its instance, and a failed
// attempt made nothing to clean up.
func (s *stepRunInstance) launch(ctx context.Context, state multistep.StateBag, in *ec2.RunInstancesInput) (*ec2.RunInstancesOutput, error) {
	ui := getUI(state)
	kinds := append([]string{s.instanceType}, s.fallbackTypes...)
	subnets := []string{getNetwork(state).SubnetID}
	var refusals []string
	listed := false
	for ti := 0; ti < len(kinds); ti++ {
		for si := 0; si < len(subnets); si++ {
			attempt := len(refusals)
			try := withSubnet(in, subnets[si])
			try.InstanceType = types.InstanceType(kinds[ti])
			if attempt > 0 {
				try.ClientToken = aws.String(fmt.Sprintf("%s-%d", s.clientToken, attempt))
			}
			ui.Say(fmt.Sprintf("Launching a %s instance from %s in %s...", kinds[ti], aws.ToString(in.ImageId), subnets[si]))
			out, err := s.ec2.RunInstances(ctx, try)
			code := apiErrorCode(err)
			if err == nil || !capacityCodes[code] {
				return out, err
			}
			refusals = append(refusals, fmt.Sprintf("%s in %s: %s", kinds[ti], subnets[si], code))
			ui.Say(fmt.Sprintf("EC2 has no capacity for %s in %s (%s)", kinds[ti], subnets[si], code))
			if s.fallbackSubnets && !listed {
				listed = true
				others, lerr := s.otherSubnets(ctx, getNetwork(state))
				if lerr != nil {
					return nil, fmt.Errorf("%w; listing the VPC's other subnets for `fallback_subnets`: %w", err, lerr)
				}
				subnets = append(subnets, others...)
			}
			if attempt+1 == len(kinds)*len(subnets) {
				return nil, fmt.Errorf("no capacity for any type and subnet tried (%s): add types to `fallback_instance_types`, set `fallback_subnets`, or try later: %w",
					strings.Join(refusals, "; "), err)
			}
		}
	}
	return nil, errors.New("no launch attempted") // not reached: the loop returns
}

// otherSubnets are the available subnets of the build's VPC but its own,
// by subnet ID.
func (s *stepRunInstance) otherSubnets(ctx context.Context, net network) ([]string, error) {
	out, err := s.subnets.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{net.VpcID}},
		{Name: aws.String("state"), Values: []string{"available"}},
	}})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, sn := range out.Subnets {
		if id := aws.ToString(sn.SubnetId); id != net.SubnetID {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// withSubnet is a copy of in that launches into subnet.
func withSubnet(in *ec2.RunInstancesInput, subnet string) *ec2.RunInstancesInput {
	out := *in
	if len(in.NetworkInterfaces) > 0 {
		out.NetworkInterfaces = append([]types.InstanceNetworkInterfaceSpecification(nil), in.NetworkInterfaces...)
		out.NetworkInterfaces[0].SubnetId = aws.String(subnet)
	} else {
		out.SubnetId = aws.String(subnet)
	}
	return &out
}

func (s *stepRunInstance) input(state multistep.StateBag) *ec2.RunInstancesInput {
	img := getSourceImage(state)
	net := getNetwork(state)
	sgs := getSecurityGroupIDs(state)
	in := &ec2.RunInstancesInput{
		ImageId:             img.ImageId,
		InstanceType:        types.InstanceType(s.instanceType),
		MinCount:            aws.Int32(1),
		MaxCount:            aws.Int32(1),
		ClientToken:         aws.String(s.clientToken),
		MetadataOptions:     s.options.metadataOptions(),
		TagSpecifications:   append(s.tags.Spec(types.ResourceTypeInstance), s.volumeTags.Spec(types.ResourceTypeVolume)...),
		Placement:           s.options.placement(),
		BlockDeviceMappings: s.options.LaunchMappings.ec2(true),
	}
	if data := s.options.userDataBase64(); data != "" {
		in.UserData = aws.String(data)
	}
	if s.options.EbsOptimized {
		in.EbsOptimized = aws.Bool(true)
	}
	if s.options.EnableUnlimitedCredits {
		in.CreditSpecification = &types.CreditSpecificationRequest{CpuCredits: aws.String("unlimited")}
	}
	if b := s.options.InstanceInitiatedShutdownBehavior; b != "" {
		in.InstanceInitiatedShutdownBehavior = types.ShutdownBehavior(b)
	}
	in.IamInstanceProfile = getInstanceProfileSpec(state)
	if name := getKeyPairName(state); name != "" {
		in.KeyName = aws.String(name)
	}
	if s.associatePublicIP != nil {
		// Only a network interface specification can override the subnet's
		// public IP setting.
		in.NetworkInterfaces = []types.InstanceNetworkInterfaceSpecification{{
			DeviceIndex:              aws.Int32(0),
			SubnetId:                 aws.String(net.SubnetID),
			Groups:                   sgs,
			AssociatePublicIpAddress: s.associatePublicIP,
			DeleteOnTermination:      aws.Bool(true),
		}}
	} else {
		in.SubnetId = aws.String(net.SubnetID)
		in.SecurityGroupIds = sgs
	}
	return in
}

func (s *stepRunInstance) Cleanup(state multistep.StateBag) {
	if s.instanceID == "" {
		return
	}
	ui := getUI(state)
	ctx, cancel := cleanupContext()
	defer cancel()
	ui.Say(fmt.Sprintf("Terminating instance %s...", s.instanceID))
	manual := "aws ec2 terminate-instances --instance-ids " + s.instanceID
	if err := terminateInstance(ctx, s.ec2, ui.Say, s.instanceID, s.poll); err != nil {
		cleanupFailed(ui, "instance", s.instanceID, manual, err)
		return
	}
	_ = s.journal.Forget(s.instanceID)
	s.instanceID = ""
}

// describeInstance returns the instance, or ok=false when EC2 does not know
// it (yet, right after launch, or any more).
func describeInstance(ctx context.Context, client instanceDescriber, id string) (types.Instance, bool, error) {
	out, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if apiErrorCode(err) == "InvalidInstanceID.NotFound" {
		return types.Instance{}, false, nil
	}
	if err != nil {
		return types.Instance{}, false, fmt.Errorf("describing instance %s: %w", id, err)
	}
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			if aws.ToString(inst.InstanceId) == id {
				return inst, true, nil
			}
		}
	}
	return types.Instance{}, false, nil
}

func instanceState(inst types.Instance) types.InstanceStateName {
	if inst.State == nil {
		return "unknown"
	}
	return inst.State.Name
}

func stateReason(inst types.Instance) string {
	if inst.StateReason != nil && inst.StateReason.Message != nil {
		return aws.ToString(inst.StateReason.Message)
	}
	if reason := strings.TrimSpace(aws.ToString(inst.StateTransitionReason)); reason != "" {
		return reason
	}
	return "(no reason given)"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (s *stepRunInstance) awsCalls() []awsCall {
	calls := []awsCall{
		{action: "ec2:RunInstances", check: s.dryRun, grants: []Grant{
			// The instance and its volumes are created with the build's
			// tags, and only so.
			{Sid: "LaunchTaggedInstance", EC2: []string{"instance/*", "volume/*"}, Tagged: RequestTagged},
			// What the instance is launched from and into; these resources
			// carry no request tags.
			{Sid: "LaunchFrom", EC2: s.launchResources()},
		}},
		{action: "ec2:CreateTags", partOf: "ec2:RunInstances", grants: []Grant{tagOnCreate("RunInstances", "instance/*", "volume/*")}},
		{action: "ec2:TerminateInstances", grants: []Grant{{Sid: "TerminateOwnInstance", EC2: []string{"instance/*"}, Tagged: ResourceTagged}},
			check: func(ctx context.Context) error {
				_, err := s.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{DryRun: dryRun, InstanceIds: []string{placeholderInstance}})
				return err
			}},
	}
	describeInstances := describe("ec2:DescribeInstances")[0]
	describeInstances.check = func(ctx context.Context) error {
		_, err := s.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{DryRun: dryRun})
		return err
	}
	calls = append(calls, describeInstances)
	if s.fallbackSubnets {
		describeSubnets := describe("ec2:DescribeSubnets")[0]
		describeSubnets.check = func(ctx context.Context) error {
			_, err := s.subnets.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{DryRun: dryRun})
			return err
		}
		calls = append(calls, describeSubnets)
	}
	return append(calls, kmsCalls("ec2:RunInstances", "UseVolumeKeys", false, s.options.LaunchMappings.kmsKeys())...)
}

// dryRun is the launch the build will make, as far as it is known before
// anything exists.
func (s *stepRunInstance) dryRun(ctx context.Context) error {
	image := placeholderImage
	if s.source != nil {
		image = s.source(ctx)
	}
	in := &ec2.RunInstancesInput{
		DryRun:            dryRun,
		ImageId:           aws.String(image),
		InstanceType:      types.InstanceType(s.instanceType),
		MinCount:          aws.Int32(1),
		MaxCount:          aws.Int32(1),
		TagSpecifications: append(s.written.of(s.tags).Spec(types.ResourceTypeInstance), s.written.of(s.volumeTags).Spec(types.ResourceTypeVolume)...),
		// What the launch asks of KMS, dedicated hosts and snapshots.
		BlockDeviceMappings: s.options.LaunchMappings.ec2(true),
		Placement:           s.options.placement(),
	}
	if s.subnetID != "" {
		in.SubnetId = aws.String(s.subnetID)
	}
	if len(s.securityGroupIDs) > 0 {
		in.SecurityGroupIds = s.securityGroupIDs
	}
	if s.comm != nil && s.comm.SSHKeyPairName != "" {
		in.KeyName = aws.String(s.comm.SSHKeyPairName)
	}
	if s.profile != "" {
		// On AWS the dry run also asks for iam:PassRole on its role.
		in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Name: aws.String(s.profile)}
	}
	_, err := s.ec2.RunInstances(ctx, in)
	return err
}

// launchResources are the resources RunInstances names besides the
// instance and its volumes: as narrow as the configuration allows.
func (s *stepRunInstance) launchResources() []string {
	one := func(kind, id string) string {
		if id != "" && bakery.Known(id) {
			return kind + "/" + id
		}
		return kind + "/*"
	}
	subnet := one("subnet", s.subnetID)
	if s.fallbackSubnets { // any subnet of the VPC may be tried
		subnet = "subnet/*"
	}
	res := []string{"network-interface/*", one("image", s.sourceAMI), subnet}
	groups := []string{"security-group/*"}
	if len(s.securityGroupIDs) > 0 {
		groups = nil
		for _, id := range s.securityGroupIDs {
			if !bakery.Known(id) {
				groups = []string{"security-group/*"}
				break
			}
			groups = append(groups, "security-group/"+id)
		}
	}
	res = append(res, groups...)
	for _, b := range s.options.LaunchMappings {
		if b.SnapshotId != "" {
			res = append(res, one("snapshot", b.SnapshotId))
		}
	}
	if h := s.options.Placement.HostId; h != "" {
		res = append(res, one("dedicated-host", h))
	}
	if s.comm != nil && (s.comm.SSHKeyPairName != "" || temporaryKeyPair(s.comm)) {
		res = append(res, one("key-pair", s.comm.SSHKeyPairName))
	}
	return res
}
