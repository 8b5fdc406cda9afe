package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

// concurrentThrottled (P5 in earlier reports) starts many bakes at once
// per side with throttling on, then counts
// successes (exit 0 and the AMI registered) and what was left behind. Each
// bake is the full bake of bakeTime, Ansible included.
func (h *harness) concurrentThrottled(ctx context.Context) error {
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
			name := fmt.Sprintf("concurrent-%s-%d", s.Name, i)
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
					say("concurrent %s failed after %.0f s: %s", name, r.Seconds, r.Error)
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
		say("concurrent %s: %d/%d succeeded in %.0f s, leftovers %v", s.Name, fig.Succeeded, fig.Bakes, fig.WallSeconds, fig.Leftovers)
		h.res.Concurrent = append(h.res.Concurrent, fig)
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
