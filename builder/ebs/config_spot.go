//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type SpotConfig

package ebs

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
)

// SpotConfig launches the build instance as a spot instance, through a
// temporary launch template and an EC2 Fleet of type `instant`, as
// amazon-ebs does. Both are tagged with the build's id, and removed at the
// end of the build.
type SpotConfig struct {
	// The maximum hourly price for the spot build instance, as a decimal
	// string in US dollars (e.g. `"0.05"`), or `"auto"` to cap it at the
	// on-demand price. Set, the instance is a spot instance; unset (or
	// `"0"`, as in amazon-ebs), it is launched on demand. You pay the spot
	// price in effect, never more than this cap. While EC2 has no spot
	// capacity the build asks again for about 30 seconds, as amazon-ebs
	// does; then, or at once for any other reason (the price is below the
	// spot price…), it fails with EC2's reason for each type and zone.
	SpotPrice string `mapstructure:"spot_price" required:"false"`
	// Instance types the spot instance may be, instead of `instance_type`
	// (set one of the two, not both). EC2 picks among them by
	// `spot_allocation_strategy`. Requires `spot_price`: amazon-ebs accepts
	// it without, and then fails at launch.
	SpotInstanceTypes []string `mapstructure:"spot_instance_types" required:"false"`
	// How EC2 Fleet chooses among the spot capacity pools of
	// `spot_instance_types`: `lowest-price`, `diversified`,
	// `capacity-optimized`, `capacity-optimized-prioritized` or
	// `price-capacity-optimized`. Unset: EC2's default (`lowest-price`).
	// Only applies with `spot_price` (amazon-ebs ignores it silently
	// without).
	SpotAllocationStrategy string `mapstructure:"spot_allocation_strategy" required:"false"`
	// Tags for the spot instance request and for the temporary launch
	// template, set when they are created. Requires `spot_price`. The
	// build's own `bakery:*` tags are added.
	SpotTags map[string]string `mapstructure:"spot_tags" required:"false"`
	// Tags for the temporary EC2 Fleet, set when it is created. Requires
	// `spot_price`. The build's own `bakery:*` tags are added.
	//
	// A spot instance is not stopped before the AMI is made (EC2 cannot
	// stop it; CreateImage reboots it instead), as in amazon-ebs; so
	// `disable_stop_instance`, `ena_support` and `sriov_support` are refused
	// with `spot_price`.
	FleetTags map[string]string `mapstructure:"fleet_tags" required:"false"`
}

// spotPriceAuto caps the spot price at the on-demand price.
const spotPriceAuto = "auto"

// pricePattern is a plain decimal: no sign, exponent, NaN or Inf.
var pricePattern = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// IsSpot says whether the build instance is a spot instance. "0" means on
// demand, as it does for amazon-ebs.
func (c *SpotConfig) IsSpot() bool { return c.SpotPrice != "" && c.SpotPrice != "0" }

// prepare checks the spot options and, because `spot_instance_types`
// replaces it, whether `instance_type` is given, and the options of cfg
// that a spot instance cannot have.
func (c *SpotConfig) prepare(cfg *Config) []error {
	instanceType, unlimitedCredits := cfg.InstanceType, cfg.EnableUnlimitedCredits
	var errs []error
	if c.IsSpot() {
		// The instance is never stopped (EC2 cannot stop it): amazon-ebs
		// skips these silently, and a provisioner that shuts a one-time
		// spot instance down loses it.
		if cfg.DisableStopInstance {
			errs = append(errs, errors.New("`disable_stop_instance` does not apply to a spot instance: EC2 cannot stop it, so the AMI is made from the running instance (CreateImage reboots it); remove it, or launch on demand"))
		}
		if cfg.AMIENASupport != config.TriUnset || cfg.AMISriovNetSupport {
			errs = append(errs, errors.New("`ena_support` and `sriov_support` are set on the stopped build instance, and a spot instance cannot be stopped: remove them (the AMI keeps the source AMI's), or launch on demand"))
		}
	}
	switch {
	case instanceType == "" && len(c.SpotInstanceTypes) == 0:
		errs = append(errs, errors.New("`instance_type` is required, e.g. \"t3.micro\" (or, for a spot build, `spot_instance_types`)"))
	case instanceType != "" && len(c.SpotInstanceTypes) > 0:
		errs = append(errs, errors.New("`instance_type` and `spot_instance_types` both set: keep one (`spot_instance_types` lists the types a spot instance may be)"))
	}
	if c.SpotPrice != "" && c.SpotPrice != spotPriceAuto && known(c.SpotPrice) {
		price, err := strconv.ParseFloat(c.SpotPrice, 64)
		if err != nil || !pricePattern.MatchString(c.SpotPrice) || (price <= 0 && c.SpotPrice != "0") {
			errs = append(errs, fmt.Errorf("`spot_price` %q: give a maximum hourly price in US dollars such as \"0.05\", or \"auto\" for the on-demand price", c.SpotPrice))
		}
	}
	if !c.IsSpot() {
		for _, o := range []struct {
			name string
			set  bool
		}{
			{"spot_instance_types", len(c.SpotInstanceTypes) > 0},
			{"spot_allocation_strategy", c.SpotAllocationStrategy != ""},
			{"spot_tags", c.SpotTags != nil},
			{"fleet_tags", c.FleetTags != nil},
		} {
			if o.set {
				errs = append(errs, fmt.Errorf("`%s` only applies to a spot instance: set `spot_price` (\"auto\" caps it at the on-demand price), or remove `%s`", o.name, o.name))
			}
		}
	}
	for _, t := range c.SpotInstanceTypes {
		if known(t) && !instanceTypePattern.MatchString(t) {
			errs = append(errs, fmt.Errorf("`spot_instance_types`: %q is not an EC2 instance type: write family.size, e.g. \"t3.micro\"", t))
		}
	}
	if unlimitedCredits && c.IsSpot() {
		for _, t := range append([]string{instanceType}, c.SpotInstanceTypes...) {
			family, _, _ := strings.Cut(t, ".")
			switch {
			case t == "" || !known(t):
			case family == "t2":
				// As amazon-ebs: EC2 has no unlimited mode for T2 spot instances.
				errs = append(errs, fmt.Errorf("`enable_unlimited_credits` cannot be used with a T2 spot instance (%s): remove it, launch on demand, or use t3, t3a or t4g", t))
			case len(c.SpotInstanceTypes) > 0 && !contains(burstableFamilies, family):
				errs = append(errs, fmt.Errorf("`enable_unlimited_credits` only applies to burstable instance types (%s), not %q of `spot_instance_types`",
					strings.Join(burstableFamilies, ", "), t))
			}
		}
	}
	if s := c.SpotAllocationStrategy; s != "" && known(s) {
		valid := types.SpotAllocationStrategy("").Values()
		ok := false
		names := make([]string, 0, len(valid))
		for _, v := range valid {
			ok = ok || string(v) == s
			names = append(names, string(v))
		}
		if !ok {
			errs = append(errs, fmt.Errorf("`spot_allocation_strategy` %q: use one of %s", s, strings.Join(names, ", ")))
		}
	}
	return errs
}
