package ebs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/template/config"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// preflightEC2 is every call the build makes that EC2 can answer with
// DryRun: asked with DryRun=true, EC2 says whether the credentials may make
// it (DryRunOperation) or not (UnauthorizedOperation), and does nothing.
type preflightEC2 interface {
	DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	DescribeKeyPairs(context.Context, *ec2.DescribeKeyPairsInput, ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error)
	DescribeRegions(context.Context, *ec2.DescribeRegionsInput, ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
	DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeVpcs(context.Context, *ec2.DescribeVpcsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	RunInstances(context.Context, *ec2.RunInstancesInput, ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	StopInstances(context.Context, *ec2.StopInstancesInput, ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error)
	TerminateInstances(context.Context, *ec2.TerminateInstancesInput, ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	ImportKeyPair(context.Context, *ec2.ImportKeyPairInput, ...func(*ec2.Options)) (*ec2.ImportKeyPairOutput, error)
	DeleteKeyPair(context.Context, *ec2.DeleteKeyPairInput, ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error)
	CreateSecurityGroup(context.Context, *ec2.CreateSecurityGroupInput, ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error)
	AuthorizeSecurityGroupIngress(context.Context, *ec2.AuthorizeSecurityGroupIngressInput, ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
	DeleteSecurityGroup(context.Context, *ec2.DeleteSecurityGroupInput, ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error)
	CreateImage(context.Context, *ec2.CreateImageInput, ...func(*ec2.Options)) (*ec2.CreateImageOutput, error)
	DeregisterImage(context.Context, *ec2.DeregisterImageInput, ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error)
	DeleteSnapshot(context.Context, *ec2.DeleteSnapshotInput, ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error)
	CreateTags(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	CreateLaunchTemplate(context.Context, *ec2.CreateLaunchTemplateInput, ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateOutput, error)
	DeleteLaunchTemplate(context.Context, *ec2.DeleteLaunchTemplateInput, ...func(*ec2.Options)) (*ec2.DeleteLaunchTemplateOutput, error)
	DescribeLaunchTemplates(context.Context, *ec2.DescribeLaunchTemplatesInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error)
	CreateFleet(context.Context, *ec2.CreateFleetInput, ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error)
	DeleteFleets(context.Context, *ec2.DeleteFleetsInput, ...func(*ec2.Options)) (*ec2.DeleteFleetsOutput, error)
	DescribeFleets(context.Context, *ec2.DescribeFleetsInput, ...func(*ec2.Options)) (*ec2.DescribeFleetsOutput, error)
	CopyImage(context.Context, *ec2.CopyImageInput, ...func(*ec2.Options)) (*ec2.CopyImageOutput, error)
	ModifyImageAttribute(context.Context, *ec2.ModifyImageAttributeInput, ...func(*ec2.Options)) (*ec2.ModifyImageAttributeOutput, error)
	ModifySnapshotAttribute(context.Context, *ec2.ModifySnapshotAttributeInput, ...func(*ec2.Options)) (*ec2.ModifySnapshotAttributeOutput, error)
	EnableImageDeprecation(context.Context, *ec2.EnableImageDeprecationInput, ...func(*ec2.Options)) (*ec2.EnableImageDeprecationOutput, error)
	ModifyInstanceAttribute(context.Context, *ec2.ModifyInstanceAttributeInput, ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error)
}

// preflightIAM is what the check asks IAM, which has no DryRun: reads, and
// the cleanup's deletions of a role and profile named so that they cannot
// exist (IAM then answers NoSuchEntity if allowed, AccessDenied if not):
// refused, cleanup would leave them behind. The calls that create or fill
// them are not asked: refused, they stop the build at the instance profile
// step, before the launch, naming the action.
type preflightIAM interface {
	GetInstanceProfile(context.Context, *iam.GetInstanceProfileInput, ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error)
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	DeleteRolePolicy(context.Context, *iam.DeleteRolePolicyInput, ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	DeleteRole(context.Context, *iam.DeleteRoleInput, ...func(*iam.Options)) (*iam.DeleteRoleOutput, error)
	RemoveRoleFromInstanceProfile(context.Context, *iam.RemoveRoleFromInstanceProfileInput, ...func(*iam.Options)) (*iam.RemoveRoleFromInstanceProfileOutput, error)
	DeleteInstanceProfile(context.Context, *iam.DeleteInstanceProfileInput, ...func(*iam.Options)) (*iam.DeleteInstanceProfileOutput, error)
}

// iamChecks asks IAM about the calls of the instance profile options.
// absent is a name no role or profile has (the build's own prefix, so the
// policy's name scoping applies).
func iamChecks(client preflightIAM, cfg *Config, absent string) []permissionCheck {
	var checks []permissionCheck
	add := func(action string, call func(context.Context) error) {
		checks = append(checks, permissionCheck{action: "iam:" + action, call: call})
	}
	name := aws.String(absent)
	switch {
	case cfg.IamInstanceProfile != "" && !cfg.SkipProfileValidation:
		add("GetInstanceProfile", func(ctx context.Context) error {
			_, err := client.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(cfg.IamInstanceProfile)})
			return err
		})
	case cfg.TemporaryIamInstanceProfilePolicyDocument != nil:
		add("GetInstanceProfile", func(ctx context.Context) error {
			_, err := client.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: name})
			return err
		})
		add("GetRole", func(ctx context.Context) error {
			_, err := client.GetRole(ctx, &iam.GetRoleInput{RoleName: name})
			return err
		})
		add("DeleteRolePolicy", func(ctx context.Context) error {
			_, err := client.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: name, PolicyName: name})
			return err
		})
		add("DeleteRole", func(ctx context.Context) error {
			_, err := client.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: name})
			return err
		})
		add("RemoveRoleFromInstanceProfile", func(ctx context.Context) error {
			_, err := client.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: name, RoleName: name})
			return err
		})
		add("DeleteInstanceProfile", func(ctx context.Context) error {
			_, err := client.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: name})
			return err
		})
	}
	return checks
}

// permissionCheck is one dry run: the IAM action it checks and the call.
type permissionCheck struct {
	action string
	call   func(context.Context) error
}

// stepPreflight asks EC2, before the build creates anything, whether the
// credentials may make each call the build will make, all in parallel, and
// halts listing every refused action at once.
type stepPreflight struct {
	checks []permissionCheck
}

var _ multistep.Step = (*stepPreflight)(nil)

func (s *stepPreflight) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	if len(s.checks) == 0 {
		return multistep.ActionContinue
	}
	ui := getUI(state)
	ui.Say(fmt.Sprintf("Checking with DryRun that the credentials may make the build's %d kinds of AWS call...", len(s.checks)))
	var (
		mu                    sync.Mutex
		refused, inconclusive []string
		wg                    sync.WaitGroup
		start                 = time.Now()
	)
	for _, c := range s.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.call(ctx)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil, apiErrorCode(err) == "DryRunOperation":
			case apiErrorCode(err) == "NoSuchEntity" && strings.HasPrefix(c.action, "iam:"):
				// The answer an allowed probe of a name that does not
				// exist gets.
			case isAuthorizationError(err):
				refused = append(refused, c.action)
			case ctx.Err() == nil:
				// Any other answer means EC2 did not refuse the call on
				// permission grounds (e.g. NotFound for the placeholder IDs
				// of resources the build has yet to create).
				inconclusive = append(inconclusive, fmt.Sprintf("%s (%s)", c.action, apiErrorCode(err)))
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return halt(state, err)
	}
	if len(inconclusive) > 0 {
		sort.Strings(inconclusive)
		ui.Say("Permission check: these were answered with an error other than a refusal, taken as allowed: " + strings.Join(inconclusive, ", "))
	}
	if len(refused) > 0 {
		sort.Strings(refused)
		return halt(state, fmt.Errorf("the credentials lack %d permission(s) this build needs (refused to a dry run; nothing was created):\n  %s\n"+
			"`packer-plugin-bakery iam-policy` writes the policy this template needs (docs/iam-policy.md); `skip_permission_check = true` skips this check",
			len(refused), strings.Join(refused, "\n  ")))
	}
	ui.Say(fmt.Sprintf("Permission check passed (%d dry runs in %v)", len(s.checks), time.Since(start).Round(time.Millisecond)))
	return multistep.ActionContinue
}

func (s *stepPreflight) Cleanup(multistep.StateBag) {}

// authorizationCodes are the error codes of a refused call: EC2's, and the
// generic one other services (and moto, for every service) use.
var authorizationCodes = map[string]bool{
	"UnauthorizedOperation":        true,
	"Client.UnauthorizedOperation": true,
	"AccessDenied":                 true,
	"AccessDeniedException":        true,
}

func isAuthorizationError(err error) bool {
	if authorizationCodes[apiErrorCode(err)] {
		return true
	}
	// An HTTP 403 whose body the SDK could not read (moto's IAM refusals):
	// a refusal too; 403s with a code of their own (expired or invalid
	// credentials) are not.
	var resp *awshttp.ResponseError
	return errors.As(err, &resp) && resp.HTTPStatusCode() == 403 && apiErrorCode(err) == "UnknownError"
}

// withPermissionHint names the IAM action of a refused call: EC2's own
// message ("You are not authorized to perform this operation") does not.
func withPermissionHint(err error) error {
	var op *smithy.OperationError
	if !isAuthorizationError(err) || !errors.As(err, &op) {
		return err
	}
	return fmt.Errorf("%w\n(missing IAM permission %s:%s; see docs/iam-policy.md)", err, strings.ToLower(op.ServiceID), op.OperationName)
}

// Placeholders for resources the build has yet to create: well-formed IDs
// that exist nowhere. EC2 checks the permission of a dry run before it
// looks the resource up on the test-bed; see docs/iam-policy.md for what
// AWS answers.
const (
	placeholderInstance = "i-00000000000000000"
	placeholderGroup    = "sg-00000000000000000"
	placeholderImage    = "ami-00000000000000000"
	placeholderSnapshot = "snap-00000000000000000"
	placeholderName     = "packer_bakery_permission_check"
)

// preflightInput is what the dry runs ask for, as the build will.
type preflightInput struct {
	cfg        *Config
	runTags    bakery.Tags
	volumeTags bakery.Tags
	keyPairTag bakery.Tags
	groupTags  bakery.Tags
	publicKey  []byte // any valid key, for ImportKeyPair
	source     *sourceImageLookup
}

// newStepPreflight dry-runs what the build will ask for, with the tags it
// will ask with; none when `skip_permission_check` is set.
func newStepPreflight(cfg *Config, client preflightEC2, iamClient preflightIAM, absentName string, source *sourceImageLookup, runTags, volumeTags, keyPairTags, groupTags bakery.Tags) *stepPreflight {
	if cfg.SkipPermissionCheck {
		return &stepPreflight{}
	}
	_, public, err := generateKey("ed25519", 0)
	if err != nil {
		public = nil // ImportKeyPair's dry run then fails on the input, not on permission: inconclusive
	}
	checks := preflightChecks(client, preflightInput{cfg: cfg, runTags: runTags, volumeTags: volumeTags,
		keyPairTag: keyPairTags, groupTags: groupTags, publicKey: public, source: source})
	return &stepPreflight{checks: append(checks, iamChecks(iamClient, cfg, absentName)...)}
}

// UsesTemporaryKeyPair says whether the build imports a key pair of its
// own (the iampolicy table asks the same question).
func UsesTemporaryKeyPair(cfg *Config) bool { return usesTemporaryKeyPair(&cfg.Comm) }

// UsesTemporarySecurityGroup mirrors stepSecurityGroup: a group of the
// build's own unless the template names or filters its groups.
func UsesTemporarySecurityGroup(cfg *Config) bool {
	return len(cfg.SecurityGroupIDs) == 0 && cfg.SecurityGroupFilter.Empty()
}

// usesTemporaryKeyPair mirrors stepKeyPair: a key pair of the build's own
// only when the template brings no way in.
func usesTemporaryKeyPair(c *communicator.Config) bool {
	return c.SSHKeyPairName == "" && c.Type == "ssh" && c.SSHPassword == "" && c.SSHPrivateKeyFile == "" && !c.SSHAgentAuth
}

// PreflightActions lists the IAM actions the permission check dry-runs for
// cfg: the iampolicy tests hold the policy to it.
func PreflightActions(cfg *Config) []string {
	var out []string
	for _, c := range append(preflightChecks(nil, preflightInput{cfg: cfg}), iamChecks(nil, cfg, "")...) {
		out = append(out, c.action)
	}
	sort.Strings(out)
	return out
}

// preflightChecks lists a dry run of every call the build makes with cfg.
func preflightChecks(client preflightEC2, in preflightInput) []permissionCheck {
	cfg := in.cfg
	dry := aws.Bool(true)
	var checks []permissionCheck
	add := func(action string, call func(context.Context) error) {
		checks = append(checks, permissionCheck{action: "ec2:" + action, call: call})
	}
	add("DescribeImages", func(ctx context.Context) error {
		_, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{DryRun: dry, Owners: []string{"self"}})
		return err
	})
	add("DescribeVpcs", func(ctx context.Context) error {
		_, err := client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{DryRun: dry})
		return err
	})
	add("DescribeSubnets", func(ctx context.Context) error {
		_, err := client.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{DryRun: dry})
		return err
	})
	add("DescribeInstances", func(ctx context.Context) error {
		_, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{DryRun: dry})
		return err
	})
	add("DescribeSecurityGroups", func(ctx context.Context) error {
		_, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{DryRun: dry})
		return err
	})
	if !cfg.SkipRegionValidation {
		add("DescribeRegions", func(ctx context.Context) error {
			_, err := client.DescribeRegions(ctx, &ec2.DescribeRegionsInput{DryRun: dry})
			return err
		})
	}
	add("RunInstances", func(ctx context.Context) error {
		_, err := client.RunInstances(ctx, preflightRunInput(ctx, client, in))
		return err
	})
	if !cfg.DisableStopInstance && !cfg.IsSpot() {
		add("StopInstances", func(ctx context.Context) error {
			_, err := client.StopInstances(ctx, &ec2.StopInstancesInput{DryRun: dry, InstanceIds: []string{placeholderInstance}})
			return err
		})
	}
	add("TerminateInstances", func(ctx context.Context) error {
		_, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{DryRun: dry, InstanceIds: []string{placeholderInstance}})
		return err
	})
	add("CreateImage", func(ctx context.Context) error {
		_, err := client.CreateImage(ctx, &ec2.CreateImageInput{DryRun: dry, InstanceId: aws.String(placeholderInstance),
			Name: aws.String(placeholderName), TagSpecifications: bakery.Tags(cfg.AMITags).Spec(types.ResourceTypeImage)})
		return err
	})
	// A failed build removes its AMI; force_deregister a same-named one.
	add("DeregisterImage", func(ctx context.Context) error {
		_, err := client.DeregisterImage(ctx, &ec2.DeregisterImageInput{DryRun: dry, ImageId: aws.String(placeholderImage)})
		return err
	})
	add("DeleteSnapshot", func(ctx context.Context) error {
		_, err := client.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{DryRun: dry, SnapshotId: aws.String(placeholderSnapshot)})
		return err
	})
	if usesTemporaryKeyPair(&cfg.Comm) {
		add("ImportKeyPair", func(ctx context.Context) error {
			_, err := client.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{DryRun: dry, KeyName: aws.String(placeholderName),
				PublicKeyMaterial: in.publicKey, TagSpecifications: in.keyPairTag.Spec(types.ResourceTypeKeyPair)})
			return err
		})
		add("DescribeKeyPairs", func(ctx context.Context) error {
			_, err := client.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{DryRun: dry})
			return err
		})
		add("DeleteKeyPair", func(ctx context.Context) error {
			_, err := client.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{DryRun: dry, KeyName: aws.String(placeholderName)})
			return err
		})
	}
	if UsesTemporarySecurityGroup(cfg) {
		add("CreateSecurityGroup", func(ctx context.Context) error {
			sg := &ec2.CreateSecurityGroupInput{DryRun: dry, GroupName: aws.String(placeholderName),
				Description: aws.String("permission check"), TagSpecifications: in.groupTags.Spec(types.ResourceTypeSecurityGroup)}
			if cfg.VpcID != "" {
				sg.VpcId = aws.String(cfg.VpcID)
			}
			_, err := client.CreateSecurityGroup(ctx, sg)
			return err
		})
		add("AuthorizeSecurityGroupIngress", func(ctx context.Context) error {
			_, err := client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{DryRun: dry, GroupId: aws.String(placeholderGroup),
				IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
					IpRanges: []types.IpRange{{CidrIp: aws.String("192.0.2.0/32")}}}}})
			return err
		})
		add("DeleteSecurityGroup", func(ctx context.Context) error {
			_, err := client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{DryRun: dry, GroupId: aws.String(placeholderGroup)})
			return err
		})
	}
	if cfg.IsSpot() || len(cfg.SnapshotTags) > 0 || (len(cfg.AMITags) > 0 && (cfg.AMIEncryptBootVolume.True() || cfg.AMISkipBuildRegion || len(cfg.copyRegions(cfg.RawRegion)) > 0)) {
		add("CreateTags", func(ctx context.Context) error {
			tags := bakery.Tags(cfg.SnapshotTags)
			if len(tags) == 0 {
				tags = cfg.AMITags // the copies' tags
			}
			_, err := client.CreateTags(ctx, &ec2.CreateTagsInput{DryRun: dry, Resources: []string{placeholderSnapshot}, Tags: tags.EC2()})
			return err
		})
	}
	checks = append(checks, distributionChecks(client, cfg)...)
	if cfg.IsSpot() {
		checks = append(checks, spotChecks(client, in)...)
	}
	return checks
}

// noRetry: a dry run about a placeholder that the service answers with a
// server error is inconclusive however often it is asked (moto answers
// these two with HTTP 500); retrying only delays the build.
func noRetry(o *ec2.Options) { o.RetryMaxAttempts = 1 }

// spotChecks dry-run the launch template and fleet calls of a spot build.
func spotChecks(client preflightEC2, in preflightInput) []permissionCheck {
	dry := aws.Bool(true)
	tags := in.runTags
	var checks []permissionCheck
	add := func(action string, call func(context.Context) error) {
		checks = append(checks, permissionCheck{action: "ec2:" + action, call: call})
	}
	const placeholderTemplate, placeholderFleet = "lt-00000000000000000", "fleet-00000000-0000-0000-0000-000000000000"
	add("CreateLaunchTemplate", func(ctx context.Context) error {
		_, err := client.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{DryRun: dry, LaunchTemplateName: aws.String(placeholderName),
			LaunchTemplateData: &types.RequestLaunchTemplateData{InstanceType: types.InstanceType(in.cfg.InstanceType)},
			TagSpecifications:  tags.Spec(types.ResourceTypeLaunchTemplate)})
		return err
	})
	add("DeleteLaunchTemplate", func(ctx context.Context) error {
		_, err := client.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{DryRun: dry, LaunchTemplateId: aws.String(placeholderTemplate)})
		return err
	})
	add("DescribeLaunchTemplates", func(ctx context.Context) error {
		_, err := client.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{DryRun: dry})
		return err
	})
	add("CreateFleet", func(ctx context.Context) error {
		_, err := client.CreateFleet(ctx, &ec2.CreateFleetInput{DryRun: dry, Type: types.FleetTypeInstant,
			LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{
				LaunchTemplateId: aws.String(placeholderTemplate), Version: aws.String("$Latest")}}},
			TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{TotalTargetCapacity: aws.Int32(1),
				DefaultTargetCapacityType: types.DefaultTargetCapacityTypeSpot},
			TagSpecifications: tags.Spec(types.ResourceTypeFleet)})
		return err
	})
	add("DeleteFleets", func(ctx context.Context) error {
		_, err := client.DeleteFleets(ctx, &ec2.DeleteFleetsInput{DryRun: dry, FleetIds: []string{placeholderFleet}, TerminateInstances: aws.Bool(true)}, noRetry)
		return err
	})
	add("DescribeFleets", func(ctx context.Context) error {
		_, err := client.DescribeFleets(ctx, &ec2.DescribeFleetsInput{DryRun: dry})
		return err
	})
	return checks
}

// distributionChecks dry-run the calls of copies, sharing and the AMI's
// attributes. They are asked in the build region: IAM judges the action
// the same in every region (the policy's resources name each one).
func distributionChecks(client preflightEC2, cfg *Config) []permissionCheck {
	dist := &cfg.AMIDistributionConfig
	dry := aws.Bool(true)
	var checks []permissionCheck
	add := func(action string, call func(context.Context) error) {
		checks = append(checks, permissionCheck{action: "ec2:" + action, call: call})
	}
	intermediate := dist.AMIEncryptBootVolume.True() || dist.AMISkipBuildRegion
	if intermediate || len(dist.copyRegions(cfg.RawRegion)) > 0 {
		add("CopyImage", func(ctx context.Context) error {
			_, err := client.CopyImage(ctx, &ec2.CopyImageInput{DryRun: dry, Name: aws.String(placeholderName),
				SourceImageId: aws.String(placeholderImage), SourceRegion: aws.String(cfg.RawRegion)})
			return err
		})
	}
	if len(dist.AMIUsers)+len(dist.AMIGroups)+len(dist.AMIOrgArns)+len(dist.AMIOuArns) > 0 || dist.AMIIMDSSupport != "" {
		add("ModifyImageAttribute", func(ctx context.Context) error {
			_, err := client.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{DryRun: dry, ImageId: aws.String(placeholderImage),
				Attribute: aws.String("launchPermission"), OperationType: types.OperationTypeAdd, UserIds: []string{"123456789012"}})
			return err
		})
	}
	if len(dist.SnapshotUsers)+len(dist.SnapshotGroups) > 0 {
		add("ModifySnapshotAttribute", func(ctx context.Context) error {
			_, err := client.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{DryRun: dry, SnapshotId: aws.String(placeholderSnapshot),
				Attribute: types.SnapshotAttributeNameCreateVolumePermission, OperationType: types.OperationTypeAdd, UserIds: []string{"123456789012"}})
			return err
		})
	}
	if dist.DeprecationTime != "" {
		add("EnableImageDeprecation", func(ctx context.Context) error {
			when, _ := time.Parse(time.RFC3339, dist.DeprecationTime)
			_, err := client.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{DryRun: dry, ImageId: aws.String(placeholderImage), DeprecateAt: aws.Time(when)}, noRetry)
			return err
		})
	}
	if dist.AMIENASupport != config.TriUnset || dist.AMISriovNetSupport {
		add("ModifyInstanceAttribute", func(ctx context.Context) error {
			_, err := client.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{DryRun: dry, InstanceId: aws.String(placeholderInstance),
				EnaSupport: &types.AttributeBooleanValue{Value: aws.Bool(true)}})
			return err
		})
	}
	return checks
}

// preflightRunInput is the launch the build will make, as far as it is
// known before anything exists: the source AMI (looked up if given by
// filter), the subnet, groups and key pair only when configured.
func preflightRunInput(ctx context.Context, client preflightEC2, in preflightInput) *ec2.RunInstancesInput {
	cfg := in.cfg
	image := cfg.SourceAMI
	if image == "" {
		image = placeholderImage
		// The same lookup stepSourceAMI then uses, not a second one.
		if img, err := in.source.find(ctx, func(ctx context.Context) (types.Image, error) { return cfg.SourceAMIFilter.Find(ctx, client) }); err == nil {
			image = aws.ToString(img.ImageId)
		}
	}
	run := &ec2.RunInstancesInput{
		DryRun:            aws.Bool(true),
		ImageId:           aws.String(image),
		InstanceType:      types.InstanceType(cfg.InstanceType),
		MinCount:          aws.Int32(1),
		MaxCount:          aws.Int32(1),
		TagSpecifications: append(in.runTags.Spec(types.ResourceTypeInstance), in.volumeTags.Spec(types.ResourceTypeVolume)...),
		// What the launch asks of KMS, dedicated hosts and snapshots.
		BlockDeviceMappings: cfg.LaunchMappings.ec2(true),
		Placement:           cfg.placement(),
	}
	if cfg.SubnetID != "" {
		run.SubnetId = aws.String(cfg.SubnetID)
	}
	if len(cfg.SecurityGroupIDs) > 0 {
		run.SecurityGroupIds = cfg.SecurityGroupIDs
	}
	if cfg.Comm.SSHKeyPairName != "" {
		run.KeyName = aws.String(cfg.Comm.SSHKeyPairName)
	}
	if cfg.IamInstanceProfile != "" {
		// On AWS the dry run also asks for iam:PassRole on its role.
		run.IamInstanceProfile = &types.IamInstanceProfileSpecification{Name: aws.String(cfg.IamInstanceProfile)}
	}
	return run
}
