package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

// p1 bakes alternately with each side, no faults, no delays, resetting
// the bed before each bake; the proxy's per-action counts of each bake
// are P4.
func (h *harness) p1(ctx context.Context) error {
	if err := h.bed.Faults().SetConfig(faultproxy.Config{}); err != nil {
		return err
	}
	for i := range h.opts.runs {
		order := h.sides
		if i%2 == 1 { // alternate A/B, B/A so drift in machine load hits both
			order = reversed(h.sides)
		}
		for _, s := range order {
			if err := h.reset(ctx); err != nil {
				return err
			}
			name := fmt.Sprintf("p1-%d", i)
			r := h.packerBuild(ctx, s, s.bakeDir, name, h.bakeVars(name, h.smallPB))
			r.Calls, r.DryRuns = map[string]int{}, map[string]int{}
			for c, n := range h.bed.Faults().Counts() {
				r.Calls[c.String()] = n
			}
			for c, n := range h.bed.Faults().DryRuns() {
				r.DryRuns[c.String()] = n
			}
			say("P1 %s run %d: %.1f s ok=%v %s", s.Name, i+1, r.Seconds, r.OK, r.Error)
			h.res.P1 = append(h.res.P1, r)
		}
		if err := h.p1Plain(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// p1Plain times the P1 play alone: plain ansible-playbook to the same
// sshd, once with Ansible's defaults and once pipelined as our provisioner
// runs it. It is the floor under either side's bake.
func (h *harness) p1Plain(ctx context.Context, i int) error {
	if err := h.reset(ctx); err != nil {
		return err
	}
	key, err := h.target(ctx)
	if err != nil {
		return err
	}
	for _, mode := range []struct {
		name string
		env  []string
	}{{"defaults", nil}, {"pipelined", []string{"ANSIBLE_PIPELINING=True"}}} {
		r := h.plainAnsible(ctx, fmt.Sprintf("p1-%s-%d", mode.name, i), h.smallPB, key, mode.env...)
		r.Side = "plain-" + mode.name
		say("P1 plain ansible-playbook (%s) run %d: %.1f s ok=%v %s", mode.name, i+1, r.Seconds, r.OK, r.Error)
		h.res.P1 = append(h.res.P1, r)
	}
	return nil
}

// p2 holds instances pending for 30 s and AMIs for 120 s (flags) and runs every
// side's bakes at once; the proxy's Waits say when each resource became
// ready, when a describe reply first showed it so, and how often it was
// described meanwhile.
func (h *harness) p2(ctx context.Context) error {
	if err := h.reset(ctx); err != nil {
		return err
	}
	if err := h.bed.Faults().SetConfig(faultproxy.Config{Readiness: faultproxy.Readiness{
		InstancePending: h.opts.instancePending, ImagePending: h.opts.imagePending}}); err != nil {
		return err
	}
	defer h.bed.Faults().SetConfig(faultproxy.Config{})
	bctx, cancel := context.WithTimeout(ctx, 12*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	owner := map[string]string{} // run name → side
	amis := map[string]string{}  // AMI name → run name
	for _, s := range h.sides {
		for i := range h.opts.waitBakes {
			name := fmt.Sprintf("p2-%s-%d", s.Name, i)
			vars := h.bakeVars(name, h.smallPB)
			owner[name] = s.Name
			amis[vars["ami_name"].(string)] = name
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := h.packerBuild(bctx, s, s.bakeDir, name, vars)
				say("P2 %s: %.1f s ok=%v %s", name, r.Seconds, r.OK, r.Error)
				mu.Lock()
				h.res.P2.Bakes = append(h.res.P2.Bakes, r)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()

	// Each AMI is known by its name; its source instance by the AMI's
	// sourceInstanceId (a bake that made no AMI has no figures).
	runOf := map[string]string{} // resource id → run name
	imgs, err := h.motoEC2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil {
		return err
	}
	for _, im := range imgs.Images {
		if run, ok := amis[aws.ToString(im.Name)]; ok {
			runOf[aws.ToString(im.ImageId)] = run
			runOf[aws.ToString(im.SourceInstanceId)] = run
		}
	}
	for _, w := range h.bed.Faults().Waits() {
		run, ok := runOf[w.ID]
		if !ok {
			continue
		}
		pw := WaitFigure{Side: owner[run], Run: run, What: w.What, ID: w.ID, Polls: w.Polls,
			PendingSeconds: w.Ready.Sub(w.Start).Seconds()}
		if !w.Seen.IsZero() {
			pw.LagSeconds = w.Lag.Seconds()
			pw.Seen = true
		}
		h.res.P2.Waits = append(h.res.P2.Waits, pw)
	}
	sort.Slice(h.res.P2.Waits, func(i, j int) bool { return h.res.P2.Waits[i].Run < h.res.P2.Waits[j].Run })
	return nil
}

// p3 times plain ansible-playbook, and each provisioner alone (packer's
// null builder), over SSH to the same sshd: a many-task playbook and a
// large file copy, alternating the variants.
func (h *harness) p3(ctx context.Context) error {
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

	variants := append([]string{"plain"}, sideNames(h.sides)...)
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
				name := fmt.Sprintf("p3-%s-%d", job.kind, i)
				var r bakeResult
				if v == "plain" {
					r = h.plainAnsible(ctx, name, job.playbook, key)
				} else {
					s, err := h.side(v)
					if err != nil {
						return err
					}
					r = h.packerBuild(ctx, s, s.nullDir, name, map[string]any{
						"ssh_host": h.bed.SSHHost, "ssh_port": h.bed.SSHPort, "ssh_key": key,
						"playbook": job.playbook, "ansible_command": h.ansible})
				}
				say("P3 %s %s run %d: %.1f s ok=%v %s", job.kind, v, i+1, r.Seconds, r.OK, r.Error)
				h.res.P3 = append(h.res.P3, P3Run{Kind: job.kind, Variant: v, bakeResult: r, MB: h.opts.copyMB, Tasks: h.opts.playTasks})
			}
		}
	}
	return nil
}

// p5 starts many bakes at once per side with throttling on, then counts
// successes (exit 0 and the AMI registered) and what was left behind. Each
// bake is the full P1 bake, Ansible included.
func (h *harness) p5(ctx context.Context) error {
	defer h.bed.Faults().SetConfig(faultproxy.Config{})
	for _, s := range h.sides {
		if err := h.bed.Faults().SetConfig(faultproxy.Config{}); err != nil {
			return err
		}
		if err := h.reset(ctx); err != nil {
			return err
		}
		if err := h.bed.Faults().SetConfig(faultproxy.Config{Seed: 5, Throttle: faultproxy.Fault{Rate: h.opts.throttle}}); err != nil {
			return err
		}
		bctx, cancel := context.WithTimeout(ctx, h.opts.concurrentTimeout)
		var mu sync.Mutex
		var wg sync.WaitGroup
		fig := ConcurrentFigure{Side: s.Name, Bakes: h.opts.concurrent, Throttle: h.opts.throttle}
		amis := map[string]bool{}
		start := time.Now()
		for i := range h.opts.concurrent {
			name := fmt.Sprintf("p5-%s-%d", s.Name, i)
			vars := h.bakeVars(name, h.smallPB)
			ami := vars["ami_name"].(string)
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := h.packerBuild(bctx, s, s.bakeDir, name, vars)
				mu.Lock()
				defer mu.Unlock()
				fig.Runs = append(fig.Runs, r)
				if r.OK {
					amis[ami] = true
				} else {
					say("P5 %s failed after %.0f s: %s", name, r.Seconds, r.Error)
				}
			}()
		}
		wg.Wait()
		cancel()
		fig.WallSeconds = time.Since(start).Seconds()
		if err := h.bed.Faults().SetConfig(faultproxy.Config{}); err != nil {
			return err
		}
		if err := h.leftovers(ctx, &fig, amis); err != nil {
			return err
		}
		for _, n := range h.bed.Faults().Injected() {
			fig.Throttled += n
		}
		say("P5 %s: %d/%d succeeded in %.0f s, leftovers %v", s.Name, fig.Succeeded, fig.Bakes, fig.WallSeconds, fig.Leftovers)
		h.res.P5 = append(h.res.P5, fig)
	}
	return nil
}

// leftovers looks in moto (not through the proxy) for what the bakes left:
// instances not terminated, key pairs, non-default security groups, and
// counts the AMIs of the bakes that said they succeeded.
func (h *harness) leftovers(ctx context.Context, fig *ConcurrentFigure, okAMIs map[string]bool) error {
	fig.Leftovers = map[string]int{}
	out, err := h.motoEC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		return err
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if in.State != nil && in.State.Name != types.InstanceStateNameTerminated {
				fig.Leftovers["instances"]++
			}
		}
	}
	kps, err := h.motoEC2.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if err != nil {
		return err
	}
	fig.Leftovers["key_pairs"] = len(kps.KeyPairs)
	sgs, err := h.motoEC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		return err
	}
	for _, g := range sgs.SecurityGroups {
		if aws.ToString(g.GroupName) != "default" {
			fig.Leftovers["security_groups"]++
		}
	}
	imgs, err := h.motoEC2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil {
		return err
	}
	for _, im := range imgs.Images {
		if okAMIs[aws.ToString(im.Name)] {
			fig.Succeeded++
		}
	}
	fig.AMIs = len(imgs.Images)
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

func sideNames(ss []*side) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func reversed[T any](in []T) []T {
	out := make([]T, len(in))
	for i, v := range in {
		out[len(in)-1-i] = v
	}
	return out
}
