package common

import (
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// DefaultMaxAttempts is how often a throttled or failed AWS call is tried
// when neither `max_retries` nor AWS_MAX_ATTEMPTS says otherwise. The SDK's
// 3 fails a long bake on a bad minute of throttling; 10 with backoff up to
// 20 s rides out several minutes.
const DefaultMaxAttempts = 10

var (
	retryersMu sync.Mutex
	retryers   = map[int]aws.Retryer{}
)

// sharedRetryer is the SDK's adaptive retry mode, one per attempt limit and
// process: every client of the process draws on one retry budget and one
// client-side rate, so parallel work backs off together when AWS throttles
// instead of each client hammering on its own. Under packer, the budget and
// a throttling pause are shared with the run's other builds too
// (runshare.go).
func sharedRetryer(maxAttempts int) aws.Retryer {
	retryersMu.Lock()
	defer retryersMu.Unlock()
	if r, ok := retryers[maxAttempts]; ok {
		return r
	}
	share := currentRunShare()
	var r aws.Retryer = retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = maxAttempts
			so.MaxBackoff = 20 * time.Second
			if share != nil {
				// One retry budget for all the builds of the packer run
				// (runshare.go).
				so.RateLimiter = share
			}
		})
	})
	if share != nil {
		r = newRunRetryer(r.(aws.RetryerV2), share)
	}
	retryers[maxAttempts] = r
	return r
}

// retryerFor applies `max_retries`; unset, the environment's
// AWS_MAX_ATTEMPTS / AWS_RETRY_MODE (or the profile's) decide, as for the
// AWS CLI, and only without those the plugin's own default applies.
func (c *AccessConfig) retryerFor() func() aws.Retryer {
	switch {
	case c.MaxRetries > 0:
		return func() aws.Retryer { return sharedRetryer(c.MaxRetries) }
	case os.Getenv("AWS_MAX_ATTEMPTS") != "" || os.Getenv("AWS_RETRY_MODE") != "":
		return nil
	default:
		return func() aws.Retryer { return sharedRetryer(DefaultMaxAttempts) }
	}
}
