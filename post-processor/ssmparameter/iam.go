package ssmparameter

import (
	"strings"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// Grants are the IAM permissions publishing needs (what publish.go calls),
// for `iam-policy`: reading and writing this one parameter, in the regions
// it is published in; with `assume_role`, in the role's account (the
// statements then belong to the role's policy).
func (c *Config) Grants() []bakery.Grant {
	param := "parameter/*"
	if bakery.Known(c.Name) {
		// The ARN of /a/b is parameter/a/b; of a flat name, parameter/name.
		param = "parameter/" + strings.TrimPrefix(c.Name, "/")
	}
	g := bakery.Grant{Sid: "PublishParameter", Actions: []string{"ssm:GetParameter", "ssm:PutParameter"},
		Service: "ssm", Resources: []string{param}, Regions: knownRegions(c.Regions), Account: roleAccount(c.AssumeRole.RoleARN)}
	if len(c.Tags) > 0 {
		// PutParameter with tags asks for this too.
		g.Actions = append(g.Actions, "ssm:AddTagsToResource")
	}
	return []bakery.Grant{g}
}

// roleAccount is the account of a role ARN (arn:aws:iam::ACCOUNT:role/…),
// "" when none or unknown.
func roleAccount(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) < 6 || !bakery.Known(arn) {
		return ""
	}
	return parts[4]
}

// knownRegions is regions, or nil (every region of the artifact) when any
// is not known before the build.
func knownRegions(regions []string) []string {
	for _, r := range regions {
		if !bakery.Known(r) {
			return nil
		}
	}
	return regions
}
