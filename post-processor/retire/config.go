//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config

// Package retire is the `bakery-retire` post-processor: after a bake it
// removes the old AMIs of the same family (name pattern and/or tags) in
// every region of the artifact, keeping the newest and the young ones, and
// never one that an instance or a launch template still uses.
package retire

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// PluginType names the post-processor in config errors.
const PluginType = "packer-bakery.retire"

// Config is the `post-processor "bakery-retire"` block. The access options
// are the builder's.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`
	bakery.AccessConfig `mapstructure:",squash"`

	// The family's AMI names, as EC2's `name` filter takes them (`*` and
	// `?` are wildcards), e.g. `my-app-*`. Set it, `tags`, or both.
	NamePattern string `mapstructure:"name_pattern" required:"false"`
	// Tags every AMI of the family carries, with these values, e.g.
	// `{ Family = "my-app" }`. Set it, `name_pattern`, or both.
	Tags map[string]string `mapstructure:"tags" required:"false"`
	// Keep the newest this many AMIs of the family in each region, the new
	// one included. Set it, `keep_days`, or both: an AMI goes only when
	// neither keeps it.
	KeepReleases int `mapstructure:"keep_releases" required:"false"`
	// Keep the AMIs created less than this many days ago.
	KeepDays int `mapstructure:"keep_days" required:"false"`
	// The regions to retire in. Defaults to every region of the artifact
	// (the build region and `ami_regions`); each must be one of them, so
	// that the family can be checked against the new AMI there.
	Regions []string `mapstructure:"regions" required:"false"`
	// Deprecate old AMIs (EC2 EnableImageDeprecation, from a minute after
	// the run) instead of deregistering them: they stay usable by ID and
	// keep their snapshots, but no longer show in searches. AMIs already
	// deprecated are left as they are.
	Deprecate bool `mapstructure:"deprecate" required:"false"`
	// List what would be retired, and why the others are kept, without
	// changing anything.
	DryRun bool `mapstructure:"dry_run" required:"false"`

	ctx interpolate.Context
}

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
	if c.NamePattern == "" && len(c.Tags) == 0 {
		errs = append(errs, errors.New("set `name_pattern`, `tags` or both: they say which AMIs are of this family"))
	}
	if strings.Trim(c.NamePattern, "*?") == "" && c.NamePattern != "" {
		errs = append(errs, fmt.Errorf("`name_pattern` %q matches every name: give the family's name, e.g. my-app-*", c.NamePattern))
	}
	for k, v := range c.Tags {
		if k == "" || v == "" {
			errs = append(errs, fmt.Errorf("`tags`: %q = %q: give each tag a key and a value", k, v))
		}
	}
	if c.KeepReleases < 0 || c.KeepDays < 0 {
		errs = append(errs, errors.New("`keep_releases` and `keep_days` cannot be negative"))
	}
	if c.KeepReleases == 0 && c.KeepDays == 0 {
		errs = append(errs, errors.New("set `keep_releases`, `keep_days` or both: how many AMIs, or how young ones, to keep"))
	}
	for i, r := range c.Regions {
		if slices.Contains(c.Regions[:i], r) {
			errs = append(errs, fmt.Errorf("`regions` names %s twice", r))
		}
	}
	return errs
}
