package ansible

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// With use_mitogen, Ansible's interpreter discovery is the slowest part of
// a short play. Mitogen needs a Python to run even the discovery's shell
// command, so it tries each name of ansible-core's fallback list
// (python3.13, python3.12, …) as the interpreter of a new SSH connection
// until one starts, runs the discovery there, and then connects once more
// with the path it found: on Amazon Linux 2 (python3.7) that is six failed
// connections and two interpreter bootstraps before the first task. The
// provisioner asks the same question once, through the connection the
// builder already has open, and hands the answer to Ansible as the
// configured default interpreter.

// discoveryTimeout bounds that one command; past it Ansible discovers as
// it always does.
const discoveryTimeout = 20 * time.Second

// discoveryRuleSince is the first ansible-core whose discovery is "the
// first of INTERPRETER_PYTHON_FALLBACK that `command -v` finds as a path".
// Older releases also consult a per-distribution table read from the
// host's os-release, which the provisioner does not repeat.
var discoveryRuleSince = [2]int{2, 19}

// discoveryCommand is the shell command ansible-core runs for discovery
// (executor/interpreter_discovery.py), run with /bin/sh as Ansible runs
// it (its `executable`).
func discoveryCommand(candidates []string) (string, error) {
	if len(candidates) == 0 {
		return "", errors.New("no interpreter candidates")
	}
	parts := make([]string, 0, len(candidates))
	for _, c := range candidates {
		if c == "" || strings.ContainsAny(c, "'\n") {
			return "", fmt.Errorf("interpreter candidate %q cannot be quoted as Ansible quotes it", c)
		}
		parts = append(parts, "command -v '"+c+"'")
	}
	script := "echo FOUND; " + strings.Join(parts, "; ") + "; echo ENDFOUND"
	return "/bin/sh -c " + shellQuote(script), nil
}

var foundRE = regexp.MustCompile(`(?s)^FOUND(.*)ENDFOUND`)

// firstFound reads the discovery command's output as ansible-core does:
// the output must start with FOUND; of the lines up to ENDFOUND, the first
// that is a path wins. "" when there is none (Ansible then warns and falls
// back on its own; the provisioner leaves that to it).
func firstFound(stdout string) string {
	m := foundRE.FindStringSubmatch(stdout)
	if m == nil {
		return ""
	}
	for _, line := range strings.Split(m[1], "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "/") {
			return line
		}
	}
	return ""
}

// discoverPython runs the discovery command through comm and returns the
// interpreter ansible-core would have discovered.
func discoverPython(ctx context.Context, comm packersdk.Communicator, candidates []string) (string, error) {
	script, err := discoveryCommand(candidates)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := &packersdk.RemoteCmd{Command: script, Stdout: &stdout, Stderr: &stderr}
	if err := comm.Start(ctx, cmd); err != nil {
		return "", fmt.Errorf("starting the interpreter discovery: %w", err)
	}
	exited := make(chan int, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case status := <-exited:
		if status != 0 {
			return "", fmt.Errorf("the interpreter discovery exited with %d: %s", status, strings.TrimSpace(stderr.String()))
		}
	case <-ctx.Done():
		return "", fmt.Errorf("the interpreter discovery: %w", ctx.Err())
	}
	found := firstFound(stdout.String())
	if found == "" {
		return "", fmt.Errorf("none of %s found on the instance", strings.Join(candidates, ", "))
	}
	return found, nil
}

// pythonSeedInput is what decides whether the provisioner may answer
// Ansible's discovery itself.
type pythonSeedInput struct {
	Mitogen      bool
	AnsibleCore  string   // MAJOR.MINOR[.…] of the ansible-playbook that runs
	Candidates   []string // its INTERPRETER_PYTHON_FALLBACK default
	OwnInventory bool     // the provisioner wrote the inventory (one host)
	// SameUser: the discovery through the builder's connection runs as
	// the user Ansible logs in as (direct mode with the same user, or the
	// proxy, which runs Ansible's commands through that connection).
	SameUser    bool
	HaveComm    bool
	Env         []string // the play's environment before ours
	AnsibleCfg  string   // the ansible.cfg the play reads
	ExtraArgs   []string // extra_arguments
	ExtraVarSet bool     // ansible_python_interpreter or its fallback list in extra_vars
}

// pythonSeedSkip says why the provisioner leaves discovery to Ansible, ""
// when it may answer it.
func pythonSeedSkip(in pythonSeedInput) string {
	switch {
	case !in.Mitogen:
		return "without Mitogen Ansible's discovery is one command on its own connection"
	case !coreAtLeast(in.AnsibleCore, discoveryRuleSince):
		return "ansible-core " + in.AnsibleCore + " discovers with a per-distribution table"
	case len(in.Candidates) == 0:
		return "ansible-core's fallback list is unknown"
	case !in.OwnInventory:
		return "`inventory_file` is yours"
	case !in.SameUser:
		return "Ansible logs in as another user than the builder"
	case !in.HaveComm:
		return "no builder connection"
	case hasAny(in.Env, "ANSIBLE_PYTHON_INTERPRETER"):
		return "ANSIBLE_PYTHON_INTERPRETER is set"
	case cfgChoosesInterpreter(in.AnsibleCfg):
		return "interpreter_python is set in " + in.AnsibleCfg
	case in.ExtraVarSet || mentionsInterpreter(in.ExtraArgs):
		return "the interpreter is given on the command line"
	}
	return ""
}

// discoveryModes are the values of interpreter_python that ask for
// discovery (ansible-core's INTERPRETER_PYTHON).
var discoveryModes = []string{"auto", "auto_silent", "auto_legacy", "auto_legacy_silent"}

// cfgChoosesInterpreter: ansible.cfg names an interpreter rather than a
// discovery mode. A mode is answered as discovery would answer it (the
// `_silent` ones only hide the warning, which no discovery means none).
func cfgChoosesInterpreter(path string) bool {
	v, ok := cfgValue(path, "interpreter_python")
	return ok && !slices.Contains(discoveryModes, strings.Trim(v, `"'`))
}

func mentionsInterpreter(args []string) bool {
	for _, a := range args {
		if strings.Contains(a, "ansible_python_interpreter") || strings.Contains(a, "ansible_interpreter_python_fallback") {
			return true
		}
	}
	return false
}

// coreAtLeast compares an ansible-core version with MAJOR.MINOR.
func coreAtLeast(version string, want [2]int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > want[0] || maj == want[0] && minor >= want[1]
}
