package ansible

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// mitogenTested is the Mitogen release the test-bed pins and the e2e
// tests run (testbed/requirements-ansible-*.txt); the errors recommend it.
const mitogenTested = "0.3.54"

// mitogenStrategy is the strategy use_mitogen sets unless the user chose
// one: Ansible's default `linear`, run by Mitogen.
const mitogenStrategy = "mitogen_linear"

// mitogenCheckTimeout bounds the one Python start that looks for Mitogen.
const mitogenCheckTimeout = time.Minute

// mitogenInstall is what use_mitogen found in the Python that runs the
// chosen ansible-playbook.
type mitogenInstall struct {
	Python      string // the interpreter named on ansible-playbook's first line
	Version     string // Mitogen's
	AnsibleCore string // ansible-core's, as that Python imports it
	StrategyDir string // ansible_mitogen/plugins/strategy, for ANSIBLE_STRATEGY_PLUGINS
	// InterpreterFallback is ansible-core's INTERPRETER_PYTHON_FALLBACK
	// default, the names its discovery looks for; nil if unknown.
	InterpreterFallback []string
}

// mitogenProbe runs in the interpreter that runs ansible-playbook: it
// imports Mitogen and says where its strategy plugins are, and which
// interpreters ansible-core's discovery looks for (the default of
// INTERPRETER_PYTHON_FALLBACK in the definitions ansible-core loads its
// settings from; interpreter.go). With the argument "full" it also
// imports what those plugins import first (ansible_mitogen.loaders
// refuses Ansible releases that Mitogen does not support), which loads
// Ansible's plugin machinery: 0.7 s instead of 0.1 s. One JSON line out.
const mitogenProbe = `import json, os, sys
out = {"python": sys.executable}
try:
    import ansible.release
    out["ansible"] = ansible.release.__version__
    try:
        import yaml
        with open(os.path.join(os.path.dirname(os.path.abspath(ansible.release.__file__)), "config", "base.yml")) as f:
            defs = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        out["interpreter_fallback"] = [str(p) for p in defs["INTERPRETER_PYTHON_FALLBACK"]["default"]]
    except Exception:
        pass
except Exception as e:
    out["no_ansible"] = "%s: %s" % (type(e).__name__, e)
try:
    import mitogen, ansible_mitogen
    out["mitogen"] = ".".join(str(p) for p in mitogen.__version__)
    out["strategy_dir"] = os.path.join(os.path.dirname(os.path.abspath(ansible_mitogen.__file__)), "plugins", "strategy")
    if sys.argv[1:] == ["full"]:
        import ansible_mitogen.loaders
except ImportError as e:
    if "mitogen" in out:
        out["unsupported"] = "%s: %s" % (type(e).__name__, e)
    else:
        out["missing"] = "%s: %s" % (type(e).__name__, e)
except Exception as e:
    out["unsupported"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
`

type mitogenProbeResult struct {
	Python      string   `json:"python"`
	Ansible     string   `json:"ansible"`
	NoAnsible   string   `json:"no_ansible"`
	Mitogen     string   `json:"mitogen"`
	StrategyDir string   `json:"strategy_dir"`
	Missing     string   `json:"missing"`
	Unsupported string   `json:"unsupported"`
	Fallback    []string `json:"interpreter_fallback"`
}

// findMitogen asks the Python that runs program (ansible-playbook: its
// `#!` line names it, as the kernel reads it) whether it can import
// Mitogen's Ansible plugins, and where they are. Its errors say what to
// install into which environment. env is ansible-playbook's environment.
// full: also check that Mitogen supports that ansible-core (see
// mitogenProbe).
func findMitogen(ctx context.Context, run runner, program string, env []string, full bool) (mitogenInstall, error) {
	// As the runner will find it: on the plugin's own PATH.
	program, err := exec.LookPath(program)
	if err == nil {
		program = absPath(program)
	}
	if err != nil {
		return mitogenInstall{}, fmt.Errorf("`use_mitogen`: finding the ansible-playbook to run: %w (set `command` to its path)", err)
	}
	interp, err := shebang(program, env)
	if err != nil {
		return mitogenInstall{}, fmt.Errorf("`use_mitogen`: %w; point `command` at ansible-playbook itself (the Python script pip installed), not a wrapper", err)
	}
	ctx, cancel := context.WithTimeout(ctx, mitogenCheckTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	c := command{Path: interp[0], Args: append(append([]string{}, interp[1:]...), "-c", mitogenProbe), Env: env}
	if full {
		c.Args = append(c.Args, "full")
	}
	if err := run.Run(ctx, c, &out, &errOut); err != nil {
		return mitogenInstall{}, fmt.Errorf("`use_mitogen`: asking %s (the Python on the first line of %s) for Mitogen: %w: %s",
			interp[0], program, err, strings.TrimSpace(errOut.String()))
	}
	var res mitogenProbeResult
	last := lastLine(out.String())
	if err := json.Unmarshal([]byte(last), &res); err != nil {
		return mitogenInstall{}, fmt.Errorf("`use_mitogen`: %s (the Python on the first line of %s) answered %q, not the expected JSON: %w",
			interp[0], program, last, err)
	}
	python := res.Python
	if python == "" {
		python = interp[0]
	}
	install := fmt.Sprintf("`%s -m pip install mitogen==%s`", python, mitogenTested)
	switch {
	case res.NoAnsible != "":
		return mitogenInstall{}, fmt.Errorf("`use_mitogen`: %s, the Python on the first line of %s, cannot import ansible (%s): set `command` to the ansible-playbook of the environment Ansible is installed in",
			python, program, res.NoAnsible)
	case res.Missing != "":
		return mitogenInstall{}, fmt.Errorf("`use_mitogen`: Mitogen is not installed in %s, the Python that runs %s (%s): install it into that environment with %s (the version bakery-ansible is tested with), or set `use_mitogen = false`",
			python, program, res.Missing, install)
	case res.Unsupported != "":
		return mitogenInstall{}, fmt.Errorf("`use_mitogen`: Mitogen %s in %s does not support ansible-core %s (%s): install a Mitogen release that does into that environment, e.g. %s, or set `use_mitogen = false`",
			res.Mitogen, python, res.Ansible, shorten(res.Unsupported, 200), install)
	}
	if !fileExists(filepath.Join(res.StrategyDir, mitogenStrategy+".py")) {
		return mitogenInstall{}, fmt.Errorf("`use_mitogen`: Mitogen %s in %s has no %s strategy in %s: reinstall it with %s",
			res.Mitogen, python, mitogenStrategy, res.StrategyDir, install)
	}
	return mitogenInstall{Python: python, Version: res.Mitogen, AnsibleCore: res.Ansible, StrategyDir: res.StrategyDir, InterpreterFallback: res.Fallback}, nil
}

// lookPathIn finds name as env(1) would with env's PATH; a name with a
// slash is used as is.
func lookPathIn(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", err
		}
		return absPath(name), nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return absPath(p), nil
		}
	}
	return "", fmt.Errorf("%s is not on PATH: %w", name, exec.ErrNotFound)
}

// shebang returns the interpreter and its arguments from program's `#!`
// line; `#!/usr/bin/env python3` is resolved on env's PATH, as env would.
// Only a Python is accepted: anything else is a wrapper whose Python
// cannot be known without running it.
func shebang(program string, env []string) ([]string, error) {
	f, err := os.Open(program)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return nil, fmt.Errorf("reading the first line of %s: %w", program, err)
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "#!")
	if !ok {
		return nil, fmt.Errorf("%s does not start with `#!`, so which Python runs it is unknown", program)
	}
	fields := strings.Fields(rest)
	if len(fields) > 0 && filepath.Base(fields[0]) == "env" {
		fields = fields[1:]
		for len(fields) > 0 && strings.HasPrefix(fields[0], "-") { // env -S
			fields = fields[1:]
		}
		if len(fields) > 0 {
			p, err := lookPathIn(fields[0], env)
			if err != nil {
				return nil, fmt.Errorf("the first line of %s names %s: %w", program, fields[0], err)
			}
			fields[0] = p
		}
	}
	if len(fields) == 0 || !strings.HasPrefix(filepath.Base(fields[0]), "python") {
		return nil, fmt.Errorf("the first line of %s is %q, not a Python", program, strings.TrimSpace(line))
	}
	return fields, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[i+1:])
	}
	return s
}

// shorten puts text on one line and cuts it to about n bytes: Mitogen's
// refusal is a paragraph with links.
func shorten(text string, n int) string {
	s := strings.Join(strings.Fields(text), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// ansibleStrategyPluginsDefault is Ansible's own strategy plugin path,
// kept behind Mitogen's when nobody set one.
const ansibleStrategyPluginsDefault = "~/.ansible/plugins/strategy:/usr/share/ansible/plugins/strategy"

// mitogenEnv is how use_mitogen changes the play's environment, decided
// from the user's environment and ansible.cfg and nothing else: the
// user's files are never edited.
type mitogenEnv struct {
	// StrategyPlugins is ANSIBLE_STRATEGY_PLUGINS: Mitogen's folder first,
	// then whatever path was in force (the environment's, else
	// ansible.cfg's, else Ansible's default).
	StrategyPlugins string
	// Strategy is ANSIBLE_STRATEGY to set; "" when the user chose one.
	Strategy string
	// Kept says where the user's strategy comes from, when it is kept.
	Kept string
	// TempDir is the play's TMPDIR: Mitogen's controller keeps a unix
	// socket there and leaves it behind when the play is interrupted, so
	// it goes into a folder of the run that is removed on every path.
	TempDir string
}

// mitogenSettings decides mitogenEnv. cfgPath is the ansible.cfg
// ansible-playbook will read ("" none); env is the environment before
// our variables, the user's ansible_env_vars applied.
func mitogenSettings(m mitogenInstall, cfgPath string, env []string) mitogenEnv {
	out := mitogenEnv{Strategy: mitogenStrategy}
	path := ansibleStrategyPluginsDefault
	if v, ok := envValue(env, "ANSIBLE_STRATEGY_PLUGINS"); ok {
		path = v
	} else if v, ok := cfgValue(cfgPath, "strategy_plugins"); ok {
		// Relative entries of ansible.cfg are relative to its folder;
		// in the environment they would be relative to packer's.
		var parts []string
		for _, p := range filepath.SplitList(v) {
			if p != "" && !filepath.IsAbs(p) && !strings.HasPrefix(p, "~") {
				p = filepath.Join(filepath.Dir(cfgPath), p)
			}
			parts = append(parts, p)
		}
		path = strings.Join(parts, string(filepath.ListSeparator))
	}
	out.StrategyPlugins = m.StrategyDir
	if path != "" {
		out.StrategyPlugins += string(filepath.ListSeparator) + path
	}
	if v, ok := envValue(env, "ANSIBLE_STRATEGY"); ok {
		out.Strategy, out.Kept = "", fmt.Sprintf("ANSIBLE_STRATEGY=%s", v)
	} else if v, ok := cfgValue(cfgPath, "strategy"); ok {
		out.Strategy, out.Kept = "", fmt.Sprintf("strategy = %s in %s", v, cfgPath)
	}
	return out
}

// vars are the environment entries; they win over the user's
// ANSIBLE_STRATEGY_PLUGINS, which they contain.
func (e mitogenEnv) vars() []string {
	if e.StrategyPlugins == "" {
		return nil
	}
	out := []string{"ANSIBLE_STRATEGY_PLUGINS=" + e.StrategyPlugins}
	if e.Strategy != "" {
		out = append(out, "ANSIBLE_STRATEGY="+e.Strategy)
	}
	return out
}

// describe is the line the build prints about Mitogen.
func (e mitogenEnv) describe(m mitogenInstall) string {
	s := fmt.Sprintf("Mitogen %s (ansible-core %s, %s): ", m.Version, m.AnsibleCore, m.Python)
	if e.Strategy != "" {
		return s + "strategy " + e.Strategy
	}
	return s + "your strategy is kept (" + e.Kept + "); only plays whose strategy is mitogen_linear, mitogen_free or mitogen_host_pinned run with Mitogen"
}

// envValue is the value of the last entry for name in env.
func envValue(env []string, name string) (string, bool) {
	val, found := "", false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			val, found = v, true
		}
	}
	return val, found
}

// mitogenCheck is the full check (does this Mitogen support this
// ansible-core?) started by Prepare after the quick one, so its Python
// start overlaps the builder's launch and, when the builder is quicker
// (an instance already up, the null builder), ansible-playbook's own
// start: see watchMitogenCheck.
type mitogenCheck struct {
	done   chan struct{}
	cancel context.CancelFunc
	err    error
}

func startMitogenCheck(run runner, program string, env []string) *mitogenCheck {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	c := &mitogenCheck{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(c.done)
		defer cancel()
		_, c.err = findMitogen(ctx, run, program, env, true)
	}()
	return c
}

// wait returns the check's verdict, or ctx's error if the build is
// cancelled first.
func (c *mitogenCheck) wait(ctx context.Context) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		c.cancel()
		return ctx.Err()
	}
}

// watchMitogenCheck lets the play start before the full Mitogen check has
// finished: ansible-playbook spends its first second starting Python and
// loading Ansible, and loads Mitogen's strategy (the same import the check
// makes, so an unsupported pair fails there too) before the first task.
// If the check refuses while the play runs, the play is stopped at once.
// refusal, called once the play has ended, waits for the check's verdict
// and returns its error, which says what to install; nil when the check
// passed or the build was cancelled.
func (p *Provisioner) watchMitogenCheck(ctx context.Context) (playCtx context.Context, refusal func() error) {
	c := p.mitogenCheck
	if !p.config.UseMitogen || c == nil {
		return ctx, func() error { return nil }
	}
	playCtx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-c.done:
			if c.err != nil {
				cancel()
			}
		case <-playCtx.Done():
		}
	}()
	return playCtx, func() error {
		defer cancel()
		if err := c.wait(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	}
}
