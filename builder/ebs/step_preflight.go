package ebs

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// permissionCheck is one dry run: the IAM action it checks and the call.
type permissionCheck struct {
	action string
	call   func(context.Context) error
}

// stepPreflight asks EC2, before the build creates anything, whether the
// credentials may make each call the build will make, all in parallel, and
// halts listing every refused action at once.
type stepPreflight struct {
	checks []permissionCheck
}

var _ multistep.Step = (*stepPreflight)(nil)

func (s *stepPreflight) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	if len(s.checks) == 0 {
		return multistep.ActionContinue
	}
	ui := getUI(state)
	ui.Say(fmt.Sprintf("Checking with DryRun that the credentials may make the build's %d kinds of AWS call...", len(s.checks)))
	var (
		mu                    sync.Mutex
		refused, inconclusive []string
		wg                    sync.WaitGroup
		start                 = time.Now()
	)
	for _, c := range s.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.call(ctx)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil, apiErrorCode(err) == "DryRunOperation":
			case apiErrorCode(err) == "NoSuchEntity" && strings.HasPrefix(c.action, "iam:"):
				// The answer an allowed probe of a name that does not
				// exist gets.
			case isAuthorizationError(err):
				refused = append(refused, c.action)
			case ctx.Err() == nil:
				// Any other answer means EC2 did not refuse the call on
				// permission grounds (e.g. NotFound for the placeholder IDs
				// of resources the build has yet to create).
				inconclusive = append(inconclusive, fmt.Sprintf("%s (%s)", c.action, apiErrorCode(err)))
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return halt(state, err)
	}
	if len(inconclusive) > 0 {
		sort.Strings(inconclusive)
		ui.Say("Permission check: these were answered with an error other than a refusal, taken as allowed: " + strings.Join(inconclusive, ", "))
	}
	if len(refused) > 0 {
		sort.Strings(refused)
		return halt(state, fmt.Errorf("the credentials lack %d permission(s) this build needs (refused to a dry run; nothing was created):\n  %s\n"+
			"`packer-plugin-bakery iam-policy` writes the policy this template needs (docs/iam-policy.md); `skip_permission_check = true` skips this check",
			len(refused), strings.Join(refused, "\n  ")))
	}
	ui.Say(fmt.Sprintf("Permission check passed (%d dry runs in %v)", len(s.checks), time.Since(start).Round(time.Millisecond)))
	return multistep.ActionContinue
}

func (s *stepPreflight) Cleanup(multistep.StateBag) {}

// dryRun marks a request as a question about permission only.
var dryRun = aws.Bool(true)

// noRetry: a dry run about a placeholder that the service answers with a
// server error is inconclusive however often it is asked (moto answers
// DeleteFleets and EnableImageDeprecation with HTTP 500); retrying only
// delays the build.
func noRetry(o *ec2.Options) { o.RetryMaxAttempts = 1 }

// permissionChecks are the checks of the calls steps declare, one per
// action: the first step to declare a check of an action asks it.
func permissionChecks(steps []multistep.Step) []permissionCheck {
	var checks []permissionCheck
	seen := map[string]bool{}
	for _, c := range plannedCalls(steps) {
		if c.check == nil || seen[c.action] {
			continue
		}
		seen[c.action] = true
		checks = append(checks, permissionCheck{action: c.action, call: c.check})
	}
	return checks
}
