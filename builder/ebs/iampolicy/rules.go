package iampolicy

import (
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"slices"
	"sort"
	"strings"

	"github.com/packer-bakery/packer-plugin-bakery/builder/ebs"
	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// Rule is one row of the table: when the build's configuration has Option,
// it needs Statements. An option that makes the build call AWS is one more
// Rule here; TestEveryCallIsCovered fails until it is.
type Rule struct {
	// Option names what brings the rule in, as users write it ("always"
	// for every build).
	Option string
	// When says whether cfg needs the rule; nil means always.
	When func(cfg *ebs.Config) bool
	// Statements are what the rule grants.
	Statements func(cfg *ebs.Config, s Scope) []Statement
}

// NoPermissionNeeded are calls the build makes that IAM always allows.
var NoPermissionNeeded = []string{"sts:GetCallerIdentity"}

// Condition keys the rules use. Creation requires the build's id tag in the
// request; changing or deleting requires it on the resource, so the policy
// cannot touch anything a build did not create.
var (
	requestTagged  = Conditions{"Null": {"aws:RequestTag/" + bakery.TagBuildID: {"false"}}}
	resourceTagged = Conditions{"Null": {"aws:ResourceTag/" + bakery.TagBuildID: {"false"}}}
)

// regionOnly limits calls to the build's regions; with the region unknown
// (a variable given no value), to none in particular.
// passedToEC2 lets a role be passed to EC2 only.
var passedToEC2 = Conditions{"StringEquals": {"iam:PassedToService": {"ec2.amazonaws.com"}}}

func nameOrAny(name string) string {
	if !bakery.Known(name) {
		return "*"
	}
	return name
}

func regionOnly(s Scope) Conditions {
	if slices.Contains(s.Regions, "*") {
		return nil
	}
	return Conditions{"StringEquals": {"aws:RequestedRegion": s.amiRegions().Regions}}
}

// Rules is the table. Order is the order statements appear in the policy.
var Rules = []Rule{
	{
		Option: "always",
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			// Describe calls cannot be limited to resources; they are
			// limited to the build's regions.
			return []Statement{{
				Sid: "Describe",
				Action: []string{"ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeSecurityGroups",
					"ec2:DescribeSubnets", "ec2:DescribeVpcs"},
				Resource:  []string{"*"},
				Condition: regionOnly(s),
			}}
		},
	},
	{
		Option: "skip_region_validation = false (the default)",
		When:   func(cfg *ebs.Config) bool { return !cfg.SkipRegionValidation },
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			return []Statement{{Sid: "Describe", Action: []string{"ec2:DescribeRegions"}, Resource: []string{"*"}, Condition: regionOnly(s)}}
		},
	},
	{
		Option: "always",
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			return []Statement{
				{
					// The instance and its volumes are created with the
					// build's tags, and only so.
					Sid:       "LaunchTaggedInstance",
					Action:    []string{"ec2:RunInstances"},
					Resource:  s.ec2ARNs("instance/*", "volume/*"),
					Condition: requestTagged,
				},
				{
					// What the instance is launched from and into; these
					// resources carry no request tags.
					Sid:      "LaunchFrom",
					Action:   []string{"ec2:RunInstances"},
					Resource: s.ec2ARNs(launchResources(cfg)...),
				},
				{
					// Tags can be written only as part of a create call.
					Sid:       "TagOnCreate",
					Action:    []string{"ec2:CreateTags"},
					Resource:  s.ec2ARNs(tagOnCreateResources(cfg)...),
					Condition: Conditions{"StringEquals": {"ec2:CreateAction": createActions(cfg)}},
				},
				{
					Sid:       "TerminateOwnInstance",
					Action:    []string{"ec2:TerminateInstances"},
					Resource:  s.ec2ARNs("instance/*"),
					Condition: resourceTagged,
				},
				{
					Sid:       "ImageFromOwnInstance",
					Action:    []string{"ec2:CreateImage"},
					Resource:  s.ec2ARNs("instance/*"),
					Condition: resourceTagged,
				},
				{
					Sid:      "CreateImage",
					Action:   []string{"ec2:CreateImage"},
					Resource: s.ec2ARNs("image/*", "snapshot/*"),
				},
				{
					// A failed build removes the AMI it started, and
					// force_deregister the same-named one. The AMI carries
					// only the user's tags, so this cannot be conditioned on
					// the build's; EC2 lets only the owner deregister.
					Sid:      "RemoveImage",
					Action:   []string{"ec2:DeregisterImage", "ec2:DeleteSnapshot"},
					Resource: s.amiRegions().ec2ARNs("image/*", "snapshot/*"),
				},
			}
		},
	},
	{
		Option: "disable_stop_instance = false (the default)",
		// A spot instance of an instant fleet is never stopped.
		When: func(cfg *ebs.Config) bool { return !cfg.DisableStopInstance && !cfg.IsSpot() },
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			return []Statement{{Sid: "StopOwnInstance", Action: []string{"ec2:StopInstances"}, Resource: s.ec2ARNs("instance/*"), Condition: resourceTagged}}
		},
	},
	{
		Option: "spot_price",
		When:   func(cfg *ebs.Config) bool { return cfg.IsSpot() },
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			// The instance is launched by an instant EC2 Fleet from a
			// launch template, both the build's own and tagged; EC2 then
			// asks for RunInstances as for an on-demand launch.
			return []Statement{
				{Sid: "CreateTaggedSpotFleet", Action: []string{"ec2:CreateLaunchTemplate", "ec2:CreateFleet"},
					Resource: s.ec2ARNs("launch-template/*", "fleet/*"), Condition: requestTagged},
				{Sid: "UseOwnLaunchTemplate", Action: []string{"ec2:CreateFleet", "ec2:DeleteLaunchTemplate"},
					Resource: s.ec2ARNs("launch-template/*"), Condition: resourceTagged},
				{Sid: "DeleteOwnFleet", Action: []string{"ec2:DeleteFleets"}, Resource: s.ec2ARNs("fleet/*"), Condition: resourceTagged},
				{Sid: "LaunchSpotFromFleet", Action: []string{"ec2:CreateFleet"},
					Resource: s.ec2ARNs("instance/*", "volume/*", "network-interface/*", "subnet/*", "security-group/*", "key-pair/*", "image/*", "spot-instances-request/*")},
				// The spot request is tagged once EC2 shows it.
				{Sid: "TagOwnSpotRequest", Action: []string{"ec2:CreateTags"}, Resource: s.ec2ARNs("spot-instances-request/*"),
					Condition: Conditions{"ForAllValues:StringEquals": {"aws:TagKeys": spotTagKeys(cfg)}}},
				{Sid: "Describe", Action: []string{"ec2:DescribeFleets", "ec2:DescribeLaunchTemplates"}, Resource: []string{"*"}, Condition: regionOnly(s)},
				// EC2 Spot's service-linked role, made by the first spot
				// request of an account.
				{Sid: "SpotServiceLinkedRole", Action: []string{"iam:CreateServiceLinkedRole"},
					Resource:  []string{s.iamARN("role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot")},
					Condition: Conditions{"StringEquals": {"iam:AWSServiceName": {"spot.amazonaws.com"}}}},
			}
		},
	},
	{
		Option: "launch_block_device_mappings or ami_block_device_mappings with kms_key_id",
		When:   func(cfg *ebs.Config) bool { return len(volumeKeys(cfg)) > 0 },
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			return kmsStatements("UseVolumeKeys", volumeKeys(cfg), s)
		},
	},
	{
		Option: "no ssh_keypair_name, ssh_private_key_file, ssh_password or ssh_agent_auth (temporary key pair)",
		When:   temporaryKeyPair,
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			return []Statement{
				{Sid: "ImportTaggedKeyPair", Action: []string{"ec2:ImportKeyPair"}, Resource: s.ec2ARNs("key-pair/*"), Condition: requestTagged},
				{Sid: "DeleteOwnKeyPair", Action: []string{"ec2:DeleteKeyPair"}, Resource: s.ec2ARNs("key-pair/*"), Condition: resourceTagged},
				// A retry after a lost reply checks the pair it meets.
				{Sid: "Describe", Action: []string{"ec2:DescribeKeyPairs"}, Resource: []string{"*"}, Condition: regionOnly(s)},
			}
		},
	},
	{
		Option: "no security_group_ids or security_group_filter (temporary security group)",
		When:   ebs.UsesTemporarySecurityGroup,
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			vpc := "vpc/*"
			if cfg.VpcID != "" && bakery.Known(cfg.VpcID) {
				vpc = "vpc/" + cfg.VpcID
			}
			return []Statement{
				{Sid: "CreateTaggedSecurityGroup", Action: []string{"ec2:CreateSecurityGroup"}, Resource: s.ec2ARNs("security-group/*"), Condition: requestTagged},
				{Sid: "CreateSecurityGroupInVpc", Action: []string{"ec2:CreateSecurityGroup"}, Resource: s.ec2ARNs(vpc)},
				{Sid: "ChangeOwnSecurityGroup", Action: []string{"ec2:AuthorizeSecurityGroupIngress", "ec2:DeleteSecurityGroup"},
					Resource: s.ec2ARNs("security-group/*"), Condition: resourceTagged},
			}
		},
	},
	{
		Option: "iam_instance_profile",
		When:   func(cfg *ebs.Config) bool { return cfg.IamInstanceProfile != "" },
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			// EC2 takes the profile; IAM asks the caller to pass its role.
			// The role is the profile's, known only by reading it: the
			// subcommand does when it can (Scope.ProfileRoles).
			role := "role/*"
			if r, ok := s.ProfileRoles[cfg.IamInstanceProfile]; ok && r != "" {
				role = "role/" + r
			}
			out := []Statement{{Sid: "PassInstanceProfileRole", Action: []string{"iam:PassRole"}, Resource: []string{s.iamARN(role)},
				Condition: passedToEC2}}
			if !cfg.SkipProfileValidation {
				out = append(out, Statement{Sid: "ReadInstanceProfile", Action: []string{"iam:GetInstanceProfile"},
					Resource: []string{s.iamARN("instance-profile/" + nameOrAny(cfg.IamInstanceProfile))}})
			}
			return out
		},
	},
	{
		Option: "temporary_iam_instance_profile_policy_document",
		When:   func(cfg *ebs.Config) bool { return cfg.TemporaryIamInstanceProfilePolicyDocument != nil },
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			// Role, inline policy and profile are all named
			// packer_bakery_<build id>: nothing else can be touched.
			role, profile := s.iamARN("role/packer_bakery_*"), s.iamARN("instance-profile/packer_bakery_*")
			return []Statement{
				{Sid: "CreateTaggedBuildRole", Action: []string{"iam:CreateRole", "iam:TagRole"}, Resource: []string{role}, Condition: requestTagged},
				{Sid: "CreateTaggedBuildProfile", Action: []string{"iam:CreateInstanceProfile", "iam:TagInstanceProfile"}, Resource: []string{profile}, Condition: requestTagged},
				{Sid: "ChangeOwnBuildRole", Action: []string{"iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:DeleteRole"}, Resource: []string{role}, Condition: resourceTagged},
				{Sid: "ChangeOwnBuildProfile", Action: []string{"iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"},
					Resource: []string{profile}, Condition: resourceTagged},
				{Sid: "ReadBuildRoleAndProfile", Action: []string{"iam:GetRole", "iam:GetInstanceProfile"}, Resource: []string{role, profile}},
				{Sid: "PassBuildRole", Action: []string{"iam:PassRole"}, Resource: []string{role}, Condition: passedToEC2},
			}
		},
	},
	{
		Option: "ami_regions, encrypt_boot, skip_save_build_region",
		When:   copiesImage,
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			all := s.amiRegions()
			out := []Statement{{Sid: "CopyImage", Action: []string{"ec2:CopyImage"}, Resource: all.ec2ARNs("image/*", "snapshot/*")}}
			if len(cfg.AMITags) > 0 {
				// Copies are tagged after CopyImage, with `tags` only.
				st := Statement{Sid: "TagCopies", Action: []string{"ec2:CreateTags"}, Resource: all.ec2ARNs("image/*")}
				if keys := knownKeys(cfg.AMITags); len(keys) == len(cfg.AMITags) {
					st.Condition = Conditions{"ForAllValues:StringEquals": {"aws:TagKeys": keys}}
				}
				out = append(out, st)
			}
			return out
		},
	},
	{
		Option: "kms_key_id, region_kms_key_ids (with encrypt_boot)",
		When:   func(cfg *ebs.Config) bool { return len(imageKeys(cfg)) > 0 },
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			return kmsStatements("UseImageKeys", imageKeys(cfg), s.amiRegions())
		},
	},
	{
		Option: "ami_users, ami_groups, ami_org_arns, ami_ou_arns, imds_support",
		When: func(cfg *ebs.Config) bool {
			return len(cfg.AMIUsers)+len(cfg.AMIGroups)+len(cfg.AMIOrgArns)+len(cfg.AMIOuArns) > 0 || cfg.AMIIMDSSupport != ""
		},
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			return []Statement{{Sid: "SetImageAttributes", Action: []string{"ec2:ModifyImageAttribute"}, Resource: s.amiRegions().ec2ARNs("image/*")}}
		},
	},
	{
		Option: "snapshot_users, snapshot_groups",
		When:   func(cfg *ebs.Config) bool { return len(cfg.SnapshotUsers)+len(cfg.SnapshotGroups) > 0 },
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			return []Statement{{Sid: "ShareSnapshots", Action: []string{"ec2:ModifySnapshotAttribute"}, Resource: s.amiRegions().ec2ARNs("snapshot/*")}}
		},
	},
	{
		Option: "deprecate_at",
		When:   func(cfg *ebs.Config) bool { return cfg.DeprecationTime != "" },
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			return []Statement{{Sid: "DeprecateImages", Action: []string{"ec2:EnableImageDeprecation"}, Resource: s.amiRegions().ec2ARNs("image/*")}}
		},
	},
	{
		Option: "ena_support, sriov_support",
		When:   func(cfg *ebs.Config) bool { return cfg.AMIENASupport != config.TriUnset || cfg.AMISriovNetSupport },
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			return []Statement{{Sid: "SetOwnInstanceAttributes", Action: []string{"ec2:ModifyInstanceAttribute"}, Resource: s.ec2ARNs("instance/*"), Condition: resourceTagged}}
		},
	},
	{
		Option: "snapshot_tags",
		When:   func(cfg *ebs.Config) bool { return len(cfg.SnapshotTags) > 0 },
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			st := Statement{Sid: "TagSnapshots", Action: []string{"ec2:CreateTags"}, Resource: s.amiRegions().ec2ARNs("snapshot/*")}
			if keys := knownKeys(cfg.SnapshotTags); len(keys) == len(cfg.SnapshotTags) {
				// Only the configured tag keys may be written.
				st.Condition = Conditions{"ForAllValues:StringEquals": {"aws:TagKeys": keys}}
			}
			return []Statement{st}
		},
	},
	{
		Option: "decode_authorization_messages",
		When:   func(cfg *ebs.Config) bool { return cfg.DecodeAuthzMessages },
		Statements: func(cfg *ebs.Config, s Scope) []Statement {
			return []Statement{{Sid: "DecodeAuthorizationMessages", Action: []string{"sts:DecodeAuthorizationMessage"}, Resource: []string{"*"}}}
		},
	},
}

// temporaryKeyPair: the build imports a key pair of its own only when the
// template brings no way in.
func temporaryKeyPair(cfg *ebs.Config) bool { return ebs.UsesTemporaryKeyPair(cfg) }

// launchResources are the resources RunInstances names besides the instance
// and its volumes: as narrow as the configuration allows.
func launchResources(cfg *ebs.Config) []string {
	res := []string{"network-interface/*"}
	if cfg.SourceAMI != "" && bakery.Known(cfg.SourceAMI) {
		res = append(res, "image/"+cfg.SourceAMI)
	} else {
		res = append(res, "image/*")
	}
	if cfg.SubnetID != "" && bakery.Known(cfg.SubnetID) {
		res = append(res, "subnet/"+cfg.SubnetID)
	} else {
		res = append(res, "subnet/*")
	}
	groups := []string{"security-group/*"}
	if len(cfg.SecurityGroupIDs) > 0 {
		groups = nil
		for _, id := range cfg.SecurityGroupIDs {
			if !bakery.Known(id) {
				groups = []string{"security-group/*"}
				break
			}
			groups = append(groups, "security-group/"+id)
		}
	}
	res = append(res, groups...)
	for _, b := range cfg.LaunchMappings {
		switch {
		case b.SnapshotId == "":
		case bakery.Known(b.SnapshotId):
			res = append(res, "snapshot/"+b.SnapshotId)
		default:
			res = append(res, "snapshot/*")
		}
	}
	switch h := cfg.Placement.HostId; {
	case h == "":
	case bakery.Known(h):
		res = append(res, "dedicated-host/"+h)
	default:
		res = append(res, "dedicated-host/*")
	}
	switch {
	case cfg.Comm.SSHKeyPairName != "" && bakery.Known(cfg.Comm.SSHKeyPairName):
		res = append(res, "key-pair/"+cfg.Comm.SSHKeyPairName)
	case cfg.Comm.SSHKeyPairName != "" || temporaryKeyPair(cfg):
		res = append(res, "key-pair/*")
	}
	return res
}

func tagOnCreateResources(cfg *ebs.Config) []string {
	res := []string{"instance/*", "volume/*"}
	if cfg.IsSpot() {
		res = append(res, "launch-template/*", "fleet/*", "spot-instances-request/*")
	}
	if len(cfg.AMITags) > 0 || intermediateImage(cfg) {
		res = append(res, "image/*")
	}
	if temporaryKeyPair(cfg) {
		res = append(res, "key-pair/*")
	}
	if ebs.UsesTemporarySecurityGroup(cfg) {
		res = append(res, "security-group/*")
	}
	return res
}

// spotTagKeys are the tag keys of the spot request: spot_tags and the
// build's own.
func spotTagKeys(cfg *ebs.Config) []string {
	keys := []string{bakery.TagBuildID, bakery.TagCreatedAt, bakery.TagCreatedBy}
	for _, k := range knownKeys(cfg.SpotTags) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func createActions(cfg *ebs.Config) []string {
	acts := []string{"RunInstances"}
	if cfg.IsSpot() {
		acts = append(acts, "CreateFleet", "CreateLaunchTemplate")
	}
	if len(cfg.AMITags) > 0 || intermediateImage(cfg) {
		acts = append(acts, "CreateImage")
	}
	if temporaryKeyPair(cfg) {
		acts = append(acts, "ImportKeyPair")
	}
	if ebs.UsesTemporarySecurityGroup(cfg) {
		acts = append(acts, "CreateSecurityGroup")
	}
	sort.Strings(acts)
	return acts
}

func knownKeys(m map[string]string) []string {
	var keys []string
	for k := range m {
		if bakery.Known(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// volumeKeys are the KMS keys the build's volumes are encrypted with, as
// the template names them (ID, ARN, alias or alias ARN).
func volumeKeys(cfg *ebs.Config) []string {
	var keys []string
	for _, b := range append(append(ebs.BlockDevices{}, cfg.LaunchMappings...), cfg.AMIMappings...) {
		if b.KmsKeyId != "" && !slices.Contains(keys, b.KmsKeyId) {
			keys = append(keys, b.KmsKeyId)
		}
	}
	sort.Strings(keys)
	return keys
}

// kmsActions are what EBS needs of a customer managed key to encrypt and
// decrypt volumes and snapshots on the caller's behalf (EC2 creates grants
// for itself). The AWS managed key aws/ebs needs none of them.
var kmsActions = []string{"kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"}

// kmsStatements allow kmsActions on exactly keys, only through EC2: a key
// named by ID or ARN is its ARN; one named by alias is any key carrying
// that alias (kms:ResourceAliases). An unknown key is any key, still only
// through EC2.
func kmsStatements(sid string, keys []string, s Scope) []Statement {
	var arns, aliases []string
	any := false
	for _, k := range keys {
		switch {
		case !bakery.Known(k):
			any = true
		case strings.HasPrefix(k, "arn:") && strings.Contains(k, ":alias/"):
			aliases = append(aliases, k[strings.Index(k, ":alias/")+1:])
		case strings.HasPrefix(k, "arn:"):
			arns = append(arns, k)
		case strings.HasPrefix(k, "alias/"):
			aliases = append(aliases, k)
		default:
			for _, r := range s.Regions {
				arns = append(arns, fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", s.Partition, r, s.Account, k))
			}
		}
	}
	var via []string
	for _, r := range s.Regions {
		via = append(via, "ec2."+r+".amazonaws.com")
	}
	viaEC2 := func() Conditions { return Conditions{"StringEquals": {"kms:ViaService": via}} }
	if slices.Contains(s.Regions, "*") {
		viaEC2 = func() Conditions { return Conditions{"StringLike": {"kms:ViaService": {"ec2.*.amazonaws.com"}}} }
	}
	var out []Statement
	if any {
		return []Statement{{Sid: sid, Action: kmsActions, Resource: kmsKeyARNs(s, "*"), Condition: viaEC2()}}
	}
	if len(arns) > 0 {
		out = append(out, Statement{Sid: sid, Action: kmsActions, Resource: arns, Condition: viaEC2()})
	}
	if len(aliases) > 0 {
		c := viaEC2()
		c["ForAnyValue:StringEquals"] = map[string][]string{"kms:ResourceAliases": aliases}
		out = append(out, Statement{Sid: sid + "ByAlias", Action: kmsActions, Resource: kmsKeyARNs(s, "*"), Condition: c})
	}
	return out
}

func kmsKeyARNs(s Scope, id string) []string {
	var out []string
	for _, r := range s.Regions {
		out = append(out, fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", s.Partition, r, s.Account, id))
	}
	return out
}

// copiesImage: the build copies its AMI, to other regions or (encrypted)
// within its own.
func copiesImage(cfg *ebs.Config) bool {
	for _, r := range cfg.AMIRegions {
		if r != cfg.RawRegion {
			return true
		}
	}
	return intermediateImage(cfg)
}

// intermediateImage: CreateImage makes a temporary AMI, tagged as the
// build's, that a copy replaces.
func intermediateImage(cfg *ebs.Config) bool {
	return cfg.AMIEncryptBootVolume.True() || cfg.AMISkipBuildRegion
}

// imageKeys are the KMS keys the AMI and its copies are encrypted with.
func imageKeys(cfg *ebs.Config) []string {
	if !cfg.AMIEncryptBootVolume.True() {
		return nil
	}
	var keys []string
	if cfg.AMIKmsKeyId != "" {
		keys = append(keys, cfg.AMIKmsKeyId)
	}
	for _, k := range cfg.AMIRegionKMSKeyIDs {
		if k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
