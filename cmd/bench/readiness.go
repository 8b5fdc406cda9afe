package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

// readinessLag (P2 in earlier reports) holds instances pending for 30 s
// and AMIs for 120 s (flags) and runs every
// side's bakes at once; the proxy's Waits say when each resource became
// ready, when a describe reply first showed it so, and how often it was
// described meanwhile.
func (h *harness) readinessLag(ctx context.Context) error {
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
			name := fmt.Sprintf("readiness-%s-%d", s.Name, i)
			vars := h.bakeVars(name, h.smallPB)
			owner[name] = s.Name
			amis[vars["ami_name"].(string)] = name
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := h.packerBuild(bctx, s, s.bakeDir, name, vars)
				say("readiness %s: %.1f s ok=%v %s", name, r.Seconds, r.OK, r.Error)
				mu.Lock()
				h.res.Readiness.Bakes = append(h.res.Readiness.Bakes, r)
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
		h.res.Readiness.Waits = append(h.res.Readiness.Waits, pw)
	}
	sort.Slice(h.res.Readiness.Waits, func(i, j int) bool { return h.res.Readiness.Waits[i].Run < h.res.Readiness.Waits[j].Run })
	return nil
}
