//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type StockConfig

package ebs

import (
	"github.com/hashicorp/packer-plugin-sdk/template/config"
)

// StockConfig holds amazon-ebs options that have a better spelling here
// but are accepted as amazon-ebs accepts them, so that a migrated template
// builds unchanged and does what it did.
type StockConfig struct {
	// amazon-ebs's deprecated name of `enable_unlimited_credits`: `true`
	// sets it, with a warning.
	EnableT2Unlimited bool `mapstructure:"enable_t2_unlimited" required:"false"`
	// Adds an empty mapping (`no_device`) for each of `xvdca` to `xvdcz`
	// to the launch's block device mappings, as amazon-ebs does, so the
	// build instance gets no instance-store volumes there.
	NoEphemeral bool `mapstructure:"no_ephemeral" required:"false"`
	// Deprecated in amazon-ebs and unused by EC2: ignored, with a warning.
	SpotPriceAutoProduct string `mapstructure:"spot_price_auto_product" required:"false"`
	// The `tags` map written as blocks (`tag { key = "Name" value = "x" }`),
	// as in amazon-ebs. A key set both ways takes the block's value.
	Tag config.KeyValues `mapstructure:"tag" required:"false"`
	// `run_tags` as blocks, as `tag` is `tags`.
	RunTag config.KeyValues `mapstructure:"run_tag" required:"false"`
	// `snapshot_tags` as blocks, as `tag` is `tags`.
	SnapshotTag config.KeyValues `mapstructure:"snapshot_tag" required:"false"`
	// `spot_tags` as blocks, as `tag` is `tags`.
	SpotTag config.KeyValues `mapstructure:"spot_tag" required:"false"`
	// `fleet_tags` as blocks, as `tag` is `tags`.
	FleetTag config.KeyValues `mapstructure:"fleet_tag" required:"false"`
	// `run_volume_tags` as blocks (`run_volume_tag { name = "Name" value = "x" }`).
	RunVolumeTag config.NameValues `mapstructure:"run_volume_tag" required:"false"`
}

// ephemeralDevices are the device names no_ephemeral empties: amazon-ebs's
// list (where EC2 maps instance-store volumes for Windows guests).
func ephemeralDevices() []string {
	names := make([]string, 0, 26)
	for c := 'a'; c <= 'z'; c++ {
		names = append(names, "xvdc"+string(c))
	}
	return names
}

// prepareBefore folds the options into their usual spelling before the
// rest of the config is checked, so the usual checks apply to them.
func (s *StockConfig) prepareBefore(c *Config) (warnings []string) {
	_ = s.Tag.CopyOn(&c.AMITags)
	_ = s.RunTag.CopyOn(&c.RunTags)
	_ = s.SnapshotTag.CopyOn(&c.SnapshotTags)
	_ = s.SpotTag.CopyOn(&c.SpotTags)
	_ = s.FleetTag.CopyOn(&c.FleetTags)
	_ = s.RunVolumeTag.CopyOn(&c.VolumeRunTags)
	if s.EnableT2Unlimited {
		c.EnableUnlimitedCredits = true
		warnings = append(warnings, "`enable_t2_unlimited` is deprecated: it means `enable_unlimited_credits = true`, which you can write instead")
	}
	if s.SpotPriceAutoProduct != "" {
		warnings = append(warnings, "`spot_price_auto_product` is ignored: amazon-ebs deprecated it and EC2 no longer uses it. You can remove it.")
	}
	return warnings
}

// prepareAfter adds what must not meet the usual checks: no_ephemeral's
// mappings (devices the template maps itself keep its mapping).
func (s *StockConfig) prepareAfter(c *Config) {
	if !s.NoEphemeral {
		return
	}
	mapped := map[string]bool{}
	for _, b := range c.LaunchMappings {
		mapped[b.DeviceName] = true
	}
	for _, name := range ephemeralDevices() {
		if !mapped[name] {
			c.LaunchMappings = append(c.LaunchMappings, BlockDevice{DeviceName: name, NoDevice: true})
		}
	}
}
