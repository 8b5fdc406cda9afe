//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type InstanceConfig,MetadataOptions,Placement

package ebs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// InstanceConfig is how the build instance is launched and stopped, and
// which volumes it and the AMI get.
type InstanceConfig struct {
	// User data for the build instance, e.g. a cloud-init script. The
	// plugin base64-encodes it. At most 16 KiB. Conflicts with
	// `user_data_file`.
	UserData string `mapstructure:"user_data" required:"false"`
	// A file whose content is the build instance's user data. It is read
	// when the template is validated, so it must exist then. Conflicts with
	// `user_data`.
	UserDataFile string `mapstructure:"user_data_file" required:"false"`
	// The instance metadata service (IMDS) settings of the build instance.
	// Unlike amazon-ebs, which leaves IMDSv1 on, the default is
	// `http_tokens = "required"`: only IMDSv2 session tokens are accepted,
	// which closes the SSRF route to the instance's credentials. Set
	// `http_tokens = "optional"` for a source AMI whose software still
	// speaks IMDSv1 only.
	MetadataOptions MetadataOptions `mapstructure:"metadata_options" required:"false"`
	// Launch the build instance EBS-optimized. Only some instance types
	// support it (most current ones are EBS-optimized anyway).
	EbsOptimized bool `mapstructure:"ebs_optimized" required:"false"`
	// Launch a burstable instance (t2, t3, t3a, t4g) in unlimited credit
	// mode, so a long provisioning run is not throttled. Other types have
	// no credits: setting it for them is an error.
	EnableUnlimitedCredits bool `mapstructure:"enable_unlimited_credits" required:"false"`
	// What a shutdown from inside the instance does: `stop` (EC2's default)
	// or `terminate`. The builder itself stops the instance through the EC2
	// API, which this does not affect.
	InstanceInitiatedShutdownBehavior string `mapstructure:"shutdown_behavior" required:"false"`
	// Do not call StopInstances after provisioning: the last provisioner
	// must stop the instance itself (e.g. Windows sysprep with a shutdown,
	// or `shutdown -h now` with `shutdown_behavior = "stop"`). The builder
	// then waits, up to `state_timeout`, for the instance to be stopped
	// before it creates the AMI; an instance that terminates instead fails
	// the build. As in amazon-ebs.
	DisableStopInstance bool `mapstructure:"disable_stop_instance" required:"false"`
	// Where the build instance runs: shared, dedicated or on a Dedicated
	// Host.
	Placement Placement `mapstructure:"placement" required:"false"`
	// Deprecated: use `placement { tenancy = ... }`. Accepted, with a
	// warning, for templates written for amazon-ebs.
	Tenancy string `mapstructure:"tenancy" required:"false"`
	// Instance types to launch instead, in this order, when EC2 has no
	// capacity for `instance_type` (it answers `InsufficientInstanceCapacity`,
	// or `Unsupported` for a type the zone does not offer). Every attempt
	// is tagged, journalled and cleaned up like the first. Not with
	// `spot_price`: list a spot instance's types in `spot_instance_types`.
	FallbackInstanceTypes []string `mapstructure:"fallback_instance_types" required:"false"`
	// When EC2 has no capacity in the chosen subnet, try the other
	// available subnets of its VPC (in subnet ID order) before the next
	// type of `fallback_instance_types`. Not with `availability_zone`,
	// which pins the zone. Default `false`.
	FallbackSubnets bool `mapstructure:"fallback_subnets" required:"false"`
	// Volumes of the build instance, overriding or adding to the source
	// AMI's mappings, e.g. a bigger root volume. Unlike amazon-ebs,
	// `delete_on_termination` defaults to `true` here. The AMI maps these
	// volumes too (CreateImage takes the instance's).
	LaunchMappings BlockDevices `mapstructure:"launch_block_device_mappings" required:"false"`
	// Mappings given to CreateImage, which override the instance's for
	// instances launched from the AMI: e.g. another `volume_type`, a
	// bigger size, or `no_device` to drop a device the build needed.
	AMIMappings BlockDevices `mapstructure:"ami_block_device_mappings" required:"false"`
	// Tags for the build instance's volumes, applied at launch. The
	// builder adds its own `bakery:*` tags (build ID, creation time,
	// creator), which `packer-plugin-bakery sweep` finds leftovers by, and
	// which cannot be overridden. `run_tags` do not reach the volumes, as in
	// amazon-ebs.
	VolumeRunTags map[string]string `mapstructure:"run_volume_tags" required:"false"`

	userData []byte // the user data from either option, read at Prepare
}

// MetadataOptions are the build instance's IMDS settings
// (RunInstances MetadataOptions).
type MetadataOptions struct {
	// `enabled` (the default) or `disabled`: whether the instance can reach
	// its metadata service at all.
	HttpEndpoint string `mapstructure:"http_endpoint" required:"false"`
	// `required` (our default: IMDSv2 only) or `optional` (IMDSv1 allowed,
	// amazon-ebs's default).
	HttpTokens string `mapstructure:"http_tokens" required:"false"`
	// How many network hops an IMDS reply may travel, 1 to 64. Unset:
	// EC2's default (1; processes in containers on the instance need 2).
	HttpPutResponseHopLimit int64 `mapstructure:"http_put_response_hop_limit" required:"false"`
	// `enabled` or `disabled` (EC2's default): whether the instance's tags
	// can be read from the metadata service.
	InstanceMetadataTags string `mapstructure:"instance_metadata_tags" required:"false"`
}

// Placement is where the build instance runs (RunInstances Placement).
type Placement struct {
	// `default` (shared hardware), `dedicated` (single-tenant hardware) or
	// `host` (a Dedicated Host). Unset: `default`, or `host` when
	// `host_id` or `host_resource_group_arn` is set.
	Tenancy string `mapstructure:"tenancy" required:"false"`
	// The Dedicated Host to launch on, e.g. `h-0123456789abcdef0`.
	HostId string `mapstructure:"host_id" required:"false"`
	// The ARN of a host resource group to launch into (License Manager);
	// conflicts with `host_id`.
	HostResourceGroupArn string `mapstructure:"host_resource_group_arn" required:"false"`
}

// maxUserData is EC2's limit on user data before encoding.
const maxUserData = 16 * 1024

var (
	burstableFamilies = []string{"t2", "t3", "t3a", "t4g"}
	tenancies         = []string{"default", "dedicated", "host"}
	hostIDPattern     = regexp.MustCompile(`^h-[0-9a-f]{8,17}$`)
	temporaryTagKeys  = bakery.BuildTagKeys
)

// prepare validates the options, reads `user_data_file` and fills in
// defaults. instanceType is `instance_type`, which `enable_unlimited_credits`
// depends on.
// prepareFallback checks the capacity fallback options against the
// launch they change.
func (c *Config) prepareFallback() []error {
	var errs []error
	if len(c.FallbackInstanceTypes) == 0 && !c.FallbackSubnets {
		return nil
	}
	if c.IsSpot() {
		errs = append(errs, errors.New("`fallback_instance_types` and `fallback_subnets` apply to an on-demand launch: with `spot_price`, list the types in `spot_instance_types`"))
	}
	if c.FallbackSubnets && c.AvailabilityZone != "" {
		errs = append(errs, errors.New("`fallback_subnets` tries the VPC's subnets in other zones, and `availability_zone` pins the zone: remove one"))
	}
	seen := map[string]bool{c.InstanceType: true}
	for _, t := range c.FallbackInstanceTypes {
		if known(t) && !instanceTypePattern.MatchString(t) {
			errs = append(errs, fmt.Errorf("`fallback_instance_types`: %q is not an EC2 instance type: write family.size, e.g. \"t3a.micro\"", t))
		}
		if seen[t] {
			errs = append(errs, fmt.Errorf("`fallback_instance_types`: %q is listed twice (or is `instance_type`)", t))
		}
		seen[t] = true
	}
	return errs
}

func (c *InstanceConfig) prepare(instanceType string) (warnings []string, errs []error) {
	switch {
	case c.UserData != "" && c.UserDataFile != "":
		errs = append(errs, errors.New("`user_data` and `user_data_file` both set: keep one"))
	case c.UserDataFile != "":
		data, err := os.ReadFile(c.UserDataFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("`user_data_file`: %w", err))
		}
		c.userData = data
	default:
		c.userData = []byte(c.UserData)
	}
	if len(c.userData) > maxUserData {
		errs = append(errs, fmt.Errorf("user data is %d bytes; EC2 takes at most %d: move the bulk into a provisioner", len(c.userData), maxUserData))
	}

	errs = append(errs, c.MetadataOptions.prepare()...)

	if c.EnableUnlimitedCredits && known(instanceType) && instanceType != "" {
		family, _, _ := strings.Cut(instanceType, ".")
		if !contains(burstableFamilies, family) {
			errs = append(errs, fmt.Errorf("`enable_unlimited_credits` only applies to burstable instance types (%s), not %q: remove it, or choose such a type",
				strings.Join(burstableFamilies, ", "), instanceType))
		}
	}
	switch c.InstanceInitiatedShutdownBehavior {
	case "", "stop", "terminate":
	default:
		errs = append(errs, fmt.Errorf("`shutdown_behavior` %q: use \"stop\" (the default) or \"terminate\"", c.InstanceInitiatedShutdownBehavior))
	}
	if c.DisableStopInstance && c.InstanceInitiatedShutdownBehavior == "terminate" {
		warnings = append(warnings, "`disable_stop_instance` with `shutdown_behavior = \"terminate\"`: a shutdown from inside the instance terminates it, and the build fails instead of creating the AMI")
	}

	if c.Tenancy != "" {
		warnings = append(warnings, "`tenancy` is deprecated: write `placement { tenancy = \""+c.Tenancy+"\" }`")
		if c.Placement.Tenancy != "" {
			errs = append(errs, errors.New("`tenancy` and `placement.tenancy` both set: keep `placement.tenancy`"))
		} else {
			c.Placement.Tenancy = c.Tenancy
		}
	}
	errs = append(errs, c.Placement.prepare()...)

	errs = append(errs, c.LaunchMappings.prepare("launch_block_device_mappings")...)
	errs = append(errs, c.AMIMappings.prepare("ami_block_device_mappings")...)

	for _, k := range temporaryTagKeys {
		if _, ok := c.VolumeRunTags[k]; ok {
			errs = append(errs, fmt.Errorf("`run_volume_tags`: %q is the builder's own tag (the sweep finds leftover volumes by it): remove it", k))
		}
	}
	return warnings, errs
}

func (m *MetadataOptions) prepare() []error {
	var errs []error
	if m.HttpEndpoint == "" {
		m.HttpEndpoint = "enabled"
	}
	if m.HttpTokens == "" {
		m.HttpTokens = "required"
	}
	if known(m.HttpEndpoint) && m.HttpEndpoint != "enabled" && m.HttpEndpoint != "disabled" {
		errs = append(errs, fmt.Errorf("`metadata_options.http_endpoint` %q: use \"enabled\" (the default) or \"disabled\"", m.HttpEndpoint))
	}
	if known(m.HttpTokens) && m.HttpTokens != "required" && m.HttpTokens != "optional" {
		errs = append(errs, fmt.Errorf("`metadata_options.http_tokens` %q: use \"required\" (IMDSv2 only, the default) or \"optional\" (IMDSv1 too)", m.HttpTokens))
	}
	if m.HttpPutResponseHopLimit < 0 || m.HttpPutResponseHopLimit > 64 {
		errs = append(errs, fmt.Errorf("`metadata_options.http_put_response_hop_limit` %d: use 1 to 64", m.HttpPutResponseHopLimit))
	}
	if t := m.InstanceMetadataTags; t != "" && known(t) && t != "enabled" && t != "disabled" {
		errs = append(errs, fmt.Errorf("`metadata_options.instance_metadata_tags` %q: use \"enabled\" or \"disabled\" (the default)", t))
	}
	return errs
}

func (p *Placement) prepare() []error {
	var errs []error
	if p.Tenancy != "" && known(p.Tenancy) && !contains(tenancies, p.Tenancy) {
		errs = append(errs, fmt.Errorf("`placement.tenancy` %q: use one of %s", p.Tenancy, strings.Join(tenancies, ", ")))
	}
	if p.HostId != "" && p.HostResourceGroupArn != "" {
		errs = append(errs, errors.New("`placement.host_id` and `placement.host_resource_group_arn` both set: a launch goes to one host or to a host resource group; keep one"))
	}
	if p.HostId != "" || p.HostResourceGroupArn != "" {
		switch p.Tenancy {
		case "":
			p.Tenancy = "host"
		case "host":
		default:
			errs = append(errs, fmt.Errorf("`placement.tenancy` %q with a Dedicated Host: set it to \"host\", or remove it", p.Tenancy))
		}
	}
	if p.HostId != "" && known(p.HostId) && !hostIDPattern.MatchString(p.HostId) {
		errs = append(errs, fmt.Errorf("`placement.host_id` %q is not a Dedicated Host ID like h-0123456789abcdef0", p.HostId))
	}
	if arn := p.HostResourceGroupArn; arn != "" && known(arn) && !strings.HasPrefix(arn, "arn:") {
		errs = append(errs, fmt.Errorf("`placement.host_resource_group_arn` %q is not an ARN (arn:aws:resource-groups:…)", arn))
	}
	return errs
}

// userDataBase64 is the user data as RunInstances takes it; "" for none.
func (c *InstanceConfig) userDataBase64() string {
	if len(c.userData) == 0 {
		return ""
	}
	return base64.StdEncoding.EncodeToString(c.userData)
}

// metadataOptions is the RunInstances MetadataOptions.
func (c *InstanceConfig) metadataOptions() *types.InstanceMetadataOptionsRequest {
	m := c.MetadataOptions
	out := &types.InstanceMetadataOptionsRequest{
		HttpEndpoint: types.InstanceMetadataEndpointState(m.HttpEndpoint),
		HttpTokens:   types.HttpTokensState(m.HttpTokens),
	}
	if out.HttpEndpoint == "" {
		out.HttpEndpoint = types.InstanceMetadataEndpointStateEnabled
	}
	if out.HttpTokens == "" {
		out.HttpTokens = types.HttpTokensStateRequired
	}
	if m.HttpPutResponseHopLimit > 0 {
		out.HttpPutResponseHopLimit = aws.Int32(int32(m.HttpPutResponseHopLimit))
	}
	if m.InstanceMetadataTags != "" {
		out.InstanceMetadataTags = types.InstanceMetadataTagsState(m.InstanceMetadataTags)
	}
	return out
}

// placement is the RunInstances Placement, or nil for EC2's defaults.
func (c *InstanceConfig) placement() *types.Placement {
	p := c.Placement
	if p == (Placement{}) {
		return nil
	}
	out := &types.Placement{Tenancy: types.Tenancy(p.Tenancy)}
	if p.HostId != "" {
		out.HostId = aws.String(p.HostId)
	}
	if p.HostResourceGroupArn != "" {
		out.HostResourceGroupArn = aws.String(p.HostResourceGroupArn)
	}
	return out
}
