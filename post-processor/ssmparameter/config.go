//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config

// Package ssmparameter is the `bakery-ssm-parameter` post-processor: it
// writes the AMI IDs of a bake to an SSM parameter in every region that has
// the AMI, where launch templates (`resolve:ssm:`), CloudFormation and
// Terraform read "the current AMI" from.
package ssmparameter

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// PluginType names the post-processor in config errors.
const PluginType = "packer-bakery.ssm-parameter"

// Config is the `post-processor "bakery-ssm-parameter"` block. The access
// options are the builder's; `assume_role` writes the parameter in another
// account (the AMI must be shared with that account first, or SSM refuses
// the value).
type Config struct {
	common.PackerConfig `mapstructure:",squash"`
	bakery.AccessConfig `mapstructure:",squash"`

	// The parameter's name, e.g. `/my-app/ami/latest` (`name` itself is
	// Packer's: it names the post-processor block). The same name is
	// written in every region. It is a String parameter of data type
	// `aws:ec2:image`, so SSM itself checks that the value is an AMI that is
	// available in the parameter's account and region.
	Name string `mapstructure:"parameter_name" required:"true"`
	// The parameter's description, written with each new version.
	Description string `mapstructure:"description" required:"false"`
	// Publish over an existing parameter that holds another AMI: it gets a
	// new version, and `aws ssm get-parameter-history` lists every AMI
	// published before. Without it an existing parameter with another value
	// fails the post-processor and is left as it was.
	Overwrite bool `mapstructure:"overwrite" required:"false"`
	// The regions to publish in. Defaults to every region of the artifact
	// (the build region and `ami_regions`); each must be one of them.
	Regions []string `mapstructure:"regions" required:"false"`
	// Tags of a parameter this post-processor creates. SSM takes tags only
	// when it creates a parameter: a new version of an existing one keeps
	// the tags it has.
	Tags map[string]string `mapstructure:"tags" required:"false"`
	// How long to wait for SSM to accept the value: SSM validates
	// `aws:ec2:image` values after PutParameter has answered, and a value it
	// refuses is dropped without an error. Defaults to `5m`.
	ValidationTimeout time.Duration `mapstructure:"validation_timeout" required:"false"`

	ctx interpolate.Context
}

// parameterName is what SSM accepts: letters, digits and `_.-/`; a path
// starts with `/`.
var parameterName = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]+$`)

// Prepare decodes the block and returns every problem at once.
func (c *Config) Prepare(raws ...interface{}) error {
	if err := config.Decode(c, &config.DecodeOpts{
		PluginType:         PluginType,
		Interpolate:        true,
		InterpolateContext: &c.ctx,
	}, raws...); err != nil {
		return err
	}
	var errs *packersdk.MultiError
	for _, e := range c.AccessConfig.Prepare() {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	for _, e := range c.prepare() {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

func (c *Config) prepare() []error {
	var errs []error
	if c.ValidationTimeout == 0 {
		c.ValidationTimeout = 5 * time.Minute
	}
	if c.ValidationTimeout < 0 {
		errs = append(errs, errors.New("`validation_timeout` cannot be negative"))
	}
	switch n := c.Name; {
	case n == "":
		errs = append(errs, errors.New("`parameter_name` is required: the SSM parameter to publish the AMI ID in, e.g. /my-app/ami/latest"))
	case !bakery.Known(n):
	case !parameterName.MatchString(n) || len(n) > 1011:
		errs = append(errs, fmt.Errorf("`parameter_name` %q: an SSM parameter name holds only letters, digits and _.-/ (at most 1011)", n))
	case strings.Contains(n, "/") && !strings.HasPrefix(n, "/"):
		errs = append(errs, fmt.Errorf("`parameter_name` %q: a parameter path starts with /", n))
	case reservedPrefix(n):
		errs = append(errs, fmt.Errorf("`parameter_name` %q: names starting with aws or ssm are reserved by AWS", n))
	case strings.Count(n, "/") > 15:
		errs = append(errs, fmt.Errorf("`parameter_name` %q: SSM allows at most 15 levels", n))
	}
	for i, r := range c.Regions {
		if slices.Contains(c.Regions[:i], r) {
			errs = append(errs, fmt.Errorf("`regions` names %s twice", r))
		}
	}
	for k := range c.Tags {
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			errs = append(errs, fmt.Errorf("`tags`: key %q: the aws: prefix is reserved", k))
		}
	}
	return errs
}

func reservedPrefix(name string) bool {
	first := strings.ToLower(strings.TrimPrefix(name, "/"))
	return strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm")
}
