package ansible

import (
	"slices"
	"strings"
	"testing"
)

func boolPtr(b bool) *bool { return &b }

func TestPlaybookCommand(t *testing.T) {
	base := invocation{
		Command:        "ansible-playbook",
		Playbook:       "/p/site.yml",
		Inventory:      "/t/inv.ini",
		User:           "ec2-user",
		PrivateKeyFile: "/t/key",
		ExtraVarsFile:  "/t/vars.json",
		ControlPathDir: "/tmp/cp",
		KnownHostsFile: "/t/known_hosts",
		Pipelining:     true,
		SSHRetries:     3,
		BaseEnv:        []string{"PATH=/usr/bin", "HOME=/root"},
	}
	hostKeys := "-o UserKnownHostsFile=/t/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=accept-new"
	defaultSSH := hostKeys + " -o IdentitiesOnly=yes"
	// Written out in full, sorted, one per name: the whole environment
	// ansible-playbook gets, so a variable added, lost or duplicated fails.
	defaultArgs := []string{"/p/site.yml", "-i", "/t/inv.ini", "--user", "ec2-user", "--private-key", "/t/key",
		"--ssh-extra-args", defaultSSH, "--extra-vars", "@/t/vars.json"}
	defaultEnv := []string{
		"ANSIBLE_HOST_KEY_CHECKING=True",
		"ANSIBLE_PIPELINING=True",
		"ANSIBLE_RETRY_FILES_ENABLED=False",
		"ANSIBLE_SSH_CONTROL_PATH_DIR=/tmp/cp",
		"ANSIBLE_SSH_RETRIES=3",
		"HOME=/root",
		"PATH=/usr/bin",
		"PYTHONUNBUFFERED=1",
	}
	for _, tc := range []struct {
		name     string
		edit     func(*invocation)
		wantArgs []string
		wantEnv  []string
	}{
		{
			name:     "defaults",
			edit:     func(*invocation) {},
			wantArgs: defaultArgs,
			wantEnv:  defaultEnv,
		},
		{
			name: "agent: no key, no IdentitiesOnly",
			edit: func(in *invocation) { in.PrivateKeyFile = "" },
			wantArgs: []string{"/p/site.yml", "-i", "/t/inv.ini", "--user", "ec2-user",
				"--ssh-extra-args", hostKeys, "--extra-vars", "@/t/vars.json"},
			wantEnv: defaultEnv,
		},
		{
			name: "no user: left to the play",
			edit: func(in *invocation) { in.User = "" },
			wantArgs: []string{"/p/site.yml", "-i", "/t/inv.ini", "--private-key", "/t/key",
				"--ssh-extra-args", defaultSSH, "--extra-vars", "@/t/vars.json"},
			wantEnv: defaultEnv,
		},
		{
			name: "tags, skip_tags, limit, ssh and extra args, scp -O, in order",
			edit: func(in *invocation) {
				in.Tags = []string{"a", "b"}
				in.SkipTags = []string{"c"}
				in.Limit = "default"
				in.SSHExtraArgs = []string{"-o", "ServerAliveInterval=5"}
				in.ExtraArguments = []string{"-vv", "--diff"}
				in.SCPLegacy = true
			},
			wantArgs: []string{"/p/site.yml", "-i", "/t/inv.ini", "--user", "ec2-user", "--private-key", "/t/key",
				"--ssh-extra-args", "-o ServerAliveInterval=5 " + defaultSSH, "--extra-vars", "@/t/vars.json",
				"--tags", "a,b", "--skip-tags", "c", "--limit", "default", "--scp-extra-args=-O", "-vv", "--diff"},
			wantEnv: defaultEnv,
		},
		{
			// ssh keeps the first value of an option: the user's must come
			// before ours to turn strict checking on.
			name: "the user's ssh options come first and win",
			edit: func(in *invocation) {
				in.SSHExtraArgs = []string{"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/mine"}
			},
			wantArgs: []string{"/p/site.yml", "-i", "/t/inv.ini", "--user", "ec2-user", "--private-key", "/t/key",
				"--ssh-extra-args", "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/mine " + defaultSSH, "--extra-vars", "@/t/vars.json"},
			wantEnv: defaultEnv,
		},
		{
			name: "host key pinned by the builder: no other accepted",
			edit: func(in *invocation) { in.HostKeyPinned = true },
			wantArgs: []string{"/p/site.yml", "-i", "/t/inv.ini", "--user", "ec2-user", "--private-key", "/t/key",
				"--ssh-extra-args", "-o UserKnownHostsFile=/t/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes",
				"--extra-vars", "@/t/vars.json"},
			wantEnv: defaultEnv,
		},
		{
			name: "known_hosts path with a space is quoted for Ansible's shlex",
			edit: func(in *invocation) { in.KnownHostsFile = "/t m/known_hosts"; in.PrivateKeyFile = "" },
			wantArgs: []string{"/p/site.yml", "-i", "/t/inv.ini", "--user", "ec2-user",
				"--ssh-extra-args", "-o 'UserKnownHostsFile=/t m/known_hosts' -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=accept-new",
				"--extra-vars", "@/t/vars.json"},
			wantEnv: defaultEnv,
		},
		{
			name: "through the bastion",
			edit: func(in *invocation) { in.ProxyCommand = "ssh -W %h:%p b" },
			wantArgs: []string{"/p/site.yml", "-i", "/t/inv.ini", "--user", "ec2-user", "--private-key", "/t/key",
				"--ssh-extra-args", defaultSSH + " -o 'ProxyCommand=ssh -W %h:%p b'", "--extra-vars", "@/t/vars.json"},
			wantEnv: defaultEnv,
		},
		{
			name:     "use_sftp true",
			edit:     func(in *invocation) { in.UseSFTP = boolPtr(true) },
			wantArgs: defaultArgs,
			wantEnv: []string{"ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_PIPELINING=True", "ANSIBLE_RETRY_FILES_ENABLED=False",
				"ANSIBLE_SSH_CONTROL_PATH_DIR=/tmp/cp", "ANSIBLE_SSH_RETRIES=3", "ANSIBLE_SSH_TRANSFER_METHOD=sftp",
				"HOME=/root", "PATH=/usr/bin", "PYTHONUNBUFFERED=1"},
		},
		{
			name:     "use_sftp false",
			edit:     func(in *invocation) { in.UseSFTP = boolPtr(false) },
			wantArgs: defaultArgs,
			wantEnv: []string{"ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_PIPELINING=True", "ANSIBLE_RETRY_FILES_ENABLED=False",
				"ANSIBLE_SSH_CONTROL_PATH_DIR=/tmp/cp", "ANSIBLE_SSH_RETRIES=3", "ANSIBLE_SSH_TRANSFER_METHOD=scp",
				"HOME=/root", "PATH=/usr/bin", "PYTHONUNBUFFERED=1"},
		},
		{
			name: "user's env wins and turns our defaults off",
			edit: func(in *invocation) {
				in.UserEnv = []string{"ANSIBLE_PIPELINING=False", "ANSIBLE_SSH_CONTROL_PATH=/x/%%h", "PYTHONUNBUFFERED=0", "ANSIBLE_SCP_EXTRA_ARGS=-l 100", "ANSIBLE_SSH_RETRIES=0"}
				in.SCPLegacy = true
			},
			wantArgs: defaultArgs, // no --scp-extra-args=-O: the user's ANSIBLE_SCP_EXTRA_ARGS decides
			wantEnv: []string{"ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_PIPELINING=False", "ANSIBLE_RETRY_FILES_ENABLED=False",
				"ANSIBLE_SCP_EXTRA_ARGS=-l 100", "ANSIBLE_SSH_CONTROL_PATH=/x/%%h", "ANSIBLE_SSH_RETRIES=0",
				"HOME=/root", "PATH=/usr/bin", "PYTHONUNBUFFERED=0"},
		},
		{
			name:     "packer's environment decides the retries",
			edit:     func(in *invocation) { in.BaseEnv = append(in.BaseEnv, "ANSIBLE_SSH_RETRIES=7") },
			wantArgs: defaultArgs,
			wantEnv: []string{"ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_PIPELINING=True", "ANSIBLE_RETRY_FILES_ENABLED=False",
				"ANSIBLE_SSH_CONTROL_PATH_DIR=/tmp/cp", "ANSIBLE_SSH_RETRIES=7", "HOME=/root", "PATH=/usr/bin", "PYTHONUNBUFFERED=1"},
		},
		{
			name:     "retries left to ansible.cfg",
			edit:     func(in *invocation) { in.SSHRetries = 0 },
			wantArgs: defaultArgs,
			wantEnv: []string{"ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_PIPELINING=True", "ANSIBLE_RETRY_FILES_ENABLED=False",
				"ANSIBLE_SSH_CONTROL_PATH_DIR=/tmp/cp", "HOME=/root", "PATH=/usr/bin", "PYTHONUNBUFFERED=1"},
		},
		{
			name:     "pipelining left to ansible.cfg",
			edit:     func(in *invocation) { in.Pipelining = false },
			wantArgs: defaultArgs,
			wantEnv: []string{"ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_RETRY_FILES_ENABLED=False",
				"ANSIBLE_SSH_CONTROL_PATH_DIR=/tmp/cp", "ANSIBLE_SSH_RETRIES=3", "HOME=/root", "PATH=/usr/bin", "PYTHONUNBUFFERED=1"},
		},
		{
			name:     "packer's environment decides pipelining",
			edit:     func(in *invocation) { in.BaseEnv = append(in.BaseEnv, "ANSIBLE_PIPELINING=False") },
			wantArgs: defaultArgs,
			wantEnv: []string{"ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_PIPELINING=False", "ANSIBLE_RETRY_FILES_ENABLED=False",
				"ANSIBLE_SSH_CONTROL_PATH_DIR=/tmp/cp", "ANSIBLE_SSH_RETRIES=3", "HOME=/root", "PATH=/usr/bin", "PYTHONUNBUFFERED=1"},
		},
		{
			name: "ansible.cfg, roles and collections paths",
			edit: func(in *invocation) {
				in.AnsibleConfig = "/p/ansible.cfg"
				in.RolesPath = "/r"
				in.CollectionsPath = "/c"
			},
			wantArgs: defaultArgs,
			wantEnv: []string{"ANSIBLE_COLLECTIONS_PATH=/c", "ANSIBLE_CONFIG=/p/ansible.cfg", "ANSIBLE_HOST_KEY_CHECKING=True",
				"ANSIBLE_PIPELINING=True", "ANSIBLE_RETRY_FILES_ENABLED=False", "ANSIBLE_ROLES_PATH=/r",
				"ANSIBLE_SSH_CONTROL_PATH_DIR=/tmp/cp", "ANSIBLE_SSH_RETRIES=3", "HOME=/root", "PATH=/usr/bin", "PYTHONUNBUFFERED=1"},
		},
		{
			name: "ANSIBLE_CONFIG from packer's environment is kept",
			edit: func(in *invocation) {
				in.AnsibleConfig = "/p/ansible.cfg"
				in.BaseEnv = append(in.BaseEnv, "ANSIBLE_CONFIG=/mine.cfg")
			},
			wantArgs: defaultArgs,
			wantEnv: []string{"ANSIBLE_CONFIG=/mine.cfg", "ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_PIPELINING=True",
				"ANSIBLE_RETRY_FILES_ENABLED=False", "ANSIBLE_SSH_CONTROL_PATH_DIR=/tmp/cp", "ANSIBLE_SSH_RETRIES=3",
				"HOME=/root", "PATH=/usr/bin", "PYTHONUNBUFFERED=1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			in.BaseEnv = slices.Clone(base.BaseEnv)
			tc.edit(&in)
			got := playbookCommand(in)
			if got.Path != "ansible-playbook" {
				t.Errorf("program %q", got.Path)
			}
			if !slices.Equal(got.Args, tc.wantArgs) {
				t.Errorf("args\n got %q\nwant %q", got.Args, tc.wantArgs)
			}
			if !slices.Equal(got.Env, tc.wantEnv) {
				t.Errorf("env\n got %q\nwant %q", got.Env, tc.wantEnv)
			}
		})
	}
}

func TestGalaxyCommandInstallsRolesAndCollectionsInOneStep(t *testing.T) {
	for _, tc := range []struct {
		name          string
		force, withDe bool
		want          []string
	}{
		{"plain", false, false, []string{"install", "-r", "/g/req.yml"}},
		{"force", true, false, []string{"install", "-r", "/g/req.yml", "--force"}},
		{"force with deps", false, true, []string{"install", "-r", "/g/req.yml", "--force-with-deps"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := galaxyCommand(galaxyInvocation{
				Command: "ansible-galaxy", Requirements: "/g/req.yml", Force: tc.force, ForceWithDeps: tc.withDe,
				invocation: invocation{RolesPath: "/r", CollectionsPath: "/c", UserEnv: []string{"X=1"}},
			})
			if !slices.Equal(got.Args, tc.want) {
				t.Errorf("args %q, want %q", got.Args, tc.want)
			}
			wantEnv := []string{"ANSIBLE_COLLECTIONS_PATH=/c", "ANSIBLE_ROLES_PATH=/r", "PYTHONUNBUFFERED=1", "X=1"}
			if !slices.Equal(got.Env, wantEnv) {
				t.Errorf("env %q, want %q", got.Env, wantEnv)
			}
		})
	}
}

func TestCommandStringQuotesForTheShell(t *testing.T) {
	c := command{Path: "ansible-playbook", Args: []string{"/p/site.yml", "--ssh-extra-args", "-o A=b", "it's", ""}}
	want := `ansible-playbook /p/site.yml --ssh-extra-args '-o A=b' 'it'\''s' ''`
	if got := c.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestBastionProxyCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    bastion
		want string
	}{
		{"key", bastion{Host: "10.1.0.9", Port: 22, User: "jump", KeyFile: "/k/id"},
			"ssh -o BatchMode=yes -o UserKnownHostsFile=/t/kh -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=accept-new -p 22 -l jump -i /k/id -o IdentitiesOnly=yes -W %h:%p -- 10.1.0.9"},
		{"agent, certificate, odd paths", bastion{Host: "-oops", Port: 2222, Agent: true, CertFile: "/c/it's 100%"},
			"ssh -o BatchMode=yes -o UserKnownHostsFile=/t/kh -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=accept-new -p 2222 -o 'CertificateFile=/c/it'\\''s 100%%' -W %h:%p -- -oops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bastionProxyCommand(tc.b, "/t/kh"); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCommandStringMasksInlineExtraVars(t *testing.T) {
	c := command{Path: "ansible-playbook", Args: []string{
		"site.yml", "--extra-vars", "@/t/vars.json",
		"-e", "db_password=hunter22 region=eu", "-etoken=abcdef", "--extra-vars={\"k\": \"v\"}", "--extra-vars", "@/mine.yml", "-vv",
	}}
	want := `ansible-playbook site.yml --extra-vars @/t/vars.json -e 'db_password=<sensitive> region=<sensitive>' '-etoken=<sensitive>' '--extra-vars=<sensitive>' --extra-vars @/mine.yml -vv`
	got := c.String()
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for _, secret := range []string{"hunter22", "abcdef", `"v"`} {
		if strings.Contains(got, secret) {
			t.Errorf("the echoed command shows %q", secret)
		}
	}
	vals := inlineVarValues(c.Args)
	for _, v := range []string{"hunter22", "eu", "abcdef", `{"k": "v"}`} {
		if !slices.Contains(vals, v) {
			t.Errorf("inline values %q lack %q", vals, v)
		}
	}
}

// TestHostKeyCheckingWithMitogen: Mitogen puts StrictHostKeyChecking yes
// first when Ansible's host_key_checking is on, which only works with a
// key already known.
func TestHostKeyCheckingWithMitogen(t *testing.T) {
	for _, tc := range []struct {
		mitogen, pinned bool
		want            string
	}{{false, false, "True"}, {false, true, "True"}, {true, true, "True"}, {true, false, "False"}} {
		in := invocation{Command: "ansible-playbook", KnownHostsFile: "/t/kh", HostKeyPinned: tc.pinned}
		if tc.mitogen {
			in.Mitogen.StrategyPlugins = "/m/plugins/strategy"
		}
		if got := playbookCommand(in).Env; !slices.Contains(got, "ANSIBLE_HOST_KEY_CHECKING="+tc.want) {
			t.Errorf("mitogen %v, pinned %v: env %q, want ANSIBLE_HOST_KEY_CHECKING=%s", tc.mitogen, tc.pinned, got, tc.want)
		}
	}
}
