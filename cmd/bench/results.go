package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Results is everything one `make bench` measured; it is written to
// .cache/bench/results.json as is.
type Results struct {
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	Host     map[string]string `json:"host"`
	Summary  []Row             `json:"summary"`
	// CallsPerBake is the median count per bake of each AWS action, by
	// side, over the bake part's bakes.
	CallsPerBake map[string]map[string]float64 `json:"calls_per_bake"`
	BakeRuns     []bakeResult                  `json:"bake_runs"`
	Readiness    struct {
		Bakes []bakeResult `json:"bakes"`
		Waits []WaitFigure `json:"waits"`
	} `json:"readiness"`
	AnsibleRuns []AnsibleRun       `json:"ansible_runs"`
	Concurrent  []ConcurrentFigure `json:"concurrent"`
	Errors      []string           `json:"errors,omitempty"`
}

// Row is one line of the printed table.
type Row struct {
	Part   string `json:"part"`
	Figure string `json:"figure"`
	Ours   string `json:"ours"`
	Stock  string `json:"stock"`
	Plain  string `json:"plain,omitempty"`
	Target string `json:"target"`
	Met    string `json:"met"` // yes, no, n/a
}

// WaitFigure is one readiness wait as the proxy saw it.
type WaitFigure struct {
	Side           string  `json:"side"`
	Run            string  `json:"run"`
	What           string  `json:"what"`
	ID             string  `json:"id"`
	PendingSeconds float64 `json:"pending_seconds"`
	Polls          int     `json:"describe_calls_while_pending"`
	Seen           bool    `json:"seen"`
	LagSeconds     float64 `json:"lag_seconds"`
}

// AnsibleRun is one run of the ansible part.
type AnsibleRun struct {
	Kind    string `json:"kind"`    // playbook, copy
	Variant string `json:"variant"` // plain, plain-mitogen, ours, ours-mitogen, stock
	Tasks   int    `json:"tasks"`
	MB      int    `json:"mb"`
	bakeResult
}

// ConcurrentFigure is the concurrent part for one side.
type ConcurrentFigure struct {
	Side        string         `json:"side"`
	Bakes       int            `json:"bakes"`
	Throttle    float64        `json:"throttle_rate"`
	Throttled   int            `json:"throttled_calls"`
	Succeeded   int            `json:"succeeded"`
	AMIs        int            `json:"amis"`
	WallSeconds float64        `json:"wall_seconds"`
	Leftovers   map[string]int `json:"leftovers"`
	Runs        []bakeResult   `json:"runs"`
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func okSeconds(rs []bakeResult, side string) (xs []float64, failed int) {
	for _, r := range rs {
		if r.Side != side {
			continue
		}
		if r.OK {
			xs = append(xs, r.Seconds)
		} else {
			failed++
		}
	}
	return xs, failed
}

type ratioTo struct {
	label string
	xs    []float64
}

// playbookRow judges ours' median time against plain's (ours ≤ limit×
// plain) and shows others' ratios beside it.
func playbookRow(figure, target string, limit float64, o []float64, ofail int, plain []float64, others ...ratioTo) Row {
	row := Row{Part: "ansible", Figure: figure, Ours: secs(o, ofail), Target: target, Met: "n/a"}
	if len(o) > 0 && len(plain) > 0 {
		ratio := median(o) / median(plain)
		row.Figure += fmt.Sprintf(" (ours %.2f× plain", ratio)
		for _, x := range others {
			if len(x.xs) > 0 {
				row.Figure += fmt.Sprintf(", %s %.2f×", x.label, median(x.xs)/median(plain))
			}
		}
		row.Figure += ")"
		row.Met = met(ratio <= limit)
	}
	return row
}

// split is the Ansible part of side's median bake and the rest.
func split(runs []bakeResult, side string, xs []float64) string {
	var prov []float64
	for _, b := range runs {
		if b.Side == side && b.OK && b.ProvisionSeconds > 0 {
			prov = append(prov, b.ProvisionSeconds)
		}
	}
	if len(prov) == 0 || len(xs) == 0 {
		return ""
	}
	return fmt.Sprintf("; Ansible %.1f s, rest %.1f s", median(prov), median(xs)-median(prov))
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func secs(xs []float64, failed int) string {
	if len(xs) == 0 {
		if failed > 0 {
			return fmt.Sprintf("all %d failed", failed)
		}
		return "-"
	}
	s := fmt.Sprintf("%.1f s (n=%d)", median(xs), len(xs))
	if failed > 0 {
		s += fmt.Sprintf(", %d failed", failed)
	}
	return s
}

// summarise computes the table from the raw runs.
func (r *Results) summarise() {
	r.Summary = nil
	// bake (P1)
	ours, of := okSeconds(r.BakeRuns, "ours")
	stock, sf := okSeconds(r.BakeRuns, "stock")
	if len(ours)+len(stock)+of+sf > 0 {
		row := Row{Part: "bake", Figure: "bake wall time, median", Ours: secs(ours, of) + split(r.BakeRuns, "ours", ours), Stock: secs(stock, sf) + split(r.BakeRuns, "stock", stock),
			Target: "ours ≤ 0.5× stock", Met: "n/a"}
		// The play alone, without packer or a builder: the floor.
		def, _ := okSeconds(r.BakeRuns, "plain-defaults")
		pipe, _ := okSeconds(r.BakeRuns, "plain-pipelined")
		if len(pipe) > 0 {
			row.Plain = "play alone: " + secs(pipe, 0) + " pipelined"
			if len(stock) > 0 {
				row.Plain += fmt.Sprintf(" (%.2f× stock's bake)", median(pipe)/median(stock))
			}
			if len(def) > 0 {
				row.Plain += fmt.Sprintf(", %.1f s Ansible defaults", median(def))
			}
		}
		if len(ours) > 0 && len(stock) > 0 {
			ratio := median(ours) / median(stock)
			row.Figure += fmt.Sprintf(" (ratio %.2f×)", ratio)
			row.Met = met(ratio <= 0.5)
		}
		r.Summary = append(r.Summary, row)
	}
	if om, omf := okSeconds(r.BakeRuns, "ours-mitogen"); len(om)+omf > 0 {
		row := Row{Part: "bake", Figure: "bake wall time with Mitogen, median", Ours: secs(om, omf) + split(r.BakeRuns, "ours-mitogen", om),
			Stock: secs(stock, sf), Target: "ours with Mitogen ≤ 0.6× stock", Met: "n/a"}
		if pm, _ := okSeconds(r.BakeRuns, "plain-mitogen"); len(pm) > 0 {
			row.Plain = "play alone: " + secs(pm, 0) + " with Mitogen"
		}
		if len(om) > 0 && len(stock) > 0 {
			ratio := median(om) / median(stock)
			row.Figure += fmt.Sprintf(" (ratio %.2f×)", ratio)
			row.Met = met(ratio <= 0.6)
		}
		r.Summary = append(r.Summary, row)
	}
	// readiness (P2)
	for _, what := range []string{"instance running", "image available"} {
		lags := map[string][]float64{}
		rates := map[string][]float64{}
		unseen := map[string]int{}
		for _, w := range r.Readiness.Waits {
			if w.What != what {
				continue
			}
			if !w.Seen {
				unseen[w.Side]++
				continue
			}
			lags[w.Side] = append(lags[w.Side], w.LagSeconds)
			rates[w.Side] = append(rates[w.Side], float64(w.Polls)/(w.PendingSeconds/2))
		}
		if len(lags)+len(unseen) == 0 {
			continue
		}
		cell := func(side string) string {
			if len(lags[side]) == 0 {
				return "-"
			}
			s := fmt.Sprintf("lag %.2f s, %.2f calls/2 s (n=%d)", median(lags[side]), maxOf(rates[side]), len(lags[side]))
			if unseen[side] > 0 {
				s += fmt.Sprintf(", %d never seen", unseen[side])
			}
			return s
		}
		row := Row{Part: "readiness", Figure: fmt.Sprintf("%s: median lag, most describe calls per 2 s", what),
			Ours: cell("ours"), Stock: cell("stock"), Target: "≤ 3 s lag, ≤ 1 call / 2 s", Met: "n/a"}
		if len(lags["ours"]) > 0 {
			row.Met = met(median(lags["ours"]) <= 3 && maxOf(rates["ours"]) <= 1 && unseen["ours"] == 0)
		}
		r.Summary = append(r.Summary, row)
	}
	// ansible (P3)
	for _, kind := range []string{"playbook", "copy"} {
		var runs []bakeResult
		var tasks, mb int
		for _, p := range r.AnsibleRuns {
			if p.Kind == kind {
				runs = append(runs, p.bakeResult)
				tasks, mb = p.Tasks, p.MB
			}
		}
		if len(runs) == 0 {
			continue
		}
		plain, pf := okSeconds(runs, "plain")
		pm, pmf := okSeconds(runs, "plain-mitogen")
		o, ofail := okSeconds(runs, "ours")
		om, omf := okSeconds(runs, "ours-mitogen")
		s, sfail := okSeconds(runs, "stock")
		switch kind {
		case "playbook":
			row := playbookRow(fmt.Sprintf("%d-task playbook, median", tasks), "ours ≤ 1.15× plain", 1.15, o, ofail, plain, ratioTo{"stock", s})
			row.Stock, row.Plain = secs(s, sfail), secs(plain, pf)
			r.Summary = append(r.Summary, row)
			if len(om)+omf+len(pm)+pmf > 0 {
				row := playbookRow(fmt.Sprintf("%d-task playbook with Mitogen, median", tasks), "ours with Mitogen ≤ 0.3× plain", 0.3, om, omf, plain, ratioTo{"plain with Mitogen", pm})
				row.Stock, row.Plain = "-", secs(plain, pf)+"; with Mitogen "+secs(pm, pmf)
				r.Summary = append(r.Summary, row)
			}
		case "copy":
			tp := func(xs []float64, failed int) string {
				if len(xs) == 0 {
					return secs(xs, failed)
				}
				return fmt.Sprintf("%.1f MB/s (%.1f s, n=%d)", float64(mb)/median(xs), median(xs), len(xs))
			}
			row := Row{Part: "ansible", Figure: fmt.Sprintf("%d MB copy, throughput of the whole run", mb), Ours: tp(o, ofail), Stock: tp(s, sfail),
				Plain: tp(plain, pf), Target: "ours ≥ 0.8× plain", Met: "n/a"}
			if len(o) > 0 && len(plain) > 0 {
				ratio := median(plain) / median(o)
				row.Figure += fmt.Sprintf(" (ours %.2f× plain)", ratio)
				row.Met = met(ratio >= 0.8)
			}
			r.Summary = append(r.Summary, row)
			if len(om)+omf+len(pm)+pmf > 0 {
				row := Row{Part: "ansible", Figure: fmt.Sprintf("%d MB copy with Mitogen, throughput of the whole run", mb), Ours: tp(om, omf), Stock: "-",
					Plain: tp(plain, pf) + "; with Mitogen " + tp(pm, pmf), Target: "ours with Mitogen ≥ 0.9× plain", Met: "n/a"}
				if len(om) > 0 && len(plain) > 0 {
					ratio := median(plain) / median(om)
					row.Figure += fmt.Sprintf(" (ours %.2f× plain)", ratio)
					row.Met = met(ratio >= 0.9)
				}
				r.Summary = append(r.Summary, row)
			}
		}
	}
	// AWS calls per bake (P4)
	r.CallsPerBake = map[string]map[string]float64{}
	totals, dryRuns := map[string]float64{}, map[string]float64{}
	for _, side := range []string{"ours", "stock"} {
		per := map[string][]float64{}
		var tot, dry []float64
		n := 0
		for _, b := range r.BakeRuns {
			if b.Side != side || !b.OK {
				continue
			}
			n++
			sum, drySum := 0, 0
			for a, c := range b.Calls {
				per[a] = append(per[a], float64(c))
				sum += c
			}
			for _, c := range b.DryRuns {
				drySum += c
			}
			tot = append(tot, float64(sum))
			dry = append(dry, float64(drySum))
		}
		if n == 0 {
			continue
		}
		m := map[string]float64{}
		for a, xs := range per {
			for len(xs) < n { // an action missing from a bake was called 0 times
				xs = append(xs, 0)
			}
			m[a] = median(xs)
		}
		r.CallsPerBake[side] = m
		totals[side] = median(tot)
		dryRuns[side] = median(dry)
	}
	if len(r.CallsPerBake) > 0 {
		cell := func(side string) string {
			if _, ok := r.CallsPerBake[side]; !ok {
				return "-" // not run (-sides)
			}
			if dryRuns[side] > 0 {
				return fmt.Sprintf("%.0f (+%.0f dry runs)", totals[side], dryRuns[side])
			}
			return fmt.Sprintf("%.0f", totals[side])
		}
		row := Row{Part: "aws-calls", Figure: "AWS API calls per bake, median total (by action in calls_per_bake); the permission check's dry runs shown apart, not judged",
			Ours: cell("ours"), Stock: cell("stock"), Target: "ours ≤ stock", Met: "n/a"}
		if _, ok := r.CallsPerBake["stock"]; ok {
			row.Met = met(totals["ours"] <= totals["stock"])
		}
		r.Summary = append(r.Summary, row)
	}
	// concurrent (P5)
	if len(r.Concurrent) > 0 {
		row := Row{Part: "concurrent", Figure: "concurrent bakes, throttled: succeeded, leftovers", Target: "all succeed, nothing left", Met: "n/a"}
		for _, f := range r.Concurrent {
			left := 0
			for _, n := range f.Leftovers {
				left += n
			}
			cell := fmt.Sprintf("%d/%d ok, %d left%s, %.0f s", f.Succeeded, f.Bakes, left, leftText(f.Leftovers), f.WallSeconds)
			switch f.Side {
			case "ours":
				row.Ours = cell
				row.Met = met(f.Succeeded == f.Bakes && left == 0)
				row.Figure = fmt.Sprintf("%d concurrent bakes, %.0f %% throttled: succeeded, leftovers, wall", f.Bakes, f.Throttle*100)
			case "stock":
				row.Stock = cell
			}
		}
		r.Summary = append(r.Summary, row)
	}
}

func leftText(m map[string]int) string {
	var parts []string
	for k, v := range m {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, " ") + ")"
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// printTable writes the summary and the AWS calls by action.
func printTable(w io.Writer, r *Results) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "part\tfigure\tours\tstock\tplain\ttarget\tmet")
	for _, row := range r.Summary {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Part, row.Figure, row.Ours, row.Stock, dash(row.Plain), row.Target, row.Met)
	}
	tw.Flush()
	if len(r.CallsPerBake) == 0 {
		return
	}
	fmt.Fprintln(w, "\nAWS calls per bake by action (median over the bake part's bakes)")
	actions := map[string]bool{}
	for _, m := range r.CallsPerBake {
		for a := range m {
			actions[a] = true
		}
	}
	var names []string
	for a := range actions {
		names = append(names, a)
	}
	sort.Strings(names)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "action\tours\tstock")
	for _, a := range names {
		fmt.Fprintf(tw, "%s\t%g\t%g\n", a, r.CallsPerBake["ours"][a], r.CallsPerBake["stock"][a])
	}
	tw.Flush()
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\nerrors:")
		for _, e := range r.Errors {
			fmt.Fprintln(w, "  "+e)
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
