package ansible

import (
	"fmt"
	"sort"
	"strings"
)

// command is one program to run: an argv array and a full environment.
// Nothing is ever passed through a shell.
type command struct {
	Path string   // the program (a path or a name looked up on PATH)
	Args []string // arguments after the program name
	Env  []string // the whole environment, NAME=value, sorted, one per name
}

// String is the command as echoed to the user: shell-quoted so it can be
// pasted, and free of secrets because secrets only ever travel in files.
func (c command) String() string {
	parts := make([]string, 0, len(c.Args)+1)
	parts = append(parts, shellQuote(c.Path))
	for _, a := range c.Args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// invocation is everything the ansible-playbook command line depends on,
// already resolved (paths absolute, files written).
type invocation struct {
	Command        string
	Playbook       string
	Inventory      string
	User           string // --user; "" leaves it to the play and Ansible's config
	PrivateKeyFile string // --private-key; "" when the agent or the user's config provides it
	ExtraVarsFile  string // --extra-vars @FILE
	Tags           []string
	SkipTags       []string
	Limit          string
	SSHExtraArgs   []string // the user's ansible_ssh_extra_args
	ExtraArguments []string // the user's extra_arguments, last on the line
	UseSFTP        *bool
	// SCPLegacy passes `-O` to scp: OpenSSH >= 9's scp speaks SFTP, which
	// does not unquote the shell-quoted paths Ansible gives it, so every
	// SCP transfer fails without the legacy protocol.
	SCPLegacy      bool
	ControlPathDir string // per-run folder for ssh ControlMaster sockets
	// Pipelining turns on ANSIBLE_PIPELINING: modules go to python's stdin
	// instead of temp files, so become_user to an unprivileged user needs
	// no world-readable temp files. False when the user's ansible.cfg or
	// environment already decides it.
	Pipelining bool
	// SSHRetries sets ANSIBLE_SSH_RETRIES: how often Ansible retries a
	// command whose ssh failed to connect (exit 255). 0 when the user's
	// ansible.cfg or environment already decides it.
	SSHRetries int
	// Mitogen is the strategy environment of use_mitogen; zero when off.
	Mitogen         mitogenEnv
	AnsibleConfig   string // ANSIBLE_CONFIG to set; "" keeps Ansible's own search
	RolesPath       string
	CollectionsPath string
	UserEnv         []string // ansible_env_vars: win over everything
	BaseEnv         []string // the plugin's environment
}

// sshBaseArgs are always passed to ssh: the host is new for every build
// (and its key unknown), so it is neither checked nor remembered.
var sshBaseArgs = []string{"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"}

// playbookCommand builds the ansible-playbook command. It is pure: same
// input, same output, no I/O.
func playbookCommand(in invocation) command {
	args := []string{in.Playbook, "-i", in.Inventory}
	if in.User != "" {
		args = append(args, "--user", in.User)
	}
	ssh := append([]string{}, sshBaseArgs...)
	if in.PrivateKeyFile != "" {
		args = append(args, "--private-key", in.PrivateKeyFile)
		// Only the build's key: agent keys tried first could use up
		// sshd's MaxAuthTries before it.
		ssh = append(ssh, "-o", "IdentitiesOnly=yes")
	}
	ssh = append(ssh, in.SSHExtraArgs...)
	args = append(args, "--ssh-extra-args", strings.Join(ssh, " "))
	if in.ExtraVarsFile != "" {
		args = append(args, "--extra-vars", "@"+in.ExtraVarsFile)
	}
	if len(in.Tags) > 0 {
		args = append(args, "--tags", strings.Join(in.Tags, ","))
	}
	if len(in.SkipTags) > 0 {
		args = append(args, "--skip-tags", strings.Join(in.SkipTags, ","))
	}
	if in.Limit != "" {
		args = append(args, "--limit", in.Limit)
	}
	if in.SCPLegacy && !hasAny(in.UserEnv, "ANSIBLE_SCP_EXTRA_ARGS") && !hasAny(in.BaseEnv, "ANSIBLE_SCP_EXTRA_ARGS") {
		args = append(args, "--scp-extra-args=-O") // "=": argparse would take a bare -O for an option
	}
	args = append(args, in.ExtraArguments...)

	ours := []string{
		// Lines as they come, not when python's buffer fills.
		"PYTHONUNBUFFERED=1",
		"ANSIBLE_HOST_KEY_CHECKING=False",
		"ANSIBLE_RETRY_FILES_ENABLED=False",
	}
	if in.ControlPathDir != "" && !hasAny(in.UserEnv, "ANSIBLE_SSH_CONTROL_PATH_DIR", "ANSIBLE_SSH_CONTROL_PATH") {
		ours = append(ours, "ANSIBLE_SSH_CONTROL_PATH_DIR="+in.ControlPathDir)
	}
	if in.Pipelining && !hasAny(in.UserEnv, "ANSIBLE_PIPELINING") && !hasAny(in.BaseEnv, "ANSIBLE_PIPELINING") {
		ours = append(ours, "ANSIBLE_PIPELINING=True")
	}
	if in.SSHRetries > 0 && !hasAny(in.UserEnv, "ANSIBLE_SSH_RETRIES") && !hasAny(in.BaseEnv, "ANSIBLE_SSH_RETRIES") {
		ours = append(ours, fmt.Sprintf("ANSIBLE_SSH_RETRIES=%d", in.SSHRetries))
	}
	if in.UseSFTP != nil {
		method := "scp"
		if *in.UseSFTP {
			method = "sftp"
		}
		ours = append(ours, "ANSIBLE_SSH_TRANSFER_METHOD="+method)
	}
	if in.Mitogen.TempDir != "" {
		ours = append(ours, "TMPDIR="+in.Mitogen.TempDir)
	}
	ours = append(ours, sharedEnv(in)...)
	return command{Path: in.Command, Args: args, Env: mergeEnv(in.BaseEnv, ours, in.UserEnv, in.Mitogen.vars())}
}

// galaxyInvocation is what the ansible-galaxy command depends on.
type galaxyInvocation struct {
	Command       string
	Requirements  string
	Force         bool
	ForceWithDeps bool
	invocation    // paths and environment shared with the play
}

// galaxyCommand installs roles and collections in one step: `install -r`
// without `-p` reads both sections, and the paths come from the same
// ANSIBLE_ROLES_PATH/ANSIBLE_COLLECTIONS_PATH the play then uses.
func galaxyCommand(in galaxyInvocation) command {
	args := []string{"install", "-r", in.Requirements}
	switch {
	case in.ForceWithDeps:
		args = append(args, "--force-with-deps")
	case in.Force:
		args = append(args, "--force")
	}
	return command{Path: in.Command, Args: args, Env: mergeEnv(in.BaseEnv, append([]string{"PYTHONUNBUFFERED=1"}, sharedEnv(in.invocation)...), in.UserEnv)}
}

// versionCommand asks ansible-playbook for its version.
func versionCommand(in invocation) command {
	return command{Path: in.Command, Args: []string{"--version"}, Env: mergeEnv(in.BaseEnv, sharedEnv(in), in.UserEnv)}
}

func sharedEnv(in invocation) []string {
	var env []string
	if in.AnsibleConfig != "" && !hasAny(in.UserEnv, "ANSIBLE_CONFIG") && !hasAny(in.BaseEnv, "ANSIBLE_CONFIG") {
		env = append(env, "ANSIBLE_CONFIG="+in.AnsibleConfig)
	}
	if in.RolesPath != "" {
		env = append(env, "ANSIBLE_ROLES_PATH="+in.RolesPath)
	}
	if in.CollectionsPath != "" {
		env = append(env, "ANSIBLE_COLLECTIONS_PATH="+in.CollectionsPath)
	}
	return env
}

// mergeEnv layers environments, later layers winning, and returns one
// sorted entry per name.
func mergeEnv(layers ...[]string) []string {
	m := map[string]string{}
	for _, layer := range layers {
		for _, kv := range layer {
			name, _, _ := strings.Cut(kv, "=")
			m[name] = kv
		}
	}
	out := make([]string, 0, len(m))
	for _, kv := range m {
		out = append(out, kv)
	}
	sort.Strings(out)
	return out
}

func hasAny(env []string, names ...string) bool {
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		for _, n := range names {
			if name == n {
				return true
			}
		}
	}
	return false
}

// shellQuote quotes s for display in a POSIX shell.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%_-+=:,./", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
