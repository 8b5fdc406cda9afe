package ansible

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// playbookAnsibleCfg returns the playbook folder's ansible.cfg when
// Ansible's own search would not find it: ansible-playbook looks in
// ANSIBLE_CONFIG, then the working folder (packer's), then the home folder
// — not next to the playbook, where people keep it. "" when ANSIBLE_CONFIG
// is set, the working folder has its own ansible.cfg, or there is none.
//
// Like Ansible with its working folder, it refuses a file in a
// world-writable folder (or itself world-writable): anyone on the machine
// could have put it there, and an ansible.cfg runs code (plugins, vault
// scripts, ssh_args). The second result then says so.
func playbookAnsibleCfg(playbook, cwd string, env ...[]string) (string, string) {
	for _, e := range env {
		if hasAny(e, "ANSIBLE_CONFIG") {
			return "", ""
		}
	}
	if fileExists(filepath.Join(cwd, "ansible.cfg")) && !worldWritable(cwd) {
		return "", ""
	}
	cfg := filepath.Join(filepath.Dir(playbook), "ansible.cfg")
	if !fileExists(cfg) {
		return "", ""
	}
	for _, p := range []string{filepath.Dir(playbook), cfg} {
		if worldWritable(p) {
			return "", fmt.Sprintf("Ignoring %s: %s is world-writable, so anyone on this machine could have written it (Ansible ignores an ansible.cfg in a world-writable folder too). Remove the write permission of others (chmod o-w) to use it.", cfg, p)
		}
	}
	return cfg, ""
}

// worldWritable: others may write path. Ansible does not exempt sticky
// folders, and neither do we.
func worldWritable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().Perm()&0o002 != 0
}

// effectiveAnsibleCfg is the config file ansible-playbook will read, in
// Ansible's order, with our ANSIBLE_CONFIG already in env.
func effectiveAnsibleCfg(env []string, cwd string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if m := regexp.MustCompile(`^ANSIBLE_CONFIG=(.*)$`).FindStringSubmatch(env[i]); m != nil {
			return m[1]
		}
	}
	var candidates []string
	if !worldWritable(cwd) { // Ansible skips it too
		candidates = append(candidates, filepath.Join(cwd, "ansible.cfg"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".ansible.cfg"))
	}
	candidates = append(candidates, "/etc/ansible/ansible.cfg")
	for _, c := range candidates {
		if fileExists(c) {
			return c
		}
	}
	return ""
}

// cfgSets reports whether the ansible.cfg at path sets key (in any
// section); then the provisioner leaves that setting to the file.
func cfgSets(path, key string) bool {
	_, ok := cfgValue(path, key)
	return ok
}

// cfgValue is the value ansible.cfg at path gives key (in any section,
// the last one read), with an inline comment removed.
func cfgValue(path, key string) (string, bool) {
	if path == "" {
		return "", false
	}
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	line := regexp.MustCompile(`^\s*` + regexp.QuoteMeta(key) + `\s*[=:]\s*(.*?)\s*$`)
	val, found := "", false
	s := bufio.NewScanner(f)
	for s.Scan() {
		if m := line.FindStringSubmatch(s.Text()); m != nil {
			v, _, _ := strings.Cut(m[1], " ;")
			v, _, _ = strings.Cut(v, " #")
			val, found = strings.TrimSpace(v), true
		}
	}
	return val, found
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}
