//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config

package ansible

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// Config is the `bakery-ansible` provisioner block. Option names are the
// stock `ansible` provisioner's wherever the meaning is the same.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// The playbook to run, relative to the folder packer runs in.
	PlaybookFile string `mapstructure:"playbook_file" required:"true"`
	// The program to run instead of `ansible-playbook`: a path or a name
	// on `PATH`, never a shell line (it is not split on spaces). Point it
	// at a virtualenv's `bin/ansible-playbook` to pin an Ansible version.
	Command string `mapstructure:"command" required:"false"`
	// Arguments appended to the `ansible-playbook` command line, one
	// argument per list item (no shell quoting is applied or needed).
	ExtraArguments []string `mapstructure:"extra_arguments" required:"false"`
	// Environment variables for `ansible-playbook` and `ansible-galaxy`, as
	// `NAME=value`. They win over every variable the provisioner sets.
	AnsibleEnvVars []string `mapstructure:"ansible_env_vars" required:"false"`
	// Extra arguments for ssh, joined with spaces into `--ssh-extra-args`,
	// before the provisioner's own: ssh keeps the first value of an option,
	// so these win (e.g. `["-o", "StrictHostKeyChecking=yes", "-o",
	// "UserKnownHostsFile=/path"]`).
	AnsibleSSHExtraArgs []string `mapstructure:"ansible_ssh_extra_args" required:"false"`
	// Variables for the play, passed as `--extra-vars @FILE` through a
	// 0600 JSON file that is removed after the run. Their values never
	// appear on the echoed command line, and those of 6 characters or more
	// are masked in the build's output and log, so secrets are safe here.
	ExtraVars map[string]string `mapstructure:"extra_vars" required:"false"`
	// Only run plays and tasks tagged with these tags (`--tags`).
	Tags []string `mapstructure:"tags" required:"false"`
	// Skip plays and tasks tagged with these tags (`--skip-tags`).
	SkipTags []string `mapstructure:"skip_tags" required:"false"`
	// Further limit the hosts (`--limit`).
	Limit string `mapstructure:"limit" required:"false"`
	// Inventory groups the host is put in: letters, digits, `_` and `-`,
	// starting with a letter or `_`.
	Groups []string `mapstructure:"groups" required:"false"`
	// Inventory groups created without any host.
	EmptyGroups []string `mapstructure:"empty_groups" required:"false"`
	// The host's name in the inventory: letters, digits, `_`, `.` and `-`.
	// Defaults to `default`.
	HostAlias string `mapstructure:"host_alias" required:"false"`
	// The user Ansible logs in as when the play does not set `remote_user`.
	// Defaults to the builder's `ssh_username`.
	User string `mapstructure:"user" required:"false"`
	// Proxy mode only: the loopback port the proxy listens on. Defaults
	// to a free port.
	LocalPort int `mapstructure:"local_port" required:"false"`
	// Proxy mode only: the private key the proxy presents as its host key.
	// Defaults to a key generated for the run.
	SSHHostKeyFile string `mapstructure:"ssh_host_key_file" required:"false"`
	// Proxy mode only: the public key the proxy accepts. Defaults to a key
	// pair generated for the run (its private half is given to Ansible).
	// When set, give Ansible the private key yourself.
	SSHAuthorizedKeyFile string `mapstructure:"ssh_authorized_key_file" required:"false"`
	// Proxy mode only: the remote command that serves SFTP. Defaults to a
	// small `sh` script that runs the first `sftp-server` it finds in the
	// Amazon Linux/RHEL, Debian/Ubuntu, SUSE and Alpine locations.
	SFTPCmd string `mapstructure:"sftp_command" required:"false"`
	// Proxy mode only: the type of the proxy's generated keys, `ECDSA`
	// (P-384) or `RSA` (2048 bits), for an Ansible whose SSH client cannot
	// use ed25519. Unset: ed25519.
	AdapterKeyType string `mapstructure:"ansible_proxy_key_type" required:"false"`
	// Accepted for templates written for the stock provisioner, where it
	// sets `ansible_winrm_scheme=http` for WinRM connections. bakery-ansible
	// always reaches the instance over SSH, so it has no effect (a warning
	// says so when it is `true`).
	WinRMUseHTTP bool `mapstructure:"ansible_winrm_use_http" required:"false"`
	// How Ansible copies files: `true` forces SFTP, `false` forces SCP.
	// Unset: Ansible's own setting (`smart`: SFTP, then SCP).
	UseSFTP *bool `mapstructure:"use_sftp" required:"false"`
	// Do not run `ansible-playbook --version` before the play.
	SkipVersionCheck bool `mapstructure:"skip_version_check" required:"false"`
	// The folder the temporary inventory is written to. Defaults to the
	// run's private temporary folder.
	InventoryDirectory string `mapstructure:"inventory_directory" required:"false"`
	// The inventory line(s) for the host, as a template with `{{ .HostAlias }}`,
	// `{{ .Host }}`, `{{ .Port }}` and `{{ .User }}`. The default sets no
	// `ansible_user`, so a play's `remote_user` still applies.
	InventoryFileTemplate string `mapstructure:"inventory_file_template" required:"false"`
	// An existing inventory to use instead of a generated one.
	InventoryFile string `mapstructure:"inventory_file" required:"false"`
	// Keep the generated inventory after the run (the key and vars files
	// are removed regardless).
	KeepInventoryFile bool `mapstructure:"keep_inventory_file" required:"false"`
	// A requirements file with `roles:` and/or `collections:`, installed in
	// one `ansible-galaxy install -r` before the play.
	GalaxyFile string `mapstructure:"galaxy_file" required:"false"`
	// The `ansible-galaxy` program. Defaults to `ansible-galaxy`.
	GalaxyCommand string `mapstructure:"galaxy_command" required:"false"`
	// Reinstall roles and collections that are already installed (`--force`).
	GalaxyForceInstall bool `mapstructure:"galaxy_force_install" required:"false"`
	// Reinstall them and their dependencies (`--force-with-deps`).
	GalaxyForceWithDeps bool `mapstructure:"galaxy_force_with_deps" required:"false"`
	// Where galaxy installs roles and the play finds them
	// (`ANSIBLE_ROLES_PATH`). Unset: Ansible's default.
	RolesPath string `mapstructure:"roles_path" required:"false"`
	// Where galaxy installs collections and the play finds them
	// (`ANSIBLE_COLLECTIONS_PATH`). Unset: Ansible's default.
	CollectionsPath string `mapstructure:"collections_path" required:"false"`
	// `true`: always go through packer's communicator with the in-process
	// SSH proxy. `false`: always connect directly. Unset: directly when
	// the builder gives an SSH host that answers, else through the proxy.
	UseProxy *bool `mapstructure:"use_proxy" required:"false"`
	// Run the play with Mitogen for Ansible: one Python per host and user
	// stays up for the whole play instead of a module upload and a fresh
	// Python per task (about 5× faster over many tasks), and `become_user`
	// to an unprivileged user needs no `setfacl` on the image. Mitogen must
	// be installed in the Python that runs `command` (`pip install
	// mitogen`); the build stops before launching anything if it is not,
	// or does not support that ansible-core. Sets the strategy to
	// `mitogen_linear` through the environment unless your environment or
	// ansible.cfg sets one. See the provisioner's docs for what changes.
	UseMitogen bool `mapstructure:"use_mitogen" required:"false"`

	ctx interpolate.Context
	// warnings are shown when the provisioner runs: packer's provisioner
	// interface has no way to return them from Prepare.
	warnings []string
}

// The names the provisioner writes into its INI inventory. Anything
// wider could change the inventory's meaning: `#`/`;` cut a line short,
// `[x:children]` makes a group of groups, `=` adds a variable, and Python
// also breaks lines at \r, \v, \f, \x1c-\x1e, \x85 and \u2028/\u2029.
var (
	inventoryGroupRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	inventoryHostRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
)

const (
	proxyKeyECDSA = "ECDSA"
	proxyKeyRSA   = "RSA"
)

const (
	defaultCommand       = "ansible-playbook"
	defaultGalaxyCommand = "ansible-galaxy"
	defaultHostAlias     = "default"
)

// Prepare decodes the raw configs and returns every problem at once.
func (c *Config) Prepare(raws ...interface{}) error {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         "bakery-ansible",
		Interpolate:        true,
		InterpolateContext: &c.ctx,
		InterpolateFilter: &interpolate.RenderFilter{
			Exclude: []string{"inventory_file_template"},
		},
	}, raws...)
	if err != nil {
		return err
	}
	if c.Command == "" {
		c.Command = defaultCommand
	}
	if c.GalaxyCommand == "" {
		c.GalaxyCommand = defaultGalaxyCommand
	}
	if c.HostAlias == "" {
		c.HostAlias = defaultHostAlias
	}

	var errs *packersdk.MultiError
	add := func(format string, args ...any) { errs = packersdk.MultiErrorAppend(errs, fmt.Errorf(format, args...)) }

	if c.PlaybookFile == "" {
		add("`playbook_file` is required: the playbook to run")
	} else if err := regularFile(c.PlaybookFile); err != nil {
		add("`playbook_file`: %w", err)
	}
	if c.GalaxyFile != "" {
		if err := regularFile(c.GalaxyFile); err != nil {
			add("`galaxy_file`: %w", err)
		}
	}
	if c.InventoryFile != "" {
		if _, err := os.Stat(c.InventoryFile); err != nil {
			add("`inventory_file`: %w", err)
		}
		if c.InventoryFileTemplate != "" {
			add("`inventory_file` and `inventory_file_template` cannot both be set: the first is used as is")
		}
	}
	if c.InventoryDirectory != "" {
		if fi, err := os.Stat(c.InventoryDirectory); err != nil {
			add("`inventory_directory`: %w", err)
		} else if !fi.IsDir() {
			add("`inventory_directory`: %s is not a folder", c.InventoryDirectory)
		}
	}
	for _, f := range []struct{ key, path string }{
		{"ssh_host_key_file", c.SSHHostKeyFile},
		{"ssh_authorized_key_file", c.SSHAuthorizedKeyFile},
	} {
		if f.path != "" {
			if err := regularFile(f.path); err != nil {
				add("`%s`: %w", f.key, err)
			}
		}
	}
	for _, kv := range c.AnsibleEnvVars {
		if name, _, ok := strings.Cut(kv, "="); !ok || name == "" {
			add("`ansible_env_vars`: %q is not NAME=value", kv)
		}
	}
	if c.LocalPort < 0 || c.LocalPort > 65535 {
		add("`local_port`: %d is not a TCP port (0 picks a free one)", c.LocalPort)
	}
	c.warnings = nil
	if c.UseProxy != nil && !*c.UseProxy {
		// The stock provisioner ignores these in direct mode, and
		// templates carry them from the days its proxy needed them (the
		// sftp_command workaround above all): ignoring them is what the
		// user's build did before, so say so and go on.
		for _, f := range []struct {
			key string
			set bool
		}{
			{"local_port", c.LocalPort != 0},
			{"ssh_host_key_file", c.SSHHostKeyFile != ""},
			{"ssh_authorized_key_file", c.SSHAuthorizedKeyFile != ""},
			{"sftp_command", c.SFTPCmd != ""},
			{"ansible_proxy_key_type", c.AdapterKeyType != ""},
		} {
			if f.set {
				c.warnings = append(c.warnings, fmt.Sprintf("`%s` is ignored: it only applies to the proxy, and `use_proxy = false` turns the proxy off. You can remove it.", f.key))
			}
		}
	}
	c.AdapterKeyType = strings.ToUpper(c.AdapterKeyType)
	switch c.AdapterKeyType {
	case "", proxyKeyECDSA, proxyKeyRSA:
	default:
		add("`ansible_proxy_key_type` %q: use ECDSA or RSA (unset: ed25519)", c.AdapterKeyType)
	}
	if c.WinRMUseHTTP {
		c.warnings = append(c.warnings, "`ansible_winrm_use_http` is ignored: bakery-ansible reaches the instance over SSH only (through the proxy for a WinRM communicator). You can remove it.")
	}
	if c.GalaxyForceInstall && c.GalaxyForceWithDeps {
		add("set one of `galaxy_force_install` and `galaxy_force_with_deps` (the second implies the first)")
	}
	for _, g := range []struct {
		key   string
		names []string
	}{{"groups", c.Groups}, {"empty_groups", c.EmptyGroups}} {
		for _, name := range g.names {
			if !inventoryGroupRE.MatchString(name) {
				add("`%s`: %q is not an inventory group name: start with a letter or `_`, then letters, digits, `_` or `-` (in an INI inventory `#` and `;` start comments, `:` makes `:children`/`:vars` sections, and line breaks start new lines)", g.key, name)
			}
		}
	}
	if !inventoryHostRE.MatchString(c.HostAlias) {
		add("`host_alias` %q is not an inventory host name: use letters, digits, `_`, `.` or `-`, not starting with `-` or `.`", c.HostAlias)
	}
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

func regularFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New(path + " is a folder, not a file")
	}
	return nil
}

// absPath makes path absolute against packer's working folder, so the
// commands see the same files whatever folder they run in.
func absPath(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	return abs
}
