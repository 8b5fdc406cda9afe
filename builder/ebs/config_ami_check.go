//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type AMITestConfig

package ebs

import (
	"errors"
	"fmt"
	"strings"
)

// AMITestConfig is the `ami_test` block: boot the new AMI once before
// anything makes it visible (copies to `ami_regions`, sharing,
// `deprecate_at`, post-processors) and run checks on it. A fresh instance
// is launched from the AMI into the build's network, with the build's
// temporary key pair and security group, tagged and journalled like the
// build instance; once SSH answers, each command of `inline` runs in
// turn. A command that exits non-zero fails the build, naming the command
// and showing its output, and the AMI and its snapshots are removed (kept
// with `-on-error=abort`). The test instance is terminated on every path.
type AMITestConfig struct {
	// Shell commands run one by one on the test instance, as `ssh_username`
	// (like the shell provisioner's `inline`); each must exit 0. Setting
	// them turns the test on.
	Inline []string `mapstructure:"inline" required:"false"`
	// The instance type of the test instance. Defaults to `instance_type`
	// (or the first of `spot_instance_types`); the test instance itself is
	// always on-demand.
	InstanceType string `mapstructure:"instance_type" required:"false"`
}

// enabled: the build tests its AMI.
func (t *AMITestConfig) enabled() bool { return len(t.Inline) > 0 }

func (t *AMITestConfig) prepare(cfg *Config) []error {
	if !t.enabled() {
		if t.InstanceType != "" {
			return []error{errors.New("`ami_test` needs `inline`, the commands that check the AMI")}
		}
		return nil
	}
	var errs []error
	for i, c := range t.Inline {
		if strings.TrimSpace(c) == "" {
			errs = append(errs, fmt.Errorf("`ami_test { inline }` command %d is empty", i+1))
		}
	}
	if cfg.AMISkipCreateImage {
		errs = append(errs, errors.New("`ami_test` tests the AMI, and `skip_create_ami` makes none: remove one of them"))
	}
	if cfg.Comm.Type != "" && cfg.Comm.Type != "ssh" {
		errs = append(errs, fmt.Errorf("`ami_test` runs its checks over SSH; `communicator` is %q", cfg.Comm.Type))
	}
	if t.InstanceType == "" {
		t.InstanceType = cfg.InstanceType
		if t.InstanceType == "" && len(cfg.SpotInstanceTypes) > 0 {
			t.InstanceType = cfg.SpotInstanceTypes[0]
		}
	}
	return errs
}
