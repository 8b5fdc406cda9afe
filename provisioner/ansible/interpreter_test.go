package ansible

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The command is ansible-core's own discovery snippet, run with /bin/sh as
// Ansible runs it, and its output is read as Ansible reads it.
func TestDiscoveryCommandReadsAsAnsible(t *testing.T) {
	cmd, err := discoveryCommand([]string{"python3.13", "/usr/bin/python3"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `/bin/sh -c 'echo FOUND; command -v '\''python3.13'\''; command -v '\''/usr/bin/python3'\''; echo ENDFOUND'`; cmd != want {
		t.Errorf("command\n%s\nwant\n%s", cmd, want)
	}
	if _, err := discoveryCommand([]string{"py'thon"}); err == nil {
		t.Error("a candidate with a quote was accepted")
	}
	for _, tc := range []struct{ out, want string }{
		{"FOUND\n/usr/bin/python3.11\n/usr/bin/python3\nENDFOUND\n", "/usr/bin/python3.11"},
		{"FOUND\npython3\n/usr/bin/python3\nENDFOUND\n", "/usr/bin/python3"}, // an alias or builtin is no path
		{"FOUND\nENDFOUND\n", ""},
		{"Welcome!\nFOUND\n/usr/bin/python3\nENDFOUND\n", ""}, // Ansible's match is anchored: it would not find it either
		{"FOUND\n/usr/bin/python3\n", ""},
	} {
		if got := firstFound(tc.out); got != tc.want {
			t.Errorf("firstFound(%q) = %q, want %q", tc.out, got, tc.want)
		}
	}
}

// Through a communicator that runs the command with a real shell: the
// first candidate on PATH wins, a later one does not.
func TestDiscoverPythonFindsTheFirstCandidate(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"python3.9", "python3"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	comm := &shellComm{path: dir + ":/usr/bin:/bin"}
	got, err := discoverPython(t.Context(), comm, []string{"python3.13", "python3.9", "python3"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "python3.9"); got != want {
		t.Errorf("found %q, want %q", got, want)
	}
	if len(comm.started) != 1 {
		t.Errorf("%d commands started, want one", len(comm.started))
	}
	if _, err := discoverPython(t.Context(), &shellComm{path: t.TempDir()}, []string{"python3.13"}); err == nil || !strings.Contains(err.Error(), "none of python3.13 found") {
		t.Errorf("no candidate on the instance: %v", err)
	}
}

func TestPythonSeedSkip(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ansible.cfg")
	if err := os.WriteFile(cfg, []byte("[defaults]\ninterpreter_python = /opt/py/bin/python3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	silent := filepath.Join(t.TempDir(), "ansible.cfg")
	if err := os.WriteFile(silent, []byte("[defaults]\ninterpreter_python = auto_silent\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := pythonSeedInput{Mitogen: true, AnsibleCore: "2.19.14", Candidates: []string{"python3"}, OwnInventory: true, SameUser: true, HaveComm: true}
	for _, tc := range []struct {
		name string
		mod  func(*pythonSeedInput)
		want string // substring of the reason; "" answers discovery
	}{
		{"mitogen, 2.19, our inventory", func(*pythonSeedInput) {}, ""},
		{"a later ansible-core", func(in *pythonSeedInput) { in.AnsibleCore = "2.20.0" }, ""},
		{"without Mitogen", func(in *pythonSeedInput) { in.Mitogen = false }, "without Mitogen"},
		{"ansible-core 2.18", func(in *pythonSeedInput) { in.AnsibleCore = "2.18.12" }, "per-distribution table"},
		{"no fallback list", func(in *pythonSeedInput) { in.Candidates = nil }, "fallback list is unknown"},
		{"the user's inventory", func(in *pythonSeedInput) { in.OwnInventory = false }, "`inventory_file`"},
		{"another login user", func(in *pythonSeedInput) { in.SameUser = false }, "another user"},
		{"no communicator", func(in *pythonSeedInput) { in.HaveComm = false }, "no builder connection"},
		{"environment", func(in *pythonSeedInput) { in.Env = []string{"ANSIBLE_PYTHON_INTERPRETER=auto_silent"} }, "ANSIBLE_PYTHON_INTERPRETER"},
		{"ansible.cfg names one", func(in *pythonSeedInput) { in.AnsibleCfg = cfg }, "interpreter_python is set in"},
		{"ansible.cfg asks for discovery", func(in *pythonSeedInput) { in.AnsibleCfg = silent }, ""},
		{"-e on the command line", func(in *pythonSeedInput) {
			in.ExtraArgs = []string{"-e", "ansible_python_interpreter=/usr/bin/python3"}
		}, "command line"},
		{"extra_vars", func(in *pythonSeedInput) { in.ExtraVarSet = true }, "command line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ok
			tc.mod(&in)
			got := pythonSeedSkip(in)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("skip = %q, want %q", got, tc.want)
			}
		})
	}
}

// The found interpreter is Ansible's configured default
// (ANSIBLE_PYTHON_INTERPRETER), which every variable overrides; the
// user's own ANSIBLE_PYTHON_INTERPRETER is never replaced.
func TestPlaybookCommandPythonInterpreter(t *testing.T) {
	in := invocation{Command: "ansible-playbook", Playbook: "site.yml", Inventory: "inv", PythonInterpreter: "/usr/bin/python3.11"}
	if env := playbookCommand(in).Env; !slices.Contains(env, "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3.11") {
		t.Errorf("env lacks the interpreter: %q", env)
	}
	in.UserEnv = []string{"ANSIBLE_PYTHON_INTERPRETER=/opt/py"}
	if env := playbookCommand(in).Env; !slices.Contains(env, "ANSIBLE_PYTHON_INTERPRETER=/opt/py") {
		t.Errorf("the user's interpreter lost: %q", env)
	}
	in.UserEnv, in.BaseEnv = nil, []string{"ANSIBLE_PYTHON_INTERPRETER=/opt/base"}
	if env := playbookCommand(in).Env; !slices.Contains(env, "ANSIBLE_PYTHON_INTERPRETER=/opt/base") {
		t.Errorf("the environment's interpreter lost: %q", env)
	}
}

// With use_mitogen and ansible-core 2.19, Provision asks the builder's
// connection once which Python Ansible's discovery would pick and gives
// it to the play; with the user's own ANSIBLE_PYTHON_INTERPRETER it asks
// nothing and keeps theirs.
func TestProvisionWithMitogenAnswersDiscovery(t *testing.T) {
	remote := t.TempDir()
	if err := os.WriteFile(filepath.Join(remote, "python3.11"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		userEnv []string
		want    string
		asks    bool
	}{
		{"found on the instance", nil, "ANSIBLE_PYTHON_INTERPRETER=" + filepath.Join(remote, "python3.11"), true},
		{"the user's choice", []string{"ANSIBLE_PYTHON_INTERPRETER=/opt/py/bin/python3"}, "ANSIBLE_PYTHON_INTERPRETER=/opt/py/bin/python3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, playbook, stubs := mitogenRun(t)
			found := strings.TrimSuffix(strings.ReplaceAll(probeFound, "%s", dir), "}") + `, "interpreter_fallback": ["python3.13", "python3.11", "/usr/bin/python3"]}`
			stubs.Register(`(?s)^/venv/bin/python3 -c import json.*\n$`, found, nil, nil)
			stubs.Register(`(?s)^/venv/bin/python3 -c import json.* full$`, found, nil, nil)
			stubs.Register(`^ssh -V$`, "OpenSSH_9.2p1", nil, nil)
			stubs.Register(`ansible-playbook .*site\.yml`, "PLAY RECAP ***\n", nil, func(c command) {
				if !slices.Contains(c.Env, tc.want) {
					t.Errorf("env lacks %s", tc.want)
				}
			})
			p := &Provisioner{runner: stubs, reach: func(string, int) error { return nil }}
			raw := map[string]interface{}{"playbook_file": playbook, "use_mitogen": true, "command": fakeAnsible(t, "#!/venv/bin/python3")}
			if tc.userEnv != nil {
				raw["ansible_env_vars"] = tc.userEnv
			}
			if err := p.Prepare(raw); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			ui, out := testUi()
			comm := &shellComm{path: remote}
			if err := p.Provision(t.Context(), ui, comm, generated()); err != nil {
				t.Fatalf("Provision: %v\n%s", err, out.String())
			}
			if asked := len(comm.started) > 0; asked != tc.asks {
				t.Errorf("the instance was asked %q", comm.started)
			}
			if said := strings.Contains(out.String(), "Python on the instance: "+filepath.Join(remote, "python3.11")); said != tc.asks {
				t.Errorf("the build says which Python: %v, want %v\n%s", said, tc.asks, out.String())
			}
		})
	}
}
