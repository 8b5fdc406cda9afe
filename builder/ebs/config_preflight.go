//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type PreflightConfig

package ebs

// PreflightConfig is about the permission check made before the build
// creates anything.
type PreflightConfig struct {
	// Skip the permission check. By default, before anything is created,
	// the build asks EC2 with DryRun whether its credentials may make each
	// call the build will make, all at once, and fails listing every
	// missing permission (amazon-ebs has no such check: it fails at the
	// first refused call, possibly after creating resources).
	// `packer-plugin-bakery iam-policy` writes the policy that passes it;
	// see docs/iam-policy.md.
	SkipPermissionCheck bool `mapstructure:"skip_permission_check" required:"false"`
}
