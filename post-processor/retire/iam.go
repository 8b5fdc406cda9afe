package retire

import (
	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// Grants are the IAM permissions retiring needs (what retire.go calls), for
// `iam-policy`: reading the AMIs, instances and launch templates of the
// regions (and the SSM parameters a launch template's `resolve:ssm:` names),
// and, unless `dry_run`, deregistering or deprecating AMIs that carry the
// family's `tags` and deleting snapshots.
//
// Unlike the builder's removals, these do not require bakery:principal on
// the AMI: a family's releases made by amazon-ebs before a migration (or
// by another tool) lack it, and would no longer be retired; and releases are often retired
// by other credentials than baked them. The family's tags bound the
// deregistration instead (docs/post-processors/retire.mdx).
func (c *Config) Grants() []bakery.Grant {
	regions := c.Regions
	for _, r := range regions {
		if !bakery.Known(r) {
			regions = nil
			break
		}
	}
	out := []bakery.Grant{
		{Sid: "RetireDescribe", Actions: []string{"ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeLaunchTemplateVersions"},
			Service: "ec2", Resources: []string{"*"}, Regions: regions},
		// Any parameter: a launch template may name any.
		{Sid: "RetireReadTemplateParameters", Actions: []string{"ssm:GetParameter"}, Service: "ssm", Resources: []string{"parameter/*"}, Regions: regions},
	}
	if c.DryRun {
		return out
	}
	var tags map[string]string
	for k, v := range c.Tags {
		if bakery.Known(k) && bakery.Known(v) {
			if tags == nil {
				tags = map[string]string{}
			}
			tags[k] = v
		}
	}
	if c.Deprecate {
		return append(out, bakery.Grant{Sid: "RetireDeprecateFamily", Actions: []string{"ec2:EnableImageDeprecation"},
			Service: "ec2", Resources: []string{"image/*"}, Regions: regions, ResourceTags: tags})
	}
	return append(out,
		bakery.Grant{Sid: "RetireDeregisterFamily", Actions: []string{"ec2:DeregisterImage"},
			Service: "ec2", Resources: []string{"image/*"}, Regions: regions, ResourceTags: tags},
		// Snapshots carry the tags of `snapshot_tags`, not the AMI's: they
		// are limited to the regions only.
		bakery.Grant{Sid: "RetireDeleteSnapshots", Actions: []string{"ec2:DeleteSnapshot"},
			Service: "ec2", Resources: []string{"snapshot/*"}, Regions: regions},
	)
}
