package ebs

import (
	"context"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// stepDecodeRefusal, with `decode_authorization_messages`, has STS decode
// the encoded message of a refused call into the build's error. It runs
// first, so its Cleanup runs last, after every other step's.
type stepDecodeRefusal struct {
	decode func(context.Context, error) error
}

var _ multistep.Step = (*stepDecodeRefusal)(nil)

func (s *stepDecodeRefusal) Run(context.Context, multistep.StateBag) multistep.StepAction {
	return multistep.ActionContinue
}

func (s *stepDecodeRefusal) Cleanup(state multistep.StateBag) {
	err, ok := getError(state)
	if !ok {
		return
	}
	// A context of its own: the build's may be what was cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	putError(state, s.decode(ctx, err))
}

func (s *stepDecodeRefusal) awsCalls() []awsCall {
	return []awsCall{{action: "sts:DecodeAuthorizationMessage", grants: []Grant{{Sid: "DecodeAuthorizationMessages", AnyResource: true}}}}
}
