package ebs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

// cloud is a recording stand-in for EC2 (every region) and IAM: enough of
// them for a whole bake to run, answering each call as AWS would for a
// build that goes well, except for the faults it is given. It records
// every call by the step that made it.
type cloud struct {
	t    *testing.T
	mu   sync.Mutex
	step string // the step running, as its type name

	made map[string]map[string]bool // step → actions it made
	// asked are the actions asked with DryRun (by the permission check).
	asked map[string]bool
	// fail answers an action with an error; lost makes a create action
	// happen and answers it as a retry after a lost reply would be
	// (Duplicate / EntityAlreadyExists).
	fail map[string]error
	lost map[string]bool

	seq       int
	instances map[string]types.InstanceStateName
	images    map[string]bool
	keyPairs  map[string][]byte
	groups    map[string][]types.Tag
	// groupDescriptions: the description each group was created with.
	groupDescriptions map[string]*string
	roles             map[string][]iamtypes.Tag
	profiles          map[string][]iamtypes.Tag
	inProfile         map[string]bool
	tunnels           *cloudTunnels // see withTunnels
	// ltData: what the launch template was created with.
	ltData *types.RequestLaunchTemplateData
}

func newCloud(t *testing.T) *cloud {
	return &cloud{t: t, made: map[string]map[string]bool{}, asked: map[string]bool{}, fail: map[string]error{}, lost: map[string]bool{},
		instances: map[string]types.InstanceStateName{}, images: map[string]bool{}, keyPairs: map[string][]byte{},
		groups: map[string][]types.Tag{}, roles: map[string][]iamtypes.Tag{}, profiles: map[string][]iamtypes.Tag{}, inProfile: map[string]bool{}}
}

// clients are the cloud as the plan's clients.
func (c *cloud) clients() awsClients {
	return c.tunnelClients(awsClients{
		ec2: func(string) ec2Client { return c },
		iam: c,
		decode: func(_ context.Context, err error) error {
			// As the session's decoding does: one STS call.
			c.call("sts:DecodeAuthorizationMessage", nil)
			return err
		},
	})
}

// call records action and says how to answer it: with err, or go on.
func (c *cloud) call(action string, dry *bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if aws.ToBool(dry) {
		c.asked[action] = true
		return &smithy.OperationError{ServiceID: "EC2", OperationName: action, Err: &smithy.GenericAPIError{Code: "DryRunOperation"}}
	}
	if c.made[c.step] == nil {
		c.made[c.step] = map[string]bool{}
	}
	c.made[c.step][action] = true
	if err, ok := c.fail[action]; ok {
		service, op, _ := strings.Cut(action, ":")
		return &smithy.OperationError{ServiceID: strings.ToUpper(service), OperationName: op, Err: err}
	}
	return nil
}

func (c *cloud) id(prefix string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	return fmt.Sprintf("%s-%017d", prefix, c.seq)
}

// lostReply: action made its resource, and answers as AWS answers the
// retry of a call whose reply was lost.
func (c *cloud) lostReply(action, code string) error {
	if !c.lost[action] {
		return nil
	}
	return &smithy.OperationError{ServiceID: "X", OperationName: action, Err: &smithy.GenericAPIError{Code: code}}
}

func (c *cloud) DescribeRegions(_ context.Context, in *ec2.DescribeRegionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	if err := c.call("ec2:DescribeRegions", in.DryRun); err != nil {
		return nil, err
	}
	out := &ec2.DescribeRegionsOutput{}
	for _, r := range []string{"us-east-1", "us-west-2", "eu-west-1"} {
		out.Regions = append(out.Regions, types.Region{RegionName: aws.String(r)})
	}
	return out, nil
}

func (c *cloud) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	if err := c.call("ec2:DescribeImages", in.DryRun); err != nil {
		return nil, err
	}
	image := func(id string) types.Image {
		return types.Image{ImageId: aws.String(id), Name: aws.String("an-image"), State: types.ImageStateAvailable, RootDeviceType: types.DeviceTypeEbs,
			RootDeviceName: aws.String("/dev/xvda"), CreationDate: aws.String("2024-01-01T00:00:00.000Z"), VirtualizationType: types.VirtualizationTypeHvm,
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String("snap-" + id), VolumeSize: aws.Int32(8)}}}}
	}
	if len(in.ImageIds) > 0 {
		return &ec2.DescribeImagesOutput{Images: []types.Image{image(in.ImageIds[0])}}, nil
	}
	if c.fail["existing image"] != nil { // an AMI of the same name, for force_deregister
		return &ec2.DescribeImagesOutput{Images: []types.Image{image("ami-0existing")}}, nil
	}
	if slices.ContainsFunc(in.Filters, func(f types.Filter) bool {
		return aws.ToString(f.Name) == "name" && !strings.Contains(strings.Join(f.Values, ""), "*")
	}) {
		return &ec2.DescribeImagesOutput{}, nil // the name is free
	}
	return &ec2.DescribeImagesOutput{Images: []types.Image{image("ami-0filtered")}}, nil // source_ami_filter
}

func (c *cloud) DescribeVpcs(_ context.Context, in *ec2.DescribeVpcsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error) {
	if err := c.call("ec2:DescribeVpcs", in.DryRun); err != nil {
		return nil, err
	}
	return &ec2.DescribeVpcsOutput{Vpcs: []types.Vpc{{VpcId: aws.String("vpc-1"), IsDefault: aws.Bool(true)}}}, nil
}

func (c *cloud) DescribeSubnets(_ context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	if err := c.call("ec2:DescribeSubnets", in.DryRun); err != nil {
		return nil, err
	}
	id := "subnet-1"
	if len(in.SubnetIds) > 0 {
		id = in.SubnetIds[0]
	}
	return &ec2.DescribeSubnetsOutput{Subnets: []types.Subnet{{SubnetId: aws.String(id), VpcId: aws.String("vpc-1"),
		AvailabilityZone: aws.String("us-east-1a"), AvailableIpAddressCount: aws.Int32(100)}}}, nil
}

func (c *cloud) ImportKeyPair(_ context.Context, in *ec2.ImportKeyPairInput, _ ...func(*ec2.Options)) (*ec2.ImportKeyPairOutput, error) {
	if err := c.call("ec2:ImportKeyPair", in.DryRun); err != nil {
		return nil, err
	}
	c.keyPairs[aws.ToString(in.KeyName)] = in.PublicKeyMaterial
	return &ec2.ImportKeyPairOutput{KeyName: in.KeyName}, c.lostReply("ec2:ImportKeyPair", "InvalidKeyPair.Duplicate")
}

func (c *cloud) DescribeKeyPairs(_ context.Context, in *ec2.DescribeKeyPairsInput, _ ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error) {
	if err := c.call("ec2:DescribeKeyPairs", in.DryRun); err != nil {
		return nil, err
	}
	out := &ec2.DescribeKeyPairsOutput{}
	for _, n := range in.KeyNames {
		out.KeyPairs = append(out.KeyPairs, types.KeyPairInfo{KeyName: aws.String(n), PublicKey: aws.String(string(c.keyPairs[n]))})
	}
	return out, nil
}

func (c *cloud) DeleteKeyPair(_ context.Context, in *ec2.DeleteKeyPairInput, _ ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error) {
	return &ec2.DeleteKeyPairOutput{}, c.call("ec2:DeleteKeyPair", in.DryRun)
}

func (c *cloud) CreateSecurityGroup(_ context.Context, in *ec2.CreateSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error) {
	if err := c.call("ec2:CreateSecurityGroup", in.DryRun); err != nil {
		return nil, err
	}
	id := c.id("sg")
	for _, s := range in.TagSpecifications {
		c.groups[id] = s.Tags
	}
	if c.groupDescriptions == nil {
		c.groupDescriptions = map[string]*string{}
	}
	c.groupDescriptions[id] = in.Description // what adoption compares
	return &ec2.CreateSecurityGroupOutput{GroupId: aws.String(id)}, c.lostReply("ec2:CreateSecurityGroup", "InvalidGroup.Duplicate")
}

func (c *cloud) DescribeSecurityGroups(_ context.Context, in *ec2.DescribeSecurityGroupsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	if err := c.call("ec2:DescribeSecurityGroups", in.DryRun); err != nil {
		return nil, err
	}
	out := &ec2.DescribeSecurityGroupsOutput{}
	for _, id := range in.GroupIds {
		out.SecurityGroups = append(out.SecurityGroups, types.SecurityGroup{GroupId: aws.String(id), VpcId: aws.String("vpc-1")})
	}
	if len(in.GroupIds) == 0 {
		for id, tags := range c.groups {
			out.SecurityGroups = append(out.SecurityGroups, types.SecurityGroup{GroupId: aws.String(id), VpcId: aws.String("vpc-1"), Tags: tags,
				Description: c.groupDescriptions[id]})
		}
	}
	return out, nil
}

func (c *cloud) AuthorizeSecurityGroupIngress(_ context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, _ ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error) {
	return &ec2.AuthorizeSecurityGroupIngressOutput{}, c.call("ec2:AuthorizeSecurityGroupIngress", in.DryRun)
}

func (c *cloud) DeleteSecurityGroup(_ context.Context, in *ec2.DeleteSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error) {
	return &ec2.DeleteSecurityGroupOutput{}, c.call("ec2:DeleteSecurityGroup", in.DryRun)
}

func (c *cloud) instance(id string) types.Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	return types.Instance{InstanceId: aws.String(id), State: &types.InstanceState{Name: c.instances[id]}, PrivateIpAddress: aws.String("10.0.0.9"),
		SpotInstanceRequestId: aws.String("sir-" + id), RootDeviceName: aws.String("/dev/xvda")}
}

func (c *cloud) launch() string {
	id := c.id("i")
	c.mu.Lock()
	c.instances[id] = types.InstanceStateNameRunning
	c.mu.Unlock()
	return id
}

func (c *cloud) RunInstances(_ context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	if err := c.call("ec2:RunInstances", in.DryRun); err != nil {
		return nil, err
	}
	return &ec2.RunInstancesOutput{Instances: []types.Instance{c.instance(c.launch())}}, nil
}

func (c *cloud) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if err := c.call("ec2:DescribeInstances", in.DryRun); err != nil {
		return nil, err
	}
	out := &ec2.DescribeInstancesOutput{}
	for _, id := range in.InstanceIds {
		out.Reservations = append(out.Reservations, types.Reservation{Instances: []types.Instance{c.instance(id)}})
	}
	return out, nil
}

func (c *cloud) setInstances(ids []string, to types.InstanceStateName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		c.instances[id] = to
	}
}

func (c *cloud) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	if err := c.call("ec2:TerminateInstances", in.DryRun); err != nil {
		return nil, err
	}
	c.setInstances(in.InstanceIds, types.InstanceStateNameTerminated)
	return &ec2.TerminateInstancesOutput{}, nil
}

func (c *cloud) StopInstances(_ context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	if err := c.call("ec2:StopInstances", in.DryRun); err != nil {
		return nil, err
	}
	c.setInstances(in.InstanceIds, types.InstanceStateNameStopped)
	return &ec2.StopInstancesOutput{}, nil
}

func (c *cloud) CreateLaunchTemplate(_ context.Context, in *ec2.CreateLaunchTemplateInput, _ ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateOutput, error) {
	if err := c.call("ec2:CreateLaunchTemplate", in.DryRun); err != nil {
		return nil, err
	}
	var tags []types.Tag
	for _, s := range in.TagSpecifications {
		tags = s.Tags
	}
	if err := c.lostReply("ec2:CreateLaunchTemplate", "InvalidLaunchTemplateName.AlreadyExistsException"); err != nil {
		c.groups["lt-lost"] = tags // remembered for DescribeLaunchTemplates
		c.ltData = in.LaunchTemplateData
		return nil, err
	}
	return &ec2.CreateLaunchTemplateOutput{LaunchTemplate: &types.LaunchTemplate{LaunchTemplateId: aws.String("lt-1"), LaunchTemplateName: in.LaunchTemplateName}}, nil
}

func (c *cloud) DescribeLaunchTemplates(_ context.Context, in *ec2.DescribeLaunchTemplatesInput, _ ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error) {
	if err := c.call("ec2:DescribeLaunchTemplates", in.DryRun); err != nil {
		return nil, err
	}
	return &ec2.DescribeLaunchTemplatesOutput{LaunchTemplates: []types.LaunchTemplate{{LaunchTemplateId: aws.String("lt-1"),
		LaunchTemplateName: aws.String(strings.Join(in.LaunchTemplateNames, "")), Tags: c.groups["lt-lost"],
		LatestVersionNumber: aws.Int64(1), DefaultVersionNumber: aws.Int64(1)}}}, nil
}

func (c *cloud) DescribeLaunchTemplateVersions(_ context.Context, in *ec2.DescribeLaunchTemplateVersionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
	if err := c.call("ec2:DescribeLaunchTemplateVersions", in.DryRun); err != nil {
		return nil, err
	}
	data := new(types.ResponseLaunchTemplateData)
	if raw, err := json.Marshal(c.ltData); err != nil || json.Unmarshal(raw, data) != nil {
		c.t.Errorf("launch template data: %v", err)
	}
	return &ec2.DescribeLaunchTemplateVersionsOutput{LaunchTemplateVersions: []types.LaunchTemplateVersion{{LaunchTemplateId: aws.String("lt-1"),
		VersionNumber: aws.Int64(1), LaunchTemplateData: data}}}, nil
}

func (c *cloud) DeleteLaunchTemplate(_ context.Context, in *ec2.DeleteLaunchTemplateInput, _ ...func(*ec2.Options)) (*ec2.DeleteLaunchTemplateOutput, error) {
	return &ec2.DeleteLaunchTemplateOutput{}, c.call("ec2:DeleteLaunchTemplate", in.DryRun)
}

func (c *cloud) CreateFleet(_ context.Context, in *ec2.CreateFleetInput, _ ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	if err := c.call("ec2:CreateFleet", in.DryRun); err != nil {
		return nil, err
	}
	return &ec2.CreateFleetOutput{FleetId: aws.String("fleet-1"), Instances: []types.CreateFleetInstance{{InstanceIds: []string{c.launch()}}}}, nil
}

func (c *cloud) DeleteFleets(_ context.Context, in *ec2.DeleteFleetsInput, _ ...func(*ec2.Options)) (*ec2.DeleteFleetsOutput, error) {
	if err := c.call("ec2:DeleteFleets", in.DryRun); err != nil {
		return nil, err
	}
	c.mu.Lock()
	for id := range c.instances {
		c.instances[id] = types.InstanceStateNameTerminated
	}
	c.mu.Unlock()
	// The fleet went with an earlier call whose reply was lost.
	if err := c.lostReply("ec2:DeleteFleets", "InvalidFleetId.NotFound"); err != nil {
		return nil, err
	}
	out := &ec2.DeleteFleetsOutput{}
	for _, id := range in.FleetIds {
		out.SuccessfulFleetDeletions = append(out.SuccessfulFleetDeletions, types.DeleteFleetSuccessItem{FleetId: aws.String(id)})
	}
	return out, nil
}

func (c *cloud) DescribeFleets(_ context.Context, in *ec2.DescribeFleetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeFleetsOutput, error) {
	if err := c.call("ec2:DescribeFleets", in.DryRun); err != nil {
		return nil, err
	}
	return &ec2.DescribeFleetsOutput{Fleets: []types.FleetData{{FleetId: aws.String("fleet-1"), FleetState: types.FleetStateCodeDeleted}}}, nil
}

func (c *cloud) CreateTags(_ context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	return &ec2.CreateTagsOutput{}, c.call("ec2:CreateTags", in.DryRun)
}

func (c *cloud) ModifyInstanceAttribute(_ context.Context, in *ec2.ModifyInstanceAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error) {
	return &ec2.ModifyInstanceAttributeOutput{}, c.call("ec2:ModifyInstanceAttribute", in.DryRun)
}

func (c *cloud) CreateImage(_ context.Context, in *ec2.CreateImageInput, _ ...func(*ec2.Options)) (*ec2.CreateImageOutput, error) {
	if err := c.call("ec2:CreateImage", in.DryRun); err != nil {
		return nil, err
	}
	return &ec2.CreateImageOutput{ImageId: aws.String(c.id("ami"))}, nil
}

func (c *cloud) CopyImage(_ context.Context, in *ec2.CopyImageInput, _ ...func(*ec2.Options)) (*ec2.CopyImageOutput, error) {
	if err := c.call("ec2:CopyImage", in.DryRun); err != nil {
		return nil, err
	}
	return &ec2.CopyImageOutput{ImageId: aws.String(c.id("ami"))}, nil
}

func (c *cloud) DeregisterImage(_ context.Context, in *ec2.DeregisterImageInput, _ ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error) {
	return &ec2.DeregisterImageOutput{}, c.call("ec2:DeregisterImage", in.DryRun)
}

func (c *cloud) DeleteSnapshot(_ context.Context, in *ec2.DeleteSnapshotInput, _ ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error) {
	return &ec2.DeleteSnapshotOutput{}, c.call("ec2:DeleteSnapshot", in.DryRun)
}

func (c *cloud) ModifyImageAttribute(_ context.Context, in *ec2.ModifyImageAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyImageAttributeOutput, error) {
	return &ec2.ModifyImageAttributeOutput{}, c.call("ec2:ModifyImageAttribute", in.DryRun)
}

func (c *cloud) EnableImageDeprecation(_ context.Context, in *ec2.EnableImageDeprecationInput, _ ...func(*ec2.Options)) (*ec2.EnableImageDeprecationOutput, error) {
	return &ec2.EnableImageDeprecationOutput{}, c.call("ec2:EnableImageDeprecation", in.DryRun)
}

func (c *cloud) ModifySnapshotAttribute(_ context.Context, in *ec2.ModifySnapshotAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifySnapshotAttributeOutput, error) {
	return &ec2.ModifySnapshotAttributeOutput{}, c.call("ec2:ModifySnapshotAttribute", in.DryRun)
}

// IAM, which has no DryRun: the permission check's probes of a name that
// cannot exist are recorded as asked.

func (c *cloud) iamCall(action, name string) error {
	if strings.HasPrefix(name, "packer_bakery_permission_check_") {
		c.mu.Lock()
		c.asked[action] = true
		c.mu.Unlock()
		return &smithy.OperationError{ServiceID: "IAM", OperationName: action, Err: &smithy.GenericAPIError{Code: "NoSuchEntity"}}
	}
	return c.call(action, nil)
}

func (c *cloud) GetInstanceProfile(_ context.Context, in *iam.GetInstanceProfileInput, _ ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error) {
	name := aws.ToString(in.InstanceProfileName)
	if err := c.iamCall("iam:GetInstanceProfile", name); err != nil {
		return nil, err
	}
	p := &iamtypes.InstanceProfile{InstanceProfileName: in.InstanceProfileName, Arn: aws.String("arn:aws:iam::1:instance-profile/" + name),
		Tags: c.profiles[name], Roles: []iamtypes.Role{{RoleName: aws.String(name)}}}
	if _, ours := c.profiles[name]; ours && !c.inProfile[name] {
		p.Roles = nil
	}
	return &iam.GetInstanceProfileOutput{InstanceProfile: p}, nil
}

func (c *cloud) CreateRole(_ context.Context, in *iam.CreateRoleInput, _ ...func(*iam.Options)) (*iam.CreateRoleOutput, error) {
	if err := c.iamCall("iam:CreateRole", aws.ToString(in.RoleName)); err != nil {
		return nil, err
	}
	c.roles[aws.ToString(in.RoleName)] = in.Tags
	return &iam.CreateRoleOutput{Role: &iamtypes.Role{RoleName: in.RoleName, Arn: aws.String("arn:aws:iam::1:role/" + aws.ToString(in.RoleName))}},
		c.lostReply("iam:CreateRole", "EntityAlreadyExists")
}

func (c *cloud) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	if err := c.iamCall("iam:GetRole", aws.ToString(in.RoleName)); err != nil {
		return nil, err
	}
	// As the build's CreateRole made it.
	return &iam.GetRoleOutput{Role: &iamtypes.Role{RoleName: in.RoleName, Arn: aws.String("arn:aws:iam::1:role/" + aws.ToString(in.RoleName)),
		Tags: c.roles[aws.ToString(in.RoleName)], AssumeRolePolicyDocument: aws.String(ec2TrustPolicy), Description: aws.String(tempRoleDescription)}}, nil
}

func (c *cloud) PutRolePolicy(_ context.Context, in *iam.PutRolePolicyInput, _ ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error) {
	return &iam.PutRolePolicyOutput{}, c.iamCall("iam:PutRolePolicy", aws.ToString(in.RoleName))
}

func (c *cloud) ListRolePolicies(_ context.Context, in *iam.ListRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error) {
	return &iam.ListRolePoliciesOutput{}, c.iamCall("iam:ListRolePolicies", aws.ToString(in.RoleName))
}

func (c *cloud) ListAttachedRolePolicies(_ context.Context, in *iam.ListAttachedRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	return &iam.ListAttachedRolePoliciesOutput{}, c.iamCall("iam:ListAttachedRolePolicies", aws.ToString(in.RoleName))
}

func (c *cloud) CreateInstanceProfile(_ context.Context, in *iam.CreateInstanceProfileInput, _ ...func(*iam.Options)) (*iam.CreateInstanceProfileOutput, error) {
	if err := c.iamCall("iam:CreateInstanceProfile", aws.ToString(in.InstanceProfileName)); err != nil {
		return nil, err
	}
	c.profiles[aws.ToString(in.InstanceProfileName)] = in.Tags
	return &iam.CreateInstanceProfileOutput{InstanceProfile: &iamtypes.InstanceProfile{InstanceProfileName: in.InstanceProfileName,
		Arn: aws.String("arn:aws:iam::1:instance-profile/" + aws.ToString(in.InstanceProfileName))}}, c.lostReply("iam:CreateInstanceProfile", "EntityAlreadyExists")
}

func (c *cloud) AddRoleToInstanceProfile(_ context.Context, in *iam.AddRoleToInstanceProfileInput, _ ...func(*iam.Options)) (*iam.AddRoleToInstanceProfileOutput, error) {
	if err := c.iamCall("iam:AddRoleToInstanceProfile", aws.ToString(in.InstanceProfileName)); err != nil {
		return nil, err
	}
	c.inProfile[aws.ToString(in.InstanceProfileName)] = true
	return &iam.AddRoleToInstanceProfileOutput{}, nil
}

func (c *cloud) RemoveRoleFromInstanceProfile(_ context.Context, in *iam.RemoveRoleFromInstanceProfileInput, _ ...func(*iam.Options)) (*iam.RemoveRoleFromInstanceProfileOutput, error) {
	return &iam.RemoveRoleFromInstanceProfileOutput{}, c.iamCall("iam:RemoveRoleFromInstanceProfile", aws.ToString(in.InstanceProfileName))
}

func (c *cloud) DeleteInstanceProfile(_ context.Context, in *iam.DeleteInstanceProfileInput, _ ...func(*iam.Options)) (*iam.DeleteInstanceProfileOutput, error) {
	return &iam.DeleteInstanceProfileOutput{}, c.iamCall("iam:DeleteInstanceProfile", aws.ToString(in.InstanceProfileName))
}

func (c *cloud) DeleteRolePolicy(_ context.Context, in *iam.DeleteRolePolicyInput, _ ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error) {
	return &iam.DeleteRolePolicyOutput{}, c.iamCall("iam:DeleteRolePolicy", aws.ToString(in.RoleName))
}

func (c *cloud) DeleteRole(_ context.Context, in *iam.DeleteRoleInput, _ ...func(*iam.Options)) (*iam.DeleteRoleOutput, error) {
	return &iam.DeleteRoleOutput{}, c.iamCall("iam:DeleteRole", aws.ToString(in.RoleName))
}
