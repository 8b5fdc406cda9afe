package ansible

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeAnsible writes an ansible-playbook whose first line is firstLine.
func fakeAnsible(t *testing.T, firstLine string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ansible-playbook")
	if err := os.WriteFile(p, []byte(firstLine+"\nimport sys\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

const probeFound = `{"python": "/venv/bin/python3", "ansible": "2.19.14", "mitogen": "0.3.54", "strategy_dir": "%s"}`

func strategyDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ansible_mitogen", "plugins", "strategy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mitogen_linear.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFindMitogenAsksTheShebangsPython(t *testing.T) {
	dir := strategyDir(t)
	bin := t.TempDir()
	python := filepath.Join(bin, "python3.11")
	if err := os.WriteFile(python, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, firstLine, wantPython string
		wantArgs                    []string
	}{
		{"absolute", "#!/venv/bin/python3", "/venv/bin/python3", nil},
		{"with a flag", "#!/usr/bin/python3 -s", "/usr/bin/python3", []string{"-s"}},
		{"env on PATH", "#!/usr/bin/env python3.11", python, nil},
		{"env -S", "#!/usr/bin/env -S python3.11 -E", python, []string{"-E"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stubs := newStubRunner(t)
			stubs.Register(`^`+tc.wantPython+` .*-c import json`, strings.ReplaceAll(probeFound, "%s", dir), nil, func(c command) {
				if got := c.Args[:len(c.Args)-2]; !slices.Equal(got, tc.wantArgs) && !(len(got) == 0 && tc.wantArgs == nil) {
					t.Errorf("interpreter args %q, want %q", got, tc.wantArgs)
				}
				if !slices.Contains(c.Env, "PATH="+bin) {
					t.Errorf("the probe runs without ansible-playbook's environment: %q", c.Env)
				}
			})
			m, err := findMitogen(t.Context(), stubs, fakeAnsible(t, tc.firstLine), []string{"PATH=" + bin}, false)
			if err != nil {
				t.Fatal(err)
			}
			if m.StrategyDir != dir || m.Version != "0.3.54" || m.AnsibleCore != "2.19.14" || m.Python != "/venv/bin/python3" {
				t.Errorf("found %+v", m)
			}
		})
	}
}

func TestFindMitogenSaysWhatToInstallWhere(t *testing.T) {
	for _, tc := range []struct {
		name, firstLine, probe string
		probeErr               error
		want                   []string
		full                   bool
	}{
		{"missing", "#!/venv/bin/python3",
			`{"python": "/venv/bin/python3", "ansible": "2.19.14", "missing": "ModuleNotFoundError: No module named 'mitogen'"}`, nil,
			[]string{"Mitogen is not installed in /venv/bin/python3", "`/venv/bin/python3 -m pip install mitogen==" + mitogenTested + "`", "`use_mitogen = false`"}, false},
		{"unsupported", "#!/venv/bin/python3",
			`{"python": "/venv/bin/python3", "ansible": "2.19.14", "mitogen": "0.3.7", "strategy_dir": "/x", "unsupported": "AnsibleError: Your Ansible version ((2, 19, 14)) is too recent.\nThe most recent version\nsupported by Mitogen for Ansible is (2, 16).x."}`, nil,
			[]string{"Mitogen 0.3.7 in /venv/bin/python3 does not support ansible-core 2.19.14", "is too recent. The most recent version supported", "mitogen==" + mitogenTested}, true},
		{"no ansible in that python", "#!/usr/bin/python3",
			`{"python": "/usr/bin/python3", "no_ansible": "ModuleNotFoundError: No module named 'ansible'", "missing": "x"}`, nil,
			[]string{"/usr/bin/python3, the Python on the first line of", "cannot import ansible"}, false},
		{"no strategy plugin", "#!/venv/bin/python3",
			`{"python": "/venv/bin/python3", "ansible": "2.19.14", "mitogen": "0.3.54", "strategy_dir": "/nowhere"}`, nil,
			[]string{"has no mitogen_linear strategy in /nowhere"}, false},
		{"python fails", "#!/venv/bin/python3", "", errors.New("exit status 1"),
			[]string{"asking /venv/bin/python3", "exit status 1"}, false},
		{"a shell wrapper", "#!/bin/sh", "", nil,
			[]string{`is "#!/bin/sh", not a Python`, "point `command` at ansible-playbook itself"}, false},
		{"no shebang", "ELF", "", nil,
			[]string{"does not start with `#!`"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stubs := newStubRunner(t)
			if tc.probe != "" || tc.probeErr != nil {
				pattern := `(?s)python3 -c import json.*\n$`
				if tc.full {
					pattern = `(?s)python3 -c import json.* full$`
				}
				stubs.Register(pattern, tc.probe, tc.probeErr, nil)
			}
			_, err := findMitogen(t.Context(), stubs, fakeAnsible(t, tc.firstLine), nil, tc.full)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, "`use_mitogen`") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// Prepare refuses, so the builder never launches an instance for a play
// that cannot run.
func TestPrepareRefusesWithoutMitogen(t *testing.T) {
	playbook := filepath.Join(t.TempDir(), "site.yml")
	if err := os.WriteFile(playbook, []byte("- hosts: all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stubs := newStubRunner(t)
	stubs.Register(`^/venv/bin/python3 -c`, `{"python": "/venv/bin/python3", "ansible": "2.19.14", "missing": "ModuleNotFoundError: No module named 'mitogen'"}`, nil, nil)
	p := &Provisioner{runner: stubs}
	err := p.Prepare(map[string]interface{}{"playbook_file": playbook, "use_mitogen": true, "command": fakeAnsible(t, "#!/venv/bin/python3")})
	if err == nil || !strings.Contains(err.Error(), "pip install mitogen==") {
		t.Fatalf("Prepare: %v", err)
	}
	// Off: nothing is asked.
	p = &Provisioner{runner: newStubRunner(t)}
	if err := p.Prepare(map[string]interface{}{"playbook_file": playbook, "command": fakeAnsible(t, "#!/venv/bin/python3")}); err != nil {
		t.Fatal(err)
	}
}

func TestMitogenSettingsHonourTheUsersChoices(t *testing.T) {
	m := mitogenInstall{StrategyDir: "/m/strategy"}
	cfgDir := t.TempDir()
	cfg := func(name, text string) string {
		p := filepath.Join(cfgDir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withStrategy := cfg("strategy.cfg", "[defaults]\nstrategy = free ; people's comment\n")
	withPlugins := cfg("plugins.cfg", "[defaults]\nstrategy_plugins = plugins/strategy:/abs/strategy\n")
	for _, tc := range []struct {
		name       string
		cfg        string
		env        []string
		wantVars   []string
		wantKept   string
		noStrategy bool
	}{
		{name: "defaults", wantVars: []string{"ANSIBLE_STRATEGY_PLUGINS=/m/strategy:" + ansibleStrategyPluginsDefault, "ANSIBLE_STRATEGY=mitogen_linear"}},
		{name: "user's env strategy kept", env: []string{"ANSIBLE_STRATEGY=mitogen_free"},
			wantVars: []string{"ANSIBLE_STRATEGY_PLUGINS=/m/strategy:" + ansibleStrategyPluginsDefault}, wantKept: "ANSIBLE_STRATEGY=mitogen_free", noStrategy: true},
		{name: "ansible.cfg strategy kept", cfg: withStrategy,
			wantVars: []string{"ANSIBLE_STRATEGY_PLUGINS=/m/strategy:" + ansibleStrategyPluginsDefault}, wantKept: "strategy = free in " + withStrategy, noStrategy: true},
		{name: "user's env plugin path kept behind", env: []string{"ANSIBLE_STRATEGY_PLUGINS=/mine"},
			wantVars: []string{"ANSIBLE_STRATEGY_PLUGINS=/m/strategy:/mine", "ANSIBLE_STRATEGY=mitogen_linear"}},
		{name: "ansible.cfg plugin path kept, relative to its folder", cfg: withPlugins,
			wantVars: []string{"ANSIBLE_STRATEGY_PLUGINS=/m/strategy:" + filepath.Join(cfgDir, "plugins/strategy") + ":/abs/strategy", "ANSIBLE_STRATEGY=mitogen_linear"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mitogenSettings(m, tc.cfg, tc.env)
			if got := e.vars(); !slices.Equal(got, tc.wantVars) {
				t.Errorf("vars %q, want %q", got, tc.wantVars)
			}
			if e.Kept != tc.wantKept {
				t.Errorf("kept %q, want %q", e.Kept, tc.wantKept)
			}
			if desc := e.describe(m); tc.noStrategy != strings.Contains(desc, "your strategy is kept") {
				t.Errorf("describe: %s", desc)
			}
		})
	}
}

// The strategy path reaches ansible-playbook even when the user set
// their own ANSIBLE_STRATEGY_PLUGINS (it is kept inside ours), and
// nothing of Mitogen's is set when the option is off.
func TestPlaybookCommandMitogenEnv(t *testing.T) {
	in := invocation{Command: "ansible-playbook", Playbook: "/p.yml", Inventory: "/i",
		UserEnv: []string{"ANSIBLE_STRATEGY_PLUGINS=/mine"}}
	if env := playbookCommand(in).Env; hasAny(env, "ANSIBLE_STRATEGY") || !slices.Contains(env, "ANSIBLE_STRATEGY_PLUGINS=/mine") {
		t.Errorf("use_mitogen off changed the strategy: %q", env)
	}
	in.Mitogen = mitogenSettings(mitogenInstall{StrategyDir: "/m"}, "", in.UserEnv)
	env := playbookCommand(in).Env
	for _, want := range []string{"ANSIBLE_STRATEGY_PLUGINS=/m:/mine", "ANSIBLE_STRATEGY=mitogen_linear"} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %s: %q", want, env)
		}
	}
}

// Mitogen's socket goes into the run's folder unless the user set TMPDIR.
func TestPlaybookCommandMitogenTempDir(t *testing.T) {
	in := invocation{Command: "ansible-playbook", BaseEnv: []string{"TMPDIR=/tmp"}, Mitogen: mitogenEnv{StrategyPlugins: "/m", TempDir: "/tmp/bakery-cp-1/tmp"}}
	if env := playbookCommand(in).Env; !slices.Contains(env, "TMPDIR=/tmp/bakery-cp-1/tmp") {
		t.Errorf("TMPDIR not the run's folder: %q", env)
	}
	in.UserEnv = []string{"TMPDIR=/mine"}
	if env := playbookCommand(in).Env; !slices.Contains(env, "TMPDIR=/mine") {
		t.Errorf("the user's TMPDIR lost: %q", env)
	}
}

// Prepare's quick look finds Mitogen; the full check, which imports what
// Mitogen's strategy imports, says it does not support this ansible-core.
// The play, started meanwhile, is stopped at once and Provision says what
// to install.
func TestProvisionStopsThePlayWhenTheFullMitogenCheckRefuses(t *testing.T) {
	dir, playbook, stubs := mitogenRun(t)
	stubs.Register(`(?s)^/venv/bin/python3 -c import json.*\n$`, strings.ReplaceAll(probeFound, "%s", dir), nil, nil)
	stubs.Register(`(?s)^/venv/bin/python3 -c import json.* full$`,
		`{"python": "/venv/bin/python3", "ansible": "2.21.0", "mitogen": "0.3.54", "strategy_dir": "`+dir+`", "unsupported": "AnsibleError: too recent"}`, nil, nil)
	stubs.Register(`^ssh -V$`, "OpenSSH_9.2p1", nil, nil)
	play := &blockingPlay{stubRunner: stubs, stopped: make(chan struct{})}
	p := &Provisioner{runner: play, reach: func(string, int) error { return nil }}
	if err := p.Prepare(map[string]interface{}{"playbook_file": playbook, "use_mitogen": true, "command": fakeAnsible(t, "#!/venv/bin/python3")}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	ui, _ := testUi()
	err := p.Provision(t.Context(), ui, nil, generated())
	if err == nil || !strings.Contains(err.Error(), "does not support ansible-core 2.21.0") || !strings.Contains(err.Error(), "pip install mitogen==") {
		t.Fatalf("Provision: %v", err)
	}
	select {
	case <-play.stopped:
	default:
		t.Error("the play was not stopped by the check's refusal")
	}
}

// mitogenRun is what a Provision test with use_mitogen starts from:
// Mitogen's strategy folder, a playbook, a private TMPDIR and the stubs.
func mitogenRun(t *testing.T) (strategies, playbook string, stubs *stubRunner) {
	t.Helper()
	strategies = strategyDir(t)
	playbook = filepath.Join(t.TempDir(), "site.yml")
	if err := os.WriteFile(playbook, []byte("- hosts: all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", t.TempDir())
	return strategies, playbook, newStubRunner(t)
}

// blockingPlay runs ansible-playbook as a play that only ends when it is
// stopped (or after 10 s); everything else goes to the stubs.
type blockingPlay struct {
	*stubRunner
	stopped chan struct{}
}

func (b *blockingPlay) Run(ctx context.Context, c command, stdout, stderr io.Writer) error {
	if filepath.Base(c.Path) != "ansible-playbook" {
		return b.stubRunner.Run(ctx, c, stdout, stderr)
	}
	select {
	case <-ctx.Done():
		close(b.stopped)
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return nil
	}
}

// The default `command = "ansible-playbook"` is found on PATH, as the
// runner will find it, and its first line read.
func TestFindMitogenLooksUpTheCommandOnPath(t *testing.T) {
	bin := filepath.Dir(fakeAnsible(t, "#!/venv/bin/python3"))
	t.Setenv("PATH", bin)
	stubs := newStubRunner(t)
	stubs.Register(`^/venv/bin/python3 -c`, strings.ReplaceAll(probeFound, "%s", strategyDir(t)), nil, nil)
	if _, err := findMitogen(t.Context(), stubs, "ansible-playbook", nil, false); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := findMitogen(t.Context(), newStubRunner(t), "ansible-playbook", nil, false); err == nil || !strings.Contains(err.Error(), "set `command` to its path") {
		t.Errorf("not on PATH: %v", err)
	}
}

// With use_mitogen the whole run: Prepare's look tells the ansible-core
// (no `--version` run), the play gets Mitogen's strategy, its plugin path
// and a TMPDIR inside the run's folder, which is gone afterwards.
func TestProvisionWithMitogen(t *testing.T) {
	dir := strategyDir(t)
	playbook := filepath.Join(t.TempDir(), "site.yml")
	if err := os.WriteFile(playbook, []byte("- hosts: all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	stubs := newStubRunner(t)
	found := strings.ReplaceAll(probeFound, "%s", dir)
	stubs.Register(`(?s)^/venv/bin/python3 -c import json.*\n$`, found, nil, nil)
	stubs.Register(`(?s)^/venv/bin/python3 -c import json.* full$`, found, nil, nil)
	stubs.Register(`^ssh -V$`, "OpenSSH_9.2p1", nil, nil)
	var mitogenTmp string
	stubs.Register(`ansible-playbook .*site\.yml`, "PLAY RECAP ***\n", nil, func(c command) {
		for _, want := range []string{"ANSIBLE_STRATEGY=mitogen_linear", "ANSIBLE_STRATEGY_PLUGINS=" + dir + ":" + ansibleStrategyPluginsDefault} {
			if !slices.Contains(c.Env, want) {
				t.Errorf("env lacks %s", want)
			}
		}
		mitogenTmp, _ = envValue(c.Env, "TMPDIR")
		if fi, err := os.Stat(mitogenTmp); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 || !strings.HasPrefix(filepath.Base(filepath.Dir(mitogenTmp)), "bakery-cp-") {
			t.Errorf("TMPDIR %s is not a private folder of the run (%v)", mitogenTmp, err)
		}
	})
	p := &Provisioner{runner: stubs, reach: func(string, int) error { return nil }}
	if err := p.Prepare(map[string]interface{}{"playbook_file": playbook, "use_mitogen": true, "command": fakeAnsible(t, "#!/venv/bin/python3")}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	ui, out := testUi()
	if err := p.Provision(t.Context(), ui, nil, generated()); err != nil {
		t.Fatalf("Provision: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Mitogen 0.3.54 (ansible-core 2.19.14, /venv/bin/python3): strategy mitogen_linear") {
		t.Errorf("the build does not say it runs Mitogen:\n%s", out.String())
	}
	if _, err := os.Stat(mitogenTmp); !os.IsNotExist(err) {
		t.Errorf("Mitogen's TMPDIR %s is still there: %v", mitogenTmp, err)
	}
}

func TestPrepareWithMitogenRefusesOldAnsible(t *testing.T) {
	playbook := filepath.Join(t.TempDir(), "site.yml")
	if err := os.WriteFile(playbook, []byte("- hosts: all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stubs := newStubRunner(t)
	stubs.Register(`^/venv/bin/python3 -c`, `{"python": "/venv/bin/python3", "ansible": "2.13.9", "mitogen": "0.3.54", "strategy_dir": "`+strategyDir(t)+`"}`, nil, nil)
	p := &Provisioner{runner: stubs}
	err := p.Prepare(map[string]interface{}{"playbook_file": playbook, "use_mitogen": true, "command": fakeAnsible(t, "#!/venv/bin/python3")})
	if err == nil || !strings.Contains(err.Error(), "is ansible-core 2.13; bakery-ansible needs 2.14 or newer") {
		t.Fatalf("Prepare: %v", err)
	}
}
