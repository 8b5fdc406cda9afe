//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config,RunConfig,AMIConfig

package ebs

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"slices"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/communicator"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/provisioner/ansible"
)

// Config is the whole `bakery-ebs` source block. Option names are
// amazon-ebs's, so a template migrates by renaming its type.
type Config struct {
	common.PackerConfig   `mapstructure:",squash"`
	bakery.AccessConfig   `mapstructure:",squash"`
	RunConfig             `mapstructure:",squash"`
	NetworkConfig         `mapstructure:",squash"`
	UnsupportedConfig     `mapstructure:",squash"`
	StockConfig           `mapstructure:",squash"`
	AMIConfig             `mapstructure:",squash"`
	AMIDistributionConfig `mapstructure:",squash"`
	SpotConfig            `mapstructure:",squash"`
	InstanceConfig        `mapstructure:",squash"`
	IAMConfig             `mapstructure:",squash"`
	PreflightConfig       `mapstructure:",squash"`
	Comm                  communicator.Config `mapstructure:",squash"`
	PollingConfig         `mapstructure:",squash"`
	TunnelConfig          `mapstructure:",squash"`
	// Boot the new AMI and run checks on it before it is copied, shared or
	// published. Off unless `inline` or `ansible` is set.
	AMITest AMITestConfig `mapstructure:"ami_test" required:"false"`

	ctx interpolate.Context
}

// RunConfig is about the temporary build instance.
type RunConfig struct {
	// The AMI the build instance starts from, e.g. `ami-0123456789abcdef0`.
	// Set this or `source_ami_filter`.
	SourceAMI string `mapstructure:"source_ami" required:"false"`
	// Selects the source AMI by DescribeImages filters instead of by ID.
	SourceAMIFilter bakery.AMIFilterOptions `mapstructure:"source_ami_filter" required:"false"`
	// The EC2 instance type of the build instance, e.g. `t3.micro`. A spot
	// build may give `spot_instance_types` instead.
	InstanceType string `mapstructure:"instance_type" required:"true"`
	// The subnet to launch in. Unset: the default VPC's default subnet in
	// `availability_zone` (or any zone).
	SubnetID string `mapstructure:"subnet_id" required:"false"`
	// The VPC to build in. Without `subnet_id`, its subnet with the most free
	// addresses (in `availability_zone`, if set) is used. Unset: the subnet's
	// VPC, or the default VPC.
	VpcID string `mapstructure:"vpc_id" required:"false"`
	// The availability zone to launch in when no `subnet_id` is given.
	AvailabilityZone string `mapstructure:"availability_zone" required:"false"`
	// Existing security groups for the instance. Unset: a temporary group
	// that allows the communicator port from
	// `temporary_security_group_source_cidrs` is created and removed.
	SecurityGroupIDs []string `mapstructure:"security_group_ids" required:"false"`
	// The CIDR blocks the temporary security group admits to the
	// communicator port. Defaults to `["0.0.0.0/0"]`, as amazon-ebs does;
	// narrow it to your own address where you can.
	TemporarySGSourceCidrs []string `mapstructure:"temporary_security_group_source_cidrs" required:"false"`
	// Whether the instance gets a public IP address. Unset: the subnet's
	// setting.
	AssociatePublicIpAddress *bool `mapstructure:"associate_public_ip_address" required:"false"`
	// Tags for the build instance and, as in amazon-ebs, the temporary key
	// pair, security group and instance profile, each applied when it is
	// created. The instance's volumes get `run_volume_tags` instead, as in
	// amazon-ebs, and the AMI does not get them (amazon-ebs copies them
	// onto the build region's AMI unless `skip_ami_run_tags`: put what the
	// AMI needs in `tags`). Keys and values may use the build variables
	// (`{{ .SourceAMIName }}`…, see "Template variables in tags").
	RunTags map[string]string `mapstructure:"run_tags" required:"false"`
	// How long to wait for the instance or the image to reach the next
	// state before failing, e.g. `45m`. Unset: the AWS_TIMEOUT_SECONDS
	// environment variable (amazon-ebs's), else `30m`. With
	// `aws_polling.max_attempts` also set, whichever comes first ends a wait.
	StateTimeout time.Duration `mapstructure:"state_timeout" required:"false"`

	communicator.SSHInterface `mapstructure:",squash"`
}

// AMIConfig is about the image the build produces.
type AMIConfig struct {
	// The name of the AMI: 3 to 128 characters of letters, digits and
	// `( ) [ ] . / - ' @ _` and space. It must be unique in the region.
	// Rendered before the build, so `timestamp` and `clean_resource_name`
	// work in it, the build variables do not.
	AMIName string `mapstructure:"ami_name" required:"true"`
	// The description of the AMI, at most 255 characters once rendered. It
	// may use the build variables (`{{ .SourceAMIName }}`…).
	AMIDescription string `mapstructure:"ami_description" required:"false"`
	// Tags for the AMI, set when it is created, and for its snapshots (under
	// `snapshot_tags`), in every region of `ami_regions`, as in amazon-ebs.
	// Keys and values may use the build variables (`{{ .SourceAMI }}`,
	// `{{ .SourceAMITags.Team }}`…). The builder adds `bakery:principal`
	// (who made the AMI), which these may not set.
	AMITags map[string]string `mapstructure:"tags" required:"false"`
	// Tags for the AMI's snapshots, in every region: they win over `tags`
	// on the same key. Keys and values may use the build variables.
	SnapshotTags map[string]string `mapstructure:"snapshot_tags" required:"false"`
	// Replace an AMI of the same name in the region: it is deregistered
	// just before the new one is created, so a build that fails earlier
	// leaves it in place. `packer build -force` sets this too.
	AMIForceDeregister bool `mapstructure:"force_deregister" required:"false"`
	// With `force_deregister`, also delete the replaced AMI's snapshots
	// (DeregisterImage alone keeps them, and bills them).
	AMIForceDeleteSnapshot bool `mapstructure:"force_delete_snapshot" required:"false"`
}

var (
	amiNamePattern      = regexp.MustCompile(`^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}$`)
	amiIDPattern        = regexp.MustCompile(`^ami-[0-9a-f]{8,17}$`)
	instanceTypePattern = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9-]+$`)
)

func known(s string) bool { return bakery.Known(s) }

// keepRaw is a decode hook that stores in *raw the value decoded into a
// typ (or *typ), as the template wrote it.
func keepRaw(typ reflect.Type, raw *interface{}) func(from, to reflect.Type, data interface{}) (interface{}, error) {
	return func(_, to reflect.Type, data interface{}) (interface{}, error) {
		if to == typ || to == reflect.PointerTo(typ) {
			*raw = data
		}
		return data, nil
	}
}

// Prepare decodes the template and returns every problem at once.
func (c *Config) Prepare(raws ...interface{}) ([]string, error) {
	// Not c.ctx: Decode zeroes c before it decodes an HCL2 body, and the
	// functions with it.
	deprecated := map[string]string{} // old function name → new
	ictx := interpolate.Context{Funcs: templateFuncsNoting(func(name string) { deprecated[name] = deprecatedTemplateFuncs[name] })}
	// `ami_test` is rendered by AMITestConfig.prepare, and its `ansible`
	// block by the provisioner, from the block as written: rawAnsible
	// keeps it as the decoder meets it.
	var rawAnsible interface{}
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         BuilderID,
		Interpolate:        true,
		InterpolateContext: &ictx,
		InterpolateFilter:  &interpolate.RenderFilter{Exclude: append(slices.Clone(buildTimeOptions), "ami_test")},
		DecodeHooks:        append(slices.Clone(config.DefaultDecodeHookFuncs), keepRaw(reflect.TypeOf(ansible.Config{}), &rawAnsible)),
	}, raws...)
	if err != nil {
		return nil, err
	}
	c.ctx = ictx
	c.AMITest.rawAnsible = rawAnsible

	var errs *packersdk.MultiError
	warnings := c.StockConfig.prepareBefore(c)
	instanceWarnings, instanceErrs := c.InstanceConfig.prepare(c.InstanceType)
	warnings = append(warnings, instanceWarnings...)
	for _, e := range c.AccessConfig.Prepare() {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	for _, e := range c.PollingConfig.prepare(&c.StateTimeout) {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	for _, e := range c.TunnelConfig.prepare(&c.RunConfig, &c.Comm, c.TemporarySGSourcePublicIP) { // before NetworkConfig's defaults
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	networkWarnings, networkErrs := c.NetworkConfig.prepare(&c.RunConfig) // before RunConfig's: it folds security_group_id
	warnings = append(warnings, networkWarnings...)
	errs = packersdk.MultiErrorAppend(errs, networkErrs...)
	for _, e := range c.RunConfig.prepare(&c.Comm) {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	for _, e := range c.SpotConfig.prepare(c) {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	for _, e := range c.UnsupportedConfig.prepare() {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	if c.PackerForce {
		c.AMIForceDeregister = true
	}
	for _, e := range c.AMIConfig.prepare() {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	for _, e := range c.IAMConfig.prepare() {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	for _, e := range c.AMITest.prepare(c, &ictx) {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	amiWarnings, amiErrs := c.AMIDistributionConfig.prepare(time.Now())
	warnings = append(warnings, amiWarnings...)
	errs = packersdk.MultiErrorAppend(errs, amiErrs...)
	for _, e := range c.prepareTemplates() {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	for _, name := range sortedKeys(deprecated) {
		warnings = append(warnings, fmt.Sprintf("`%s` is deprecated: it is `%s` under its old name (`packer fix` renames it)", name, deprecated[name]))
	}
	switch c.Comm.Type {
	case "", "ssh", "winrm", "none":
		for _, e := range c.Comm.Prepare(&c.ctx) {
			errs = packersdk.MultiErrorAppend(errs, e)
		}
		// The SDK takes any int; the security group rule would wrap it
		// into an int32, opening another port than the build uses.
		for _, p := range []struct {
			key  string
			port int
		}{{"ssh_port", c.Comm.SSHPort}, {"winrm_port", c.Comm.WinRMPort}, {"ssh_bastion_port", c.Comm.SSHBastionPort}, {"ssh_proxy_port", c.Comm.SSHProxyPort}} {
			if p.port < 0 || p.port > 65535 {
				errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("`%s` %d is not a TCP port (1 to 65535)", p.key, p.port))
			}
		}
	default:
		// The SDK's own message ("Communicator type x is invalid") names
		// neither the option nor the choices.
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("`communicator` %q: use \"ssh\" (the default), \"winrm\" or \"none\"", c.Comm.Type))
	}
	for _, e := range instanceErrs {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	for _, e := range c.prepareFallback() {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	c.StockConfig.prepareAfter(c)
	if errs != nil && len(errs.Errors) > 0 {
		return warnings, errs
	}
	packersdk.LogSecretFilter.Set(c.Comm.SSHPassword, c.Comm.WinRMPassword, c.Comm.SSHBastionPassword, c.Comm.SSHProxyPassword)
	return warnings, nil
}

func (r *RunConfig) prepare(comm *communicator.Config) []error {
	var errs []error
	switch {
	case r.SourceAMI == "" && r.SourceAMIFilter.Empty():
		errs = append(errs, errors.New("set `source_ami` or `source_ami_filter`: the build needs an AMI to start from"))
	case r.SourceAMI != "" && !r.SourceAMIFilter.Empty():
		errs = append(errs, errors.New("`source_ami` and `source_ami_filter` both set: keep one"))
	}
	if r.SourceAMI != "" && known(r.SourceAMI) && !amiIDPattern.MatchString(r.SourceAMI) {
		errs = append(errs, fmt.Errorf("`source_ami` %q is not an AMI ID like ami-0123456789abcdef0: to choose an AMI by name, use `source_ami_filter`", r.SourceAMI))
	}
	errs = append(errs, r.SourceAMIFilter.Prepare("source_ami_filter")...)
	// Whether it is required is SpotConfig's to say: `spot_instance_types`
	// replaces it.
	if r.InstanceType != "" && known(r.InstanceType) && !instanceTypePattern.MatchString(r.InstanceType) {
		errs = append(errs, fmt.Errorf("`instance_type` %q is not an EC2 instance type: write family.size, e.g. \"t3.micro\"", r.InstanceType))
	}
	for _, cidr := range r.TemporarySGSourceCidrs {
		if _, _, err := net.ParseCIDR(cidr); err != nil && known(cidr) {
			errs = append(errs, fmt.Errorf("`temporary_security_group_source_cidrs`: %q is not a CIDR block like 203.0.113.0/24", cidr))
		}
	}
	switch r.SSHInterface.SSHInterface {
	case "", "public_ip", "private_ip", "public_dns", "private_dns", interfaceSessionManager, interfaceEICE:
	default:
		errs = append(errs, fmt.Errorf("`ssh_interface` %q is not one of public_ip, private_ip, public_dns, private_dns, session_manager, instance_connect_endpoint", r.SSHInterface.SSHInterface))
	}
	if r.StateTimeout < 0 {
		errs = append(errs, errors.New("`state_timeout` cannot be negative: give a duration such as \"45m\""))
	}
	if r.StateTimeout == 0 {
		r.StateTimeout = 30 * time.Minute
	}
	if comm.Type == "ssh" || comm.Type == "" {
		if comm.SSHTemporaryKeyPairType == "ed25519" && comm.SSHTemporaryKeyPairBits != 0 {
			errs = append(errs, errors.New("`temporary_key_pair_bits` does not apply to ed25519 keys, whose size is fixed: remove it, or set `temporary_key_pair_type = \"rsa\"`"))
		}
		switch comm.SSHTemporaryKeyPairType {
		case "":
			// amazon-ebs makes RSA keys: a migrated template that sizes its
			// key still gets one.
			comm.SSHTemporaryKeyPairType = "ed25519"
			if comm.SSHTemporaryKeyPairBits != 0 {
				comm.SSHTemporaryKeyPairType = "rsa"
			}
		case "ed25519", "rsa":
		default:
			errs = append(errs, fmt.Errorf("`temporary_key_pair_type` %q: EC2 imports ed25519 (the default) and rsa keys only", comm.SSHTemporaryKeyPairType))
		}
		if comm.SSHTemporaryKeyPairType == "rsa" {
			if comm.SSHTemporaryKeyPairBits == 0 {
				comm.SSHTemporaryKeyPairBits = 4096
			} else if comm.SSHTemporaryKeyPairBits < 2048 || comm.SSHTemporaryKeyPairBits > 16384 {
				errs = append(errs, fmt.Errorf("`temporary_key_pair_bits` %d: use 2048 to 16384 for rsa", comm.SSHTemporaryKeyPairBits))
			}
		}
		if comm.SSHKeyPairName != "" && comm.SSHPrivateKeyFile == "" && !comm.SSHAgentAuth {
			errs = append(errs, errors.New("`ssh_keypair_name` needs `ssh_private_key_file` (or `ssh_agent_auth = true`) so the build can log in with that key"))
		}
	}
	return errs
}

func (a *AMIConfig) prepare() []error {
	var errs []error
	switch {
	case a.AMIName == "":
		errs = append(errs, errors.New("`ami_name` is required: the name of the AMI to create, unique in the region"))
	case known(a.AMIName) && !amiNamePattern.MatchString(a.AMIName):
		errs = append(errs, fmt.Errorf("`ami_name` %q: use 3 to 128 letters, digits, spaces and ( ) [ ] . / - ' @ _ (for a date, formatdate(\"YYYYMMDD-hhmmss\", timestamp()) has no colons)", a.AMIName))
	}
	// bakery:principal says who made the AMI, its snapshots and copies,
	// given in the creating call; the user's tags, written to the copies
	// and snapshots after it, would overwrite it.
	for _, o := range []struct {
		option string
		tags   map[string]string
	}{{"tags", a.AMITags}, {"snapshot_tags", a.SnapshotTags}} {
		if _, ok := o.tags[bakery.TagPrincipal]; ok {
			errs = append(errs, fmt.Errorf("`%s`: %q is the builder's own tag (who made the AMI and its snapshots; the generated policy removes only images carrying its holder's): remove it", o.option, bakery.TagPrincipal))
		}
	}
	if a.AMIForceDeleteSnapshot && !a.AMIForceDeregister {
		errs = append(errs, errors.New("`force_delete_snapshot` only applies with `force_deregister = true` (or `packer build -force`)"))
	}
	if len(a.AMIDescription) > 255 {
		errs = append(errs, errors.New("`ami_description` is longer than EC2's limit of 255 characters: shorten it"))
	}
	return errs
}
