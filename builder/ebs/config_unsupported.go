// No struct-markdown: these options are documented by the list at the end
// of docs/builders/ebs.mdx, which a test keeps in step with unsupportedOptions.
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type UnsupportedConfig,UnsupportedDeregistrationProtection,UnsupportedFastLaunch,UnsupportedFastLaunchTemplate,UnsupportedLicenseSpecification,UnsupportedLicenseRequest,UnsupportedVaultAWSEngine

package ebs

import (
	"fmt"
	"reflect"
	"strings"
)

// UnsupportedConfig holds the amazon-ebs options bakery-ebs deliberately
// does not support. They are accepted by the HCL decoder only so that
// Prepare can say why each is refused and what to use instead, rather than
// HCL's bare "Unsupported argument". Setting any of them, to any value,
// fails validation.
type UnsupportedConfig struct {
	// amazon-ebs's `ami_product_codes`: refused, with the reason in unsupportedOptions.
	AMIProductCodes []string `mapstructure:"ami_product_codes" required:"false"`
	// amazon-ebs's `block_duration_minutes`: refused, with the reason in unsupportedOptions.
	BlockDurationMinutes *int64 `mapstructure:"block_duration_minutes" required:"false"`
	// amazon-ebs's `capacity_reservation_preference`: refused, with the reason in unsupportedOptions.
	CapacityReservationPreference *string `mapstructure:"capacity_reservation_preference" required:"false"`
	// amazon-ebs's `capacity_reservation_id`: refused, with the reason in unsupportedOptions.
	CapacityReservationID *string `mapstructure:"capacity_reservation_id" required:"false"`
	// amazon-ebs's `capacity_reservation_group_arn`: refused, with the reason in unsupportedOptions.
	CapacityReservationGroupArn *string `mapstructure:"capacity_reservation_group_arn" required:"false"`
	// amazon-ebs's `deregistration_protection`: refused, with the reason in unsupportedOptions.
	DeregistrationProtection *UnsupportedDeregistrationProtection `mapstructure:"deregistration_protection" required:"false"`
	// amazon-ebs's `enable_nitro_enclave`: refused, with the reason in unsupportedOptions.
	EnableNitroEnclave *bool `mapstructure:"enable_nitro_enclave" required:"false"`
	// amazon-ebs's `fast_launch`: refused, with the reason in unsupportedOptions.
	FastLaunch *UnsupportedFastLaunch `mapstructure:"fast_launch" required:"false"`
	// amazon-ebs's `license_specifications`: refused, with the reason in unsupportedOptions.
	LicenseSpecifications []UnsupportedLicenseSpecification `mapstructure:"license_specifications" required:"false"`
	// amazon-ebs's `skip_ami_run_tags`: refused, with the reason in unsupportedOptions.
	SkipAMIRunTags *bool `mapstructure:"skip_ami_run_tags" required:"false"`
	// amazon-ebs's `snapshot_copy_duration_minutes`: refused, with the reason in unsupportedOptions.
	SnapshotCopyDurationMinutes *int64 `mapstructure:"snapshot_copy_duration_minutes" required:"false"`
	// amazon-ebs's `vault_aws_engine`: refused, with the reason in unsupportedOptions.
	VaultAWSEngine *UnsupportedVaultAWSEngine `mapstructure:"vault_aws_engine" required:"false"`
	// amazon-ebs's `windows_password_timeout`: refused, with the reason in unsupportedOptions.
	WindowsPasswordTimeout *string `mapstructure:"windows_password_timeout" required:"false"`
}

// The nested blocks below mirror amazon-ebs's attribute names only so that
// a migrated template decodes far enough to get the message that explains.

// UnsupportedDeregistrationProtection is amazon-ebs's `deregistration_protection` block.
type UnsupportedDeregistrationProtection struct {
	Enabled      bool `mapstructure:"enabled"`
	WithCooldown bool `mapstructure:"with_cooldown"`
}

// UnsupportedFastLaunchTemplate is one of `fast_launch`'s `region_launch_templates`.
type UnsupportedFastLaunchTemplate struct {
	EnableFastLaunch      *bool  `mapstructure:"enable_fast_launch"`
	Region                string `mapstructure:"region"`
	LaunchTemplateID      string `mapstructure:"template_id"`
	LaunchTemplateName    string `mapstructure:"template_name"`
	LaunchTemplateVersion int    `mapstructure:"template_version"`
}

// UnsupportedFastLaunch is amazon-ebs's `fast_launch` block.
type UnsupportedFastLaunch struct {
	EnableFastLaunch      bool                            `mapstructure:"enable_fast_launch"`
	LaunchTemplateID      string                          `mapstructure:"template_id"`
	LaunchTemplateName    string                          `mapstructure:"template_name"`
	LaunchTemplateVersion int                             `mapstructure:"template_version"`
	RegionLaunchTemplates []UnsupportedFastLaunchTemplate `mapstructure:"region_launch_templates"`
	MaxParallelLaunches   int                             `mapstructure:"max_parallel_launches"`
	TargetResourceCount   int                             `mapstructure:"target_resource_count"`
}

// UnsupportedLicenseRequest is `license_configuration_request`.
type UnsupportedLicenseRequest struct {
	LicenseConfigurationArn string `mapstructure:"license_configuration_arn"`
}

// UnsupportedLicenseSpecification is one `license_specifications` block.
type UnsupportedLicenseSpecification struct {
	LicenseConfigurationRequest UnsupportedLicenseRequest `mapstructure:"license_configuration_request"`
}

// UnsupportedVaultAWSEngine is amazon-ebs's `vault_aws_engine` block.
type UnsupportedVaultAWSEngine struct {
	Name       string `mapstructure:"name"`
	RoleARN    string `mapstructure:"role_arn"`
	TTL        string `mapstructure:"ttl"`
	EngineName string `mapstructure:"engine_name"`
}

// unsupportedOptions says, for every field of UnsupportedConfig, why
// bakery-ebs refuses it and what to do instead. The docs' list and the
// validation message both come from here; a test checks they agree with
// the struct.
var unsupportedOptions = []struct{ Name, Why string }{
	{"ami_product_codes", "product codes come from an AWS Marketplace seller registration; attach one after the build with `aws ec2 modify-image-attribute --product-codes`"},
	{"block_duration_minutes", "AWS discontinued Spot blocks (defined-duration Spot Instances) at the end of 2022; remove it"},
	{"capacity_reservation_preference", "the build instance uses EC2's default, `open`: it runs in a matching open Capacity Reservation if there is one; choosing or targeting a reservation is not supported"},
	{"capacity_reservation_id", "targeting a Capacity Reservation is not supported; the build instance uses a matching open reservation if there is one"},
	{"capacity_reservation_group_arn", "targeting a Capacity Reservation group is not supported; the build instance uses a matching open reservation if there is one"},
	{"deregistration_protection", "turn it on once the AMI is tested, with `aws ec2 enable-image-deregistration-protection --image-id …`; on a fresh AMI it would also stop `force_deregister` from replacing it"},
	{"enable_nitro_enclave", "the build instance has no use for a Nitro Enclave: enclaves are a launch setting of the instances you start from the AMI"},
	{"fast_launch", "Windows fast launch is not supported; enable it on the finished AMI with `aws ec2 enable-fast-launch --image-id …`"},
	{"license_specifications", "License Manager configurations are not supported; associate the AMI with one in License Manager after the build"},
	{"skip_ami_run_tags", "bakery-ebs never copies `run_tags` to the AMI, which `false` asks for (as amazon-ebs's default does); put the tags the AMI needs in `tags` and remove it (`true` is accepted)"},
	{"snapshot_copy_duration_minutes", "time-based AMI copies are not supported; copies to `ami_regions` complete as fast as EC2 manages"},
	{"vault_aws_engine", "credentials from Vault are not read by the plugin; give them through a `profile` whose `credential_process` asks Vault, or through AWS_* environment variables"},
	{"windows_password_timeout", "bakery-ebs does not fetch the Windows Administrator password; set `winrm_password` to one your `user_data` sets"},
}

// asksNothing lists the options whose value here asks for nothing
// bakery-ebs does not do anyway (the "off" value a template may spell out,
// or amazon-ebs's behaviour that is also ours): those are accepted. Any
// other value is refused, so that nothing the template asks for is
// silently dropped.
var asksNothing = map[string]func(u *UnsupportedConfig) bool{
	"block_duration_minutes":         func(u *UnsupportedConfig) bool { return *u.BlockDurationMinutes == 0 },
	"snapshot_copy_duration_minutes": func(u *UnsupportedConfig) bool { return *u.SnapshotCopyDurationMinutes == 0 },
	"enable_nitro_enclave":           func(u *UnsupportedConfig) bool { return !*u.EnableNitroEnclave },
	"deregistration_protection": func(u *UnsupportedConfig) bool {
		return !u.DeregistrationProtection.Enabled && !u.DeregistrationProtection.WithCooldown
	},
	"fast_launch": func(u *UnsupportedConfig) bool { return !u.FastLaunch.EnableFastLaunch },
	// bakery-ebs never copies run_tags to the AMI: what `true` asks for.
	"skip_ami_run_tags": func(u *UnsupportedConfig) bool { return *u.SkipAMIRunTags },
}

// prepare refuses every option that was set, whatever its value (false and
// 0 included: the template says something bakery-ebs would not do), but
// for the values asksNothing accepts.
func (u *UnsupportedConfig) prepare() []error {
	why := map[string]string{}
	for _, o := range unsupportedOptions {
		why[o.Name] = o.Why
	}
	var errs []error
	v := reflect.ValueOf(u).Elem()
	for i := 0; i < v.NumField(); i++ {
		// HCL hands over an absent list of blocks as an empty list; an
		// empty list sets nothing, so it is not refused either.
		f := v.Field(i)
		if f.IsZero() || (f.Kind() == reflect.Slice && f.Len() == 0) {
			continue
		}
		name := mapstructureName(v.Type().Field(i))
		if ok := asksNothing[name]; ok != nil && ok(u) {
			continue
		}
		errs = append(errs, fmt.Errorf("`%s` is not supported by bakery-ebs: %s", name, why[name]))
	}
	return errs
}

func mapstructureName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
	return name
}
