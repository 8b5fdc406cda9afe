package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

var randRead = rand.Read

// plainAnsible runs ansible-playbook itself over SSH to the bed's sshd as
// ec2-user with key: Ansible's defaults (its own ControlPersist, no
// pipelining), a fresh HOME and ControlPath folder per run.
// env adds to Ansible's defaults (e.g. ANSIBLE_PIPELINING=True).
func (h *harness) plainAnsible(ctx context.Context, name, playbook, key string, env ...string) bakeResult {
	runDir := filepath.Join(h.work, "runs", fmt.Sprintf("%03d-plain-%s", h.seq.Add(1), name))
	res := bakeResult{Side: "plain", Name: name, Log: filepath.Join(runDir, "output.txt")}
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		res.Error = err.Error()
		return res
	}
	inv := filepath.Join(runDir, "inventory.ini")
	if err := os.WriteFile(inv, fmt.Appendf(nil, "default ansible_host=%s ansible_port=%d\n", h.bed.SSHHost, h.bed.SSHPort), 0o600); err != nil {
		res.Error = err.Error()
		return res
	}
	cmd := exec.CommandContext(ctx, h.ansible, playbook, "-i", inv, "--user", "ec2-user", "--private-key", key,
		"--ssh-extra-args", "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes")
	cmd.Env = append(os.Environ(), "HOME="+runDir, "ANSIBLE_HOST_KEY_CHECKING=False",
		"ANSIBLE_SSH_CONTROL_PATH_DIR="+filepath.Join(runDir, "cp"))
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = runDir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	res.Seconds = time.Since(start).Seconds()
	_ = os.WriteFile(res.Log, out, 0o600)
	if err != nil {
		res.Error = fmt.Sprintf("%v; %s", err, lastLines(res.Log, 3))
		return res
	}
	res.OK = true
	return res
}
