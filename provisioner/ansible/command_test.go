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
	for _, tc := range []struct {
		name      string
		edit      func(*invocation)
		wantArgs  []string
		wantEnv   []string // must be present
		wantNoEnv []string // names that must be absent
	}{
		{
			name: "defaults",
			edit: func(*invocation) {},
			wantArgs: []string{"/p/site.yml", "-i", "/t/inv.ini", "--user", "ec2-user", "--private-key", "/t/key",
				"--ssh-extra-args", defaultSSH, "--extra-vars", "@/t/vars.json"},
			wantEnv: []string{"ANSIBLE_SSH_CONTROL_PATH_DIR=/tmp/cp", "ANSIBLE_PIPELINING=True", "ANSIBLE_SSH_RETRIES=3", "PYTHONUNBUFFERED=1",
				"ANSIBLE_HOST_KEY_CHECKING=True", "PATH=/usr/bin", "HOME=/root"},
			wantNoEnv: []string{"ANSIBLE_SSH_TRANSFER_METHOD", "ANSIBLE_CONFIG", "ANSIBLE_ROLES_PATH"},
		},
		{
			name: "agent: no key, no IdentitiesOnly",
			edit: func(in *invocation) { in.PrivateKeyFile = "" },
			wantArgs: []string{"/p/site.yml", "-i", "/t/inv.ini", "--user", "ec2-user",
				"--ssh-extra-args", hostKeys, "--extra-vars", "@/t/vars.json"},
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
		},
		{
			name: "host key pinned by the builder: no other accepted",
			edit: func(in *invocation) { in.HostKeyPinned = true },
			wantArgs: []string{"/p/site.yml", "-i", "/t/inv.ini", "--user", "ec2-user", "--private-key", "/t/key",
				"--ssh-extra-args", "-o UserKnownHostsFile=/t/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes",
				"--extra-vars", "@/t/vars.json"},
		},
		{
			name: "known_hosts path with a space is quoted for Ansible's shlex",
			edit: func(in *invocation) { in.KnownHostsFile = "/t m/known_hosts"; in.PrivateKeyFile = "" },
			wantArgs: []string{"/p/site.yml", "-i", "/t/inv.ini", "--user", "ec2-user",
				"--ssh-extra-args", "-o 'UserKnownHostsFile=/t m/known_hosts' -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=accept-new",
				"--extra-vars", "@/t/vars.json"},
		},
		{
			name: "through the bastion",
			edit: func(in *invocation) { in.ProxyCommand = "ssh -W %h:%p b" },
			wantArgs: []string{"/p/site.yml", "-i", "/t/inv.ini", "--user", "ec2-user", "--private-key", "/t/key",
				"--ssh-extra-args", defaultSSH + " -o 'ProxyCommand=ssh -W %h:%p b'", "--extra-vars", "@/t/vars.json"},
		},
		{
			name:    "use_sftp true",
			edit:    func(in *invocation) { in.UseSFTP = boolPtr(true) },
			wantEnv: []string{"ANSIBLE_SSH_TRANSFER_METHOD=sftp"},
		},
		{
			name:    "use_sftp false",
			edit:    func(in *invocation) { in.UseSFTP = boolPtr(false) },
			wantEnv: []string{"ANSIBLE_SSH_TRANSFER_METHOD=scp"},
		},
		{
			name: "user's env wins and turns our defaults off",
			edit: func(in *invocation) {
				in.UserEnv = []string{"ANSIBLE_PIPELINING=False", "ANSIBLE_SSH_CONTROL_PATH=/x/%%h", "PYTHONUNBUFFERED=0", "ANSIBLE_SCP_EXTRA_ARGS=-l 100", "ANSIBLE_SSH_RETRIES=0"}
				in.SCPLegacy = true
			},
			wantEnv:   []string{"ANSIBLE_PIPELINING=False", "PYTHONUNBUFFERED=0", "ANSIBLE_SCP_EXTRA_ARGS=-l 100", "ANSIBLE_SSH_RETRIES=0"},
			wantNoEnv: []string{"ANSIBLE_SSH_CONTROL_PATH_DIR"},
		},
		{
			name:    "packer's environment decides the retries",
			edit:    func(in *invocation) { in.BaseEnv = append(in.BaseEnv, "ANSIBLE_SSH_RETRIES=7") },
			wantEnv: []string{"ANSIBLE_SSH_RETRIES=7"},
		},
		{
			name:      "retries left to ansible.cfg",
			edit:      func(in *invocation) { in.SSHRetries = 0 },
			wantNoEnv: []string{"ANSIBLE_SSH_RETRIES"},
		},
		{
			name:      "pipelining left to ansible.cfg",
			edit:      func(in *invocation) { in.Pipelining = false },
			wantNoEnv: []string{"ANSIBLE_PIPELINING"},
		},
		{
			name: "ansible.cfg, roles and collections paths",
			edit: func(in *invocation) {
				in.AnsibleConfig = "/p/ansible.cfg"
				in.RolesPath = "/r"
				in.CollectionsPath = "/c"
			},
			wantEnv: []string{"ANSIBLE_CONFIG=/p/ansible.cfg", "ANSIBLE_ROLES_PATH=/r", "ANSIBLE_COLLECTIONS_PATH=/c"},
		},
		{
			name: "ANSIBLE_CONFIG from packer's environment is kept",
			edit: func(in *invocation) {
				in.AnsibleConfig = "/p/ansible.cfg"
				in.BaseEnv = append(in.BaseEnv, "ANSIBLE_CONFIG=/mine.cfg")
			},
			wantEnv: []string{"ANSIBLE_CONFIG=/mine.cfg"},
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
			if tc.wantArgs != nil && !slices.Equal(got.Args, tc.wantArgs) {
				t.Errorf("args\n got %q\nwant %q", got.Args, tc.wantArgs)
			}
			for _, kv := range tc.wantEnv {
				if !slices.Contains(got.Env, kv) {
					t.Errorf("env lacks %s: %q", kv, got.Env)
				}
			}
			for _, name := range tc.wantNoEnv {
				if hasAny(got.Env, name) {
					t.Errorf("env sets %s: %q", name, got.Env)
				}
			}
			seen := map[string]bool{}
			for _, kv := range got.Env {
				name, _, _ := strings.Cut(kv, "=")
				if seen[name] {
					t.Errorf("env sets %s twice", name)
				}
				seen[name] = true
			}
			if !slices.Equal(playbookCommand(in).Args, got.Args) {
				t.Error("not deterministic")
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
			for _, kv := range []string{"ANSIBLE_ROLES_PATH=/r", "ANSIBLE_COLLECTIONS_PATH=/c", "X=1"} {
				if !slices.Contains(got.Env, kv) {
					t.Errorf("env lacks %s", kv)
				}
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
