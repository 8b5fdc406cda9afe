package common

import (
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// TagBuildID is the tag every temporary resource a bake creates (instance,
// volumes, key pair, security group) carries, valued with the build's id, so
// that leftovers can be found and told apart. The AMI and its snapshots, the
// build's product, carry only the user's tags.
const TagBuildID = "bakery:build-id"

// TagCreatedAt (RFC 3339, UTC) and TagCreatedBy (plugin version, user and
// host) go with TagBuildID: how old a leftover is, and whose.
const (
	TagCreatedAt = "bakery:created-at"
	TagCreatedBy = "bakery:created-by"
)

// TagPrincipal holds the principal the build ran as, as IAM's
// aws:PrincipalArn names it (PrincipalARN). The generated policy lets its
// holder change or delete a resource only when this tag equals the
// holder's own aws:PrincipalArn, and create one only with that value: the
// build id alone shows in the key pair's name, so any principal able to tag
// could otherwise mark its resources as a build's and have the holder
// delete them.
const TagPrincipal = "bakery:principal"

// BuildTagKeys are the tags the builder writes itself on what it creates:
// users may not set them.
var BuildTagKeys = []string{TagBuildID, TagCreatedAt, TagCreatedBy, TagPrincipal}

// PrincipalARN is the aws:PrincipalArn of the caller STS's
// GetCallerIdentity names: a role session's is its role's (path-less:
// STS does not say the role's path), anything else's is its ARN. Empty for
// an empty ARN.
func PrincipalARN(callerARN string) string {
	// arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION
	parts := strings.SplitN(callerARN, ":", 6)
	if len(parts) != 6 || parts[2] != "sts" || !strings.HasPrefix(parts[5], "assumed-role/") {
		return callerARN
	}
	role, _, _ := strings.Cut(strings.TrimPrefix(parts[5], "assumed-role/"), "/")
	return strings.Join([]string{"arn", parts[1], "iam", "", parts[4], "role/" + role}, ":")
}

// Tags is a set of tags, as the `tags`, `run_tags`… options give them.
type Tags map[string]string

// Merge returns a new set: t, overridden by each of more in turn.
func (t Tags) Merge(more ...Tags) Tags {
	out := Tags{}
	for _, set := range append([]Tags{t}, more...) {
		for k, v := range set {
			out[k] = v
		}
	}
	return out
}

// EC2 returns the tags sorted by key, so that requests are reproducible.
func (t Tags) EC2() []types.Tag {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]types.Tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(t[k])})
	}
	return out
}

// Spec is a TagSpecification for tagging rt at creation; nil when t is empty
// (EC2 rejects a specification without tags).
func (t Tags) Spec(rt types.ResourceType) []types.TagSpecification {
	if len(t) == 0 {
		return nil
	}
	return []types.TagSpecification{{ResourceType: rt, Tags: t.EC2()}}
}

// SSM returns the tags for SSM (PutParameter), sorted by key; nil when
// empty.
func (t Tags) SSM() []ssmtypes.Tag {
	if len(t) == 0 {
		return nil
	}
	out := make([]ssmtypes.Tag, 0, len(t))
	for _, tag := range t.EC2() {
		out = append(out, ssmtypes.Tag{Key: tag.Key, Value: tag.Value})
	}
	return out
}
