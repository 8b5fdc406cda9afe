package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProvisionSpanFromTimestampedOutput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output.txt")
	out := strings.Join([]string{
		"2026-11-24T03:14:17Z: ==> bakery-ebs.bench: Launching...",
		"2026-11-24T03:14:18.250Z: ==> bakery-ebs.bench: Connected to SSH!",
		"2026-11-24T03:14:22Z: ==> bakery-ebs.bench: PLAY [Benchmark] ****",
		"==> bakery-ebs.bench: \tcontinued line without a stamp",
		"2026-11-24T03:14:29Z: ==> bakery-ebs.bench: PLAY RECAP ****",
		"2026-11-24T03:14:30Z: ==> bakery-ebs.bench: Stopping instance...",
	}, "\n")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := provisionSpan(path); got != 10.75 {
		t.Errorf("span %v s, want 10.75", got)
	}
	if err := os.WriteFile(path, []byte("2026-11-24T03:14:18Z: ==> x: Connected to SSH!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := provisionSpan(path); got != 0 {
		t.Errorf("no recap: span %v, want 0", got)
	}
}

func TestStampWriterStampsWholeLines(t *testing.T) {
	var buf bytes.Buffer
	w := &stampWriter{w: &buf}
	for _, p := range []string{"Connected ", "to SSH!\nPLAY", " RECAP\n", "tail"} {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := []string{"Connected to SSH!", "PLAY RECAP", "tail"}
	if len(lines) != len(want) {
		t.Fatalf("lines %q", lines)
	}
	for i, l := range lines {
		stamp, rest, _ := strings.Cut(l, ": ")
		if _, err := time.Parse(time.RFC3339, stamp); err != nil || rest != want[i] || !strings.Contains(stamp, ".") {
			t.Errorf("line %q: want a millisecond stamp and %q (%v)", l, want[i], err)
		}
	}
}

func TestSummaryJudgesTargetsFromMedians(t *testing.T) {
	r := &Results{}
	for _, s := range []float64{10, 12, 30} { // median 12
		r.BakeRuns = append(r.BakeRuns, bakeResult{Side: "ours", OK: true, Seconds: s, Calls: map[string]int{"ec2:RunInstances": 1},
			DryRuns: map[string]int{"ec2:RunInstances": 1, "ec2:CreateKeyPair": 1}})
	}
	for _, s := range []float64{20, 25, 26} { // median 25
		r.BakeRuns = append(r.BakeRuns, bakeResult{Side: "stock", OK: true, Seconds: s, Calls: map[string]int{"ec2:RunInstances": 1, "ec2:DescribeVolumes": 1}})
	}
	r.BakeRuns = append(r.BakeRuns, bakeResult{Side: "stock", Error: "boom"}) // failed runs are counted, not timed
	r.BakeRuns = append(r.BakeRuns, bakeResult{Side: "plain-pipelined", OK: true, Seconds: 15}, bakeResult{Side: "plain-defaults", OK: true, Seconds: 18})
	r.Readiness.Waits = []WaitFigure{
		{Side: "ours", What: "image available", PendingSeconds: 120, Polls: 60, Seen: true, LagSeconds: 1},
		{Side: "ours", What: "image available", PendingSeconds: 120, Polls: 61, Seen: true, LagSeconds: 1}, // > 1 call per 2 s
	}
	r.Concurrent = []ConcurrentFigure{{Side: "ours", Bakes: 20, Succeeded: 20, Leftovers: map[string]int{"key_pairs": 1}}}
	r.summarise()
	rows := map[string]Row{}
	for _, row := range r.Summary {
		rows[row.Part] = row
	}
	if p1 := rows["bake"]; p1.Met != "yes" || !strings.Contains(p1.Figure, "0.48×") || !strings.Contains(p1.Stock, "1 failed") {
		t.Errorf("P1 row %+v", p1)
	}
	if p1 := rows["bake"]; p1.Plain != "play alone: 15.0 s (n=1) pipelined (0.60× stock's bake), 18.0 s Ansible defaults" {
		t.Errorf("P1's plain cell %q", p1.Plain)
	}
	if p2 := rows["readiness"]; p2.Met != "no" {
		t.Errorf("61 polls in 120 s is more than one per 2 s: %+v", p2)
	}
	// The permission check's dry runs are shown, and not judged.
	if p4 := rows["aws-calls"]; p4.Met != "yes" || p4.Ours != "1 (+2 dry runs)" || p4.Stock != "2" {
		t.Errorf("P4 row %+v", p4)
	}
	if p5 := rows["concurrent"]; p5.Ours != "20/20 ok, 1 left (key_pairs=1), 0 s" {
		t.Errorf("P5 cell %q", p5.Ours)
	}
	if p5 := rows["concurrent"]; p5.Met != "no" {
		t.Errorf("a leftover key pair fails P5: %+v", p5)
	}
}

// The Mitogen rows are judged against their own targets: the bake against
// stock's, the 200 tasks and the copy against plain ansible-playbook.
func TestSummaryJudgesMitogenTargets(t *testing.T) {
	r := &Results{}
	for _, b := range []bakeResult{
		{Side: "stock", OK: true, Seconds: 10}, {Side: "ours", OK: true, Seconds: 8},
		{Side: "ours-mitogen", OK: true, Seconds: 5.5}, {Side: "ours-mitogen", OK: true, Seconds: 6.5}, // median 6: 0.60×
		{Side: "plain-mitogen", OK: true, Seconds: 4},
	} {
		r.BakeRuns = append(r.BakeRuns, b)
	}
	for _, a := range []AnsibleRun{
		{Kind: "playbook", Variant: "plain", Tasks: 200, bakeResult: bakeResult{Side: "plain", OK: true, Seconds: 50}},
		{Kind: "playbook", Variant: "ours-mitogen", Tasks: 200, bakeResult: bakeResult{Side: "ours-mitogen", OK: true, Seconds: 16}}, // 0.32×
		{Kind: "playbook", Variant: "plain-mitogen", Tasks: 200, bakeResult: bakeResult{Side: "plain-mitogen", OK: true, Seconds: 10}},
		{Kind: "copy", Variant: "plain", MB: 100, bakeResult: bakeResult{Side: "plain", OK: true, Seconds: 3}},
		{Kind: "copy", Variant: "ours-mitogen", MB: 100, bakeResult: bakeResult{Side: "ours-mitogen", OK: true, Seconds: 3.2}}, // 0.94×
	} {
		r.AnsibleRuns = append(r.AnsibleRuns, a)
	}
	r.summarise()
	rows := map[string]Row{}
	for _, row := range r.Summary {
		for _, what := range []string{"wall", "playbook", "copy"} {
			if strings.Contains(row.Figure, "Mitogen") && strings.Contains(row.Figure, what) {
				rows[row.Part+" "+what] = row
			}
		}
	}
	if b := rows["bake wall"]; b.Met != "yes" || !strings.Contains(b.Figure, "0.60×") || b.Plain != "play alone: 4.0 s (n=1) with Mitogen" {
		t.Errorf("bake with Mitogen %+v", b)
	}
	if p := rows["ansible playbook"]; p.Met != "no" || !strings.Contains(p.Figure, "ours 0.32× plain, plain with Mitogen 0.20×") {
		t.Errorf("200 tasks with Mitogen %+v", p)
	}
	if c := rows["ansible copy"]; c.Met != "yes" || !strings.Contains(c.Figure, "0.94×") {
		t.Errorf("copy with Mitogen %+v", c)
	}
	if len(rows) != 3 {
		t.Errorf("Mitogen rows %v, want 3", rows)
	}
}
