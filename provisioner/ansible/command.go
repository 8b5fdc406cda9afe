package ansible

import (
	"fmt"
	"sort"
	"strconv"
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
// pasted, with the values of `-e`/`--extra-vars` given on the command line
// (extra_arguments) masked. Our own secrets only ever travel in files.
func (c command) String() string {
	parts := make([]string, 0, len(c.Args)+1)
	parts = append(parts, shellQuote(c.Path))
	for _, a := range maskExtraVars(c.Args) {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

const masked = "<sensitive>"

// maskExtraVars hides the values of inline extra vars: `-e k=v`,
// `-ek=v`, `--extra-vars=k=v`, and JSON/YAML given the same ways. Files
// (`@path`) are shown as they are.
func maskExtraVars(args []string) []string {
	out := make([]string, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "-e" || a == "--extra-vars") && i+1 < len(args):
			out[i] = a
			i++
			out[i] = maskVars(args[i])
		case strings.HasPrefix(a, "--extra-vars="):
			out[i] = "--extra-vars=" + maskVars(strings.TrimPrefix(a, "--extra-vars="))
		case strings.HasPrefix(a, "-e") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			out[i] = "-e" + maskVars(a[2:])
		default:
			out[i] = a
		}
	}
	return out
}

// maskVars masks one extra-vars argument: keys stay, values go.
func maskVars(v string) string {
	t := strings.TrimSpace(v)
	switch {
	case strings.HasPrefix(t, "@"):
		return v
	case strings.HasPrefix(t, "{"), strings.HasPrefix(t, "["):
		return masked
	}
	fields := strings.Fields(v)
	for i, f := range fields {
		if k, _, ok := strings.Cut(f, "="); ok {
			fields[i] = k + "=" + masked
		} else {
			fields[i] = masked // part of a quoted value
		}
	}
	return strings.Join(fields, " ")
}

// inlineVarValues are the values of the extra vars given on the command
// line, for the log filter. Approximate (Ansible's own k=v parser handles
// quotes): a value cut in two is registered as its parts.
func inlineVarValues(args []string) []string {
	var vals []string
	take := func(v string) {
		t := strings.TrimSpace(v)
		if strings.HasPrefix(t, "@") {
			return
		}
		vals = append(vals, t) // JSON/YAML: the whole text
		for _, f := range strings.Fields(t) {
			if _, val, ok := strings.Cut(f, "="); ok {
				vals = append(vals, strings.Trim(val, `'"`))
			}
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "-e" || a == "--extra-vars") && i+1 < len(args):
			i++
			take(args[i])
		case strings.HasPrefix(a, "--extra-vars="):
			take(strings.TrimPrefix(a, "--extra-vars="))
		case strings.HasPrefix(a, "-e") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			take(a[2:])
		}
	}
	return vals
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
	// KnownHostsFile is the run's own known_hosts (0600, in the run's 0700
	// folder). With HostKeyPinned it already holds the key the builder saw
	// and ssh accepts no other; else ssh records the first key it sees and
	// holds the rest of the play to it.
	KnownHostsFile string
	HostKeyPinned  bool
	// ProxyCommand reaches the instance the way the builder did (its
	// bastion); "" for a straight connection.
	ProxyCommand   string
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
	// PythonInterpreter is ANSIBLE_PYTHON_INTERPRETER: the configured
	// default, below every variable a user can set (interpreter.go); ""
	// leaves it to Ansible's discovery.
	PythonInterpreter string
	// Mitogen is the strategy environment of use_mitogen; zero when off.
	Mitogen         mitogenEnv
	AnsibleConfig   string // ANSIBLE_CONFIG to set; "" keeps Ansible's own search
	RolesPath       string
	CollectionsPath string
	UserEnv         []string // ansible_env_vars: win over everything
	BaseEnv         []string // the plugin's environment
}

// sshArgs is --ssh-extra-args. ssh keeps the first value it reads for an
// option, so the user's ansible_ssh_extra_args come first and win (e.g.
// `-o StrictHostKeyChecking=yes` with their own known_hosts). Ansible
// splits the line like a shell, so our paths are quoted.
func sshArgs(in invocation) string {
	ssh := append([]string{}, in.SSHExtraArgs...)
	if in.KnownHostsFile != "" {
		strict := "accept-new"
		if in.HostKeyPinned {
			strict = "yes"
		}
		// The machine's own known_hosts could hold an older key for a
		// reused address: only what this build saw counts.
		ssh = append(ssh, "-o", shellQuote("UserKnownHostsFile="+in.KnownHostsFile), "-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "StrictHostKeyChecking="+strict)
	}
	if in.PrivateKeyFile != "" {
		// Only the build's key: agent keys tried first could use up
		// sshd's MaxAuthTries before it.
		ssh = append(ssh, "-o", "IdentitiesOnly=yes")
	}
	if in.ProxyCommand != "" {
		ssh = append(ssh, "-o", shellQuote("ProxyCommand="+in.ProxyCommand))
	}
	return strings.Join(ssh, " ")
}

// bastionProxyCommand is ssh's ProxyCommand to the instance through the
// builder's bastion: the same jump host, user and key as the builder's
// communicator, the bastion's host key held to its first sighting in the
// run's known_hosts. ssh runs it through the shell after expanding %
// tokens, so every word is shell-quoted and its % doubled.
func bastionProxyCommand(b bastion, knownHosts string) string {
	words := []string{"ssh", "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=" + knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=accept-new", "-p", strconv.Itoa(b.Port)}
	if b.User != "" {
		words = append(words, "-l", b.User)
	}
	if b.KeyFile != "" {
		words = append(words, "-i", b.KeyFile, "-o", "IdentitiesOnly=yes")
	}
	if b.CertFile != "" {
		words = append(words, "-o", "CertificateFile="+b.CertFile)
	}
	for i, w := range words {
		words[i] = shellQuote(strings.ReplaceAll(w, "%", "%%"))
	}
	// "--": a host that starts with "-" is a host, not an option.
	return strings.Join(append(words, "-W", "%h:%p", "--", shellQuote(strings.ReplaceAll(b.Host, "%", "%%"))), " ")
}

// playbookCommand builds the ansible-playbook command. It is pure: same
// input, same output, no I/O.
func playbookCommand(in invocation) command {
	args := []string{in.Playbook, "-i", in.Inventory}
	if in.User != "" {
		args = append(args, "--user", in.User)
	}
	if in.PrivateKeyFile != "" {
		args = append(args, "--private-key", in.PrivateKeyFile)
	}
	if ssh := sshArgs(in); ssh != "" {
		args = append(args, "--ssh-extra-args", ssh)
	}
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

	// On: with it off Ansible puts its own StrictHostKeyChecking=no before
	// --ssh-extra-args, and that first value would win over our pinned key
	// and the user's choice. Mitogen turns it on into its own
	// StrictHostKeyChecking yes, also first: fine with a pinned key, but
	// with none known yet (accept-new) it would refuse the host, so there
	// it stays off, as Mitogen had it before.
	hostKeyChecking := "True"
	if in.Mitogen.StrategyPlugins != "" && !in.HostKeyPinned {
		hostKeyChecking = "False"
	}
	ours := []string{
		// Lines as they come, not when python's buffer fills.
		"PYTHONUNBUFFERED=1",
		"ANSIBLE_HOST_KEY_CHECKING=" + hostKeyChecking,
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
	if in.PythonInterpreter != "" && !hasAny(in.UserEnv, "ANSIBLE_PYTHON_INTERPRETER") && !hasAny(in.BaseEnv, "ANSIBLE_PYTHON_INTERPRETER") {
		ours = append(ours, "ANSIBLE_PYTHON_INTERPRETER="+in.PythonInterpreter)
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
