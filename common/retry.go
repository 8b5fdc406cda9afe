package common

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
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
	r := newSharedRetryer(maxAttempts, currentRunShare())
	retryers[maxAttempts] = r
	return r
}

func newSharedRetryer(maxAttempts int, share *runShare) aws.Retryer {
	var r aws.Retryer = retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = maxAttempts
			so.MaxBackoff = 20 * time.Second
			so.Retryables = append([]retry.IsErrorRetryable{noCapacityNotRetried}, so.Retryables...)
			if share != nil {
				// One retry budget for all the builds of the packer run
				// (runshare.go).
				so.RateLimiter = share
			}
			so.RateLimiter = cleanupExempt{so.RateLimiter}
		})
	})
	if share != nil {
		r = newRunRetryer(r.(aws.RetryerV2), share)
	}
	return r
}

// noCapacityNotRetried: EC2's InsufficientInstanceCapacity is an HTTP 500,
// which the SDK would retry (up to DefaultMaxAttempts, minutes of backoff),
// but capacity for a type in a zone does not come back in seconds: the
// launch moves on to its fallback type or subnet instead, or fails at once
// with EC2's advice.
var noCapacityNotRetried = retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "InsufficientInstanceCapacity" {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
})

// cleanupExempt keeps the calls that remove what a build made out of the
// retry budget: when AWS keeps failing and the budget is spent, a build
// stops, and its cleanup is exactly what must still be retried, or the
// instance, key pair and security group stay behind.
type cleanupExempt struct{ retry.RateLimiter }

func (c cleanupExempt) GetToken(ctx context.Context, cost uint) (func() error, error) {
	if isCleanupCall(awsmiddleware.GetOperationName(ctx)) {
		return func() error { return nil }, nil
	}
	return c.RateLimiter.GetToken(ctx, cost)
}

// isCleanupCall: operations that remove, stop or give back.
func isCleanupCall(op string) bool {
	for _, prefix := range []string{"Terminate", "Delete", "Deregister", "Cancel", "Remove", "Detach", "Disassociate", "Release", "StopInstances"} {
		if strings.HasPrefix(op, prefix) {
			return true
		}
	}
	return false
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
