package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

// ansibleSpeed (P3 in earlier reports) times plain ansible-playbook, and
// each provisioner alone (packer's null builder), over SSH to the same
// sshd: a many-task playbook and a large file copy, alternating the
// variants; plain and ours also with Mitogen unless -mitogen=false.
func (h *harness) ansibleSpeed(ctx context.Context) error {
	if err := h.reset(ctx); err != nil {
		return err
	}
	if err := h.bed.Faults().SetConfig(faultproxy.Config{}); err != nil {
		return err
	}
	key, err := h.target(ctx)
	if err != nil {
		return err
	}
	many, err := writePlaybook(h.work, fmt.Sprintf("tasks-%d", h.opts.playTasks), h.opts.playTasks)
	if err != nil {
		return err
	}
	src := filepath.Join(h.work, "copy.bin")
	if err := writeRandomFile(src, h.opts.copyMB<<20); err != nil {
		return err
	}
	defer os.Remove(src)
	dest := fmt.Sprintf("/tmp/bakery-bench-copy-%s.bin", randomHex(4))
	copyPB := filepath.Join(h.work, "copy.yml")
	if err := os.WriteFile(copyPB, fmt.Appendf(nil,
		"- name: Copy\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: Copy %d MB\n      ansible.builtin.copy:\n        src: %s\n        dest: %s\n        mode: \"0600\"\n",
		h.opts.copyMB, src, dest), 0o644); err != nil {
		return err
	}
	defer os.Remove(dest)

	variants := []string{"plain"}
	if h.opts.mitogen {
		variants = append(variants, "plain-mitogen")
	}
	for _, v := range h.bakeVariants() {
		variants = append(variants, v.name)
	}
	for _, job := range []struct{ kind, playbook string }{{"playbook", many}, {"copy", copyPB}} {
		for i := range h.opts.ansibleRuns {
			order := variants
			if i%2 == 1 {
				order = reversed(variants)
			}
			for _, v := range order {
				if v == "stock" && i >= h.opts.stockAnsibleRuns {
					continue
				}
				_ = os.Remove(dest) // the copy must transfer every time
				name := fmt.Sprintf("ansible-%s-%d", job.kind, i)
				var r bakeResult
				switch v {
				case "plain":
					r = h.plainAnsible(ctx, name, job.playbook, key)
				case "plain-mitogen":
					r = h.plainAnsible(ctx, name, job.playbook, key, h.mitogenEnv()...)
				default:
					s, err := h.side(strings.TrimSuffix(v, "-mitogen"))
					if err != nil {
						return err
					}
					vars := map[string]any{
						"ssh_host": h.bed.SSHHost, "ssh_port": h.bed.SSHPort, "ssh_key": key,
						"playbook": job.playbook, "ansible_command": h.ansible}
					if strings.HasSuffix(v, "-mitogen") {
						vars["use_mitogen"] = true
					}
					r = h.packerBuild(ctx, s, s.nullDir, name, vars)
				}
				r.Side = v
				say("ansible %s %s run %d: %.1f s ok=%v %s", job.kind, v, i+1, r.Seconds, r.OK, r.Error)
				h.res.AnsibleRuns = append(h.res.AnsibleRuns, AnsibleRun{Kind: job.kind, Variant: v, bakeResult: r, MB: h.opts.copyMB, Tasks: h.opts.playTasks})
			}
		}
	}
	return nil
}

func writeRandomFile(path string, size int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for written := 0; written < size; written += len(buf) {
		if _, err := randRead(buf); err != nil {
			return err
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	return f.Close()
}
