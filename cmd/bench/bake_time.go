package main

import (
	"context"
	"fmt"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

// bakeTime (P1 in earlier reports) bakes alternately with each variant,
// no faults, no delays, resetting the bed before each bake; the proxy's
// per-action counts of each bake are the AWS-calls figure (P4).
func (h *harness) bakeTime(ctx context.Context) error {
	if err := h.bed.Faults().SetConfig(faultproxy.Config{}); err != nil {
		return err
	}
	variants := h.bakeVariants()
	for i := range h.opts.runs {
		order := variants
		if i%2 == 1 { // alternate A/B, B/A so drift in machine load hits both
			order = reversed(variants)
		}
		for _, v := range order {
			if err := h.reset(ctx); err != nil {
				return err
			}
			name := fmt.Sprintf("bake-%d", i)
			vars := h.bakeVars(name, h.smallPB)
			if v.mitogen {
				vars["use_mitogen"] = true
			}
			r := h.packerBuild(ctx, v.side, v.side.bakeDir, name, vars)
			r.Side = v.name
			r.Calls, r.DryRuns = map[string]int{}, map[string]int{}
			for c, n := range h.bed.Faults().Counts() {
				r.Calls[c.String()] = n
			}
			for c, n := range h.bed.Faults().DryRuns() {
				r.DryRuns[c.String()] = n
			}
			say("bake %s run %d: %.1f s ok=%v %s", v.name, i+1, r.Seconds, r.OK, r.Error)
			h.res.BakeRuns = append(h.res.BakeRuns, r)
		}
		if err := h.playAlone(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// variant is one way of running a side: ours with or without Mitogen.
type variant struct {
	name    string // ours, ours-mitogen, stock
	side    *side
	mitogen bool
}

// bakeVariants are the sides, and ours again with use_mitogen unless
// -mitogen=false.
func (h *harness) bakeVariants() []variant {
	var out []variant
	for _, s := range h.sides {
		out = append(out, variant{name: s.Name, side: s})
		if s.Name == "ours" && h.opts.mitogen {
			out = append(out, variant{name: "ours-mitogen", side: s, mitogen: true})
		}
	}
	return out
}

// playAlone times the bake's play alone: plain ansible-playbook to the
// same sshd, with Ansible's defaults, pipelined as our provisioner runs
// it, and with Mitogen's strategy. It is the floor under every bake.
func (h *harness) playAlone(ctx context.Context, i int) error {
	if err := h.reset(ctx); err != nil {
		return err
	}
	key, err := h.target(ctx)
	if err != nil {
		return err
	}
	for _, mode := range h.plainModes() {
		r := h.plainAnsible(ctx, fmt.Sprintf("bake-%s-%d", mode.name, i), h.smallPB, key, mode.env...)
		r.Side = "plain-" + mode.name
		say("bake's play alone, plain ansible-playbook (%s) run %d: %.1f s ok=%v %s", mode.name, i+1, r.Seconds, r.OK, r.Error)
		h.res.BakeRuns = append(h.res.BakeRuns, r)
	}
	return nil
}

type plainMode struct {
	name string
	env  []string
}

func (h *harness) plainModes() []plainMode {
	modes := []plainMode{{"defaults", nil}, {"pipelined", []string{"ANSIBLE_PIPELINING=True"}}}
	if h.opts.mitogen {
		modes = append(modes, plainMode{"mitogen", h.mitogenEnv()})
	}
	return modes
}
