package ebs

import (
	"context"
	"slices"
	"sort"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// awsCall is one AWS operation a step may make, declared by the step beside
// the code that makes it. The permission check runs its check; iam-policy
// grants it as its grants say. Nothing else lists the build's calls.
type awsCall struct {
	// action is the operation as IAM names it: "ec2:RunInstances".
	action string
	// check asks AWS whether the credentials may make the call without
	// making it: EC2's DryRun, or for IAM (which has none) a probe of a
	// name that cannot exist. nil when nothing can be asked (IAM creations,
	// KMS, STS).
	check func(context.Context) error
	// grants say how the policy allows it: resources and conditions.
	grants []Grant
	// partOf, when set, names the call during which AWS asks for this
	// action on the build's behalf (iam:PassRole during RunInstances): the
	// build never makes it itself.
	partOf string
}

// declarer is a step that calls AWS. It lists the calls its configuration
// makes it make, and none when it makes none.
type declarer interface {
	awsCalls() []awsCall
}

// Tagging is what a grant requires of the build's tags: its id, and its
// principal (bakery:principal, the holder's own aws:PrincipalArn).
type Tagging int

const (
	// Untagged: no condition on tags.
	Untagged Tagging = iota
	// RequestTagged: the request creates the resource with the build's id
	// tag and the holder as its principal.
	RequestTagged
	// ResourceTagged: the resource carries the build's id tag and the
	// holder as its principal.
	ResourceTagged
	// RequestOwned: the request creates the resource with the holder as its
	// principal, without the build's id: the build's product (the AMI, its
	// snapshots and copies), which outlives the build and which the sweep
	// must never take for a leftover.
	RequestOwned
	// ResourceOwned: the resource carries the holder as its principal,
	// whatever its build id: the build's product as well as its
	// temporaries.
	ResourceOwned
)

// Grant is how the policy allows one action, in the build's terms:
// iampolicy writes it as a statement with the account's ARNs and regions.
// Grants of one Sid become one statement.
type Grant struct {
	Sid    string
	Action string // set from the call
	// EC2 resources ("instance/*", "image/ami-…"), in the build region, or
	// with AMIRegions in every region that holds an AMI of the build.
	EC2        []string
	AMIRegions bool
	// IAM resources ("role/packer_bakery_*").
	IAM []string
	// OwnPrincipal: the holder's own role or user, whatever its name
	// (aws:PrincipalArn as the resource).
	OwnPrincipal bool
	// SSM resources in the build region: "session/*", or an AWS-owned
	// document ("document/AWS-StartPortForwardingSession", whose ARN has no
	// account).
	SSM []string
	// ProfileRole: the role of this existing instance profile (iam:PassRole),
	// which iam-policy reads when it can.
	ProfileRole string
	// KMSKeys as the template names them (ID, ARN, alias), used through EC2 only.
	KMSKeys []string
	// AccountKMSKeys: any KMS key of the account in the build region,
	// called by the build itself (not through a service): a key the build
	// learns only at run time, as Session Manager's session key. Narrow it
	// with Conditions.
	AccountKMSKeys bool
	// AnyResource: "*", for calls IAM cannot limit to a resource; with
	// InBuildRegions, only in the build's regions.
	AnyResource    bool
	InBuildRegions bool

	Tagged        Tagging
	CreateActions []string // ec2:CreateAction: tags only as part of these calls
	TagKeys       []string // aws:TagKeys: only these tag keys may be written
	PassedTo      string   // iam:PassedToService
	ServiceName   string   // iam:AWSServiceName
	// Conditions are further condition blocks, operator → key → values,
	// for keys the fields above do not cover.
	Conditions map[string]map[string][]string

	// BuildTags: this CreateTags, made after the resource exists, writes the
	// build's bakery:* tags. Every other CreateTags outside a create call is
	// kept from writing them (iampolicy), so the holder cannot give a
	// foreign resource the tags the destructive grants ask for. Only on
	// resources no grant deletes (the spot request, which EC2 cannot tag
	// while the fleet creates it).
	BuildTags bool
}

// Permission is one action the build needs, with how the policy grants it
// and whether the permission check asks AWS about it first.
type Permission struct {
	Action  string
	Grants  []Grant
	Checked bool
}

// Permissions are what the build cfg plans needs IAM to allow, in the order
// of the bake: read from the same steps the build runs. cfg must have been
// through Prepare.
func Permissions(cfg *Config) []Permission {
	var out []Permission
	calls := principalCalls()
	if cfg.SkipCredsValidation { // no caller ARN: no principal to look up
		calls = nil
	}
	calls = append(calls, plannedCalls(plan(cfg, planDeps{region: cfg.RawRegion, buildID: "permissions", principal: "permissions", clients: noClients()}))...)
	for _, c := range calls {
		grants := slices.Clone(c.grants)
		for i := range grants {
			grants[i].Action = c.action
		}
		out = append(out, Permission{Action: c.action, Grants: grants, Checked: c.check != nil})
	}
	return out
}

// plannedCalls are the calls every planned step declares, in plan order.
func plannedCalls(steps []multistep.Step) []awsCall {
	var calls []awsCall
	for _, s := range steps {
		if d, ok := s.(declarer); ok {
			calls = append(calls, d.awsCalls()...)
		}
	}
	return calls
}

// Grants the steps share.

// describe: Describe calls cannot be limited to resources; they are limited
// to the build's regions.
func describe(actions ...string) []awsCall {
	out := make([]awsCall, 0, len(actions))
	for _, a := range actions {
		out = append(out, awsCall{action: a, grants: []Grant{{Sid: "Describe", AnyResource: true, InBuildRegions: true}}})
	}
	return out
}

// tagOnCreate lets tags be written only as part of the create call.
func tagOnCreate(createAction string, resources ...string) Grant {
	return Grant{Sid: "TagOnCreate", EC2: resources, CreateActions: []string{createAction}}
}

// knownTagKeys are the keys of tags when every one is known (not a
// variable without a value), else nil: no condition on keys then.
func knownTagKeys(tags bakery.Tags) []string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		if !bakery.Known(k) {
			return nil
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// kmsActions are what EBS needs of a customer managed key to encrypt and
// decrypt volumes and snapshots on the caller's behalf (EC2 creates grants
// for itself). The AWS managed key aws/ebs needs none of them.
var kmsActions = []string{"kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"}

// kmsCalls are the KMS actions EC2 asks for during call when it encrypts
// with keys.
func kmsCalls(call, sid string, amiRegions bool, keys []string) []awsCall {
	if len(keys) == 0 {
		return nil
	}
	keys = slices.Clone(keys)
	sort.Strings(keys)
	keys = slices.Compact(keys)
	var out []awsCall
	for _, a := range kmsActions {
		out = append(out, awsCall{action: a, partOf: call, grants: []Grant{{Sid: sid, KMSKeys: keys, AMIRegions: amiRegions}}})
	}
	return out
}
