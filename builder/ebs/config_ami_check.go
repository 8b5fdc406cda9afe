//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type AMITestConfig

package ebs

import (
	"errors"
	"fmt"
	"strings"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/packer-bakery/packer-plugin-bakery/provisioner/ansible"
)

// AMITestConfig is the `ami_test` block: boot the new AMI once before
// anything makes it visible (copies to `ami_regions`, sharing,
// `deprecate_at`, post-processors) and run checks on it. A fresh instance
// is launched from the AMI into the build's network, with the build's
// temporary key pair and security group, tagged and journalled like the
// build instance; once SSH answers, each command of `inline` runs in
// turn, then the `ansible` playbook. A command that exits non-zero, or a
// playbook that fails, fails the build, naming the check and showing the
// end of its output, and the AMI and its snapshots are removed (kept with
// `-on-error=abort`). The test instance is terminated on every path.
type AMITestConfig struct {
	// Shell commands run one by one on the test instance, as `ssh_username`
	// (like the shell provisioner's `inline`); each must exit 0. Setting
	// them, or `ansible`, turns the test on.
	Inline []string `mapstructure:"inline" required:"false"`
	// A playbook run against the test instance after `inline`, by the
	// `bakery-ansible` provisioner itself: the block takes exactly its
	// options (`playbook_file`, `extra_arguments`, `extra_vars`,
	// `use_mitogen`, ...; see the provisioner's documentation) and is
	// checked when the template is, with the provisioner's own messages
	// prefixed `ami_test.ansible`. Ansible logs in as `ssh_username` with
	// the build's key, through the build's bastion or tunnel, and accepts
	// only the host key the test instance showed the builder. The play
	// fails the check when ansible-playbook does (a failed or unreachable
	// task, a failed `assert`), and when it ran on no host (its plays'
	// `hosts`, or `limit`, matched no instance).
	Ansible *ansible.Config `mapstructure:"ansible" required:"false"`
	// The instance type of the test instance. Defaults to `instance_type`
	// (or the first of `spot_instance_types`); the test instance itself is
	// always on-demand.
	InstanceType string `mapstructure:"instance_type" required:"false"`

	// playbook is the prepared `ansible` check; nil without one.
	playbook *ansible.Provisioner
	// rawAnsible is the `ansible` block as written (before interpolation),
	// which the provisioner's Prepare decodes itself.
	rawAnsible interface{}
}

// enabled: the build tests its AMI.
func (t *AMITestConfig) enabled() bool { return len(t.Inline) > 0 || t.Ansible != nil }

// prepare checks the block. ictx renders `inline` and `instance_type`:
// the builder's decoding leaves `ami_test` alone, because the `ansible`
// block is the provisioner's to render (its `inventory_file_template`
// holds templates only the play fills in).
func (t *AMITestConfig) prepare(cfg *Config, ictx *interpolate.Context) []error {
	if !t.enabled() {
		if t.InstanceType != "" {
			return []error{errors.New("`ami_test` needs `inline` or `ansible`, the checks to run on the AMI")}
		}
		return nil
	}
	var errs []error
	for i, c := range t.Inline {
		rendered, err := interpolate.Render(c, ictx)
		if err != nil {
			errs = append(errs, fmt.Errorf("`ami_test { inline }` command %d: %w", i+1, err))
			continue
		}
		t.Inline[i] = rendered
		if strings.TrimSpace(rendered) == "" {
			errs = append(errs, fmt.Errorf("`ami_test { inline }` command %d is empty", i+1))
		}
	}
	if rendered, err := interpolate.Render(t.InstanceType, ictx); err != nil {
		errs = append(errs, fmt.Errorf("`ami_test { instance_type }`: %w", err))
	} else {
		t.InstanceType = rendered
	}
	if t.Ansible != nil {
		errs = append(errs, t.preparePlaybook(cfg, ictx)...)
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

// preparePlaybook prepares the `ansible` check with the provisioner's own
// Prepare, given what packer gives a provisioner (the build's name, type
// and variables) and the block as written: the same decoding,
// interpolation, defaults and checks as a `bakery-ansible` block, now,
// before anything is launched.
func (t *AMITestConfig) preparePlaybook(cfg *Config, ictx *interpolate.Context) []error {
	if !known(t.Ansible.PlaybookFile) {
		// `packer validate` and `iam-policy` of a template whose
		// playbook is a variable without a value: there is no file to
		// check yet, and no play to plan (it makes no AWS call); the
		// build itself always has the value.
		return nil
	}
	packerRaw := map[string]interface{}{
		"packer_build_name":          cfg.PackerBuildName,
		"packer_builder_type":        cfg.PackerBuilderType,
		"packer_core_version":        cfg.PackerCoreVersion,
		"packer_debug":               cfg.PackerDebug,
		"packer_force":               cfg.PackerForce,
		"packer_on_error":            cfg.PackerOnError,
		"packer_user_variables":      cfg.PackerUserVars,
		"packer_sensitive_variables": cfg.PackerSensitiveVars,
		"packer_template_path":       ictx.TemplatePath,
	}
	raw := t.rawAnsible
	if raw == nil {
		raw = map[string]interface{}{}
	}
	p := new(ansible.Provisioner)
	if err := p.Prepare(packerRaw, raw); err != nil {
		var errs []error
		var multi *packersdk.MultiError
		if errors.As(err, &multi) {
			for _, e := range multi.Errors {
				errs = append(errs, fmt.Errorf("`ami_test.ansible`: %w", e))
			}
			return errs
		}
		return []error{fmt.Errorf("`ami_test.ansible`: %w", err)}
	}
	t.playbook = p
	return nil
}
