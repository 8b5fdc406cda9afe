package ebs

import (
	"context"
	"errors"
	"sync"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// attempts records, for one call, whether an attempt the SDK sent before
// the last one may have taken effect on AWS: it ended without AWS's answer
// (a timeout, a reset connection) or with a server error. Only then can a
// "duplicate" answer to the last attempt be the work of our own earlier
// attempt; otherwise someone else made what is in the way.
type attempts struct {
	mu        sync.Mutex
	sent      int
	uncertain bool // an attempt before the current one may have taken effect
	lastOpen  bool // the latest attempt may have taken effect
}

// apiOption counts the attempts: the middleware sits after the SDK's
// retry loop, so it sees each attempt it sends.
func (a *attempts) apiOption(stack *middleware.Stack) error {
	return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("bakeryAttempts",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			a.mu.Lock()
			a.sent++
			a.uncertain = a.uncertain || a.lastOpen
			a.mu.Unlock()
			out, md, err := next.HandleFinalize(ctx, in)
			a.mu.Lock()
			a.lastOpen = mayHaveTakenEffect(err)
			a.mu.Unlock()
			return out, md, err
		}), "Retry", middleware.After)
}

// earlierMayHaveTakenEffect: an attempt before the last one may have
// reached AWS and done its work.
func (a *attempts) earlierMayHaveTakenEffect() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.uncertain
}

// mayHaveTakenEffect: an attempt that ended so did or may have done its
// work. AWS's own refusals (4xx, throttling included) did nothing.
func mayHaveTakenEffect(err error) bool {
	if err == nil {
		return true
	}
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) {
		return true // no answer from AWS: a lost reply
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() > 0 {
		return re.HTTPStatusCode() >= 500
	}
	return true
}
