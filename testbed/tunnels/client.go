package tunnels

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
)

// SSMClient calls the stand-in directly, without HTTP or moto, with the
// SDK's types: unit tests give it to code that wants an SSM client (the
// bed answers the real client's calls in the fault proxy instead).
type SSMClient struct {
	S *SSM

	mu         sync.Mutex
	Starts     int
	Terminated []string
}

func sdkError(err error) error {
	var ae *APIError
	if errors.As(err, &ae) {
		return &smithy.GenericAPIError{Code: ae.Code, Message: ae.Msg}
	}
	return err
}

// StartSession is ssm:StartSession.
func (c *SSMClient) StartSession(_ context.Context, in *ssm.StartSessionInput, _ ...func(*ssm.Options)) (*ssm.StartSessionOutput, error) {
	c.mu.Lock()
	c.Starts++
	c.mu.Unlock()
	id, u, tok, err := c.S.StartSession(aws.ToString(in.Target), aws.ToString(in.DocumentName), in.Parameters)
	if err != nil {
		return nil, sdkError(err)
	}
	return &ssm.StartSessionOutput{SessionId: &id, StreamUrl: &u, TokenValue: &tok}, nil
}

// ResumeSession is ssm:ResumeSession.
func (c *SSMClient) ResumeSession(_ context.Context, in *ssm.ResumeSessionInput, _ ...func(*ssm.Options)) (*ssm.ResumeSessionOutput, error) {
	tok, err := c.S.ResumeSession(aws.ToString(in.SessionId))
	if err != nil {
		return nil, sdkError(err)
	}
	out := &ssm.ResumeSessionOutput{SessionId: in.SessionId}
	if tok != "" {
		out.TokenValue = &tok
	}
	return out, nil
}

// TerminateSession is ssm:TerminateSession.
func (c *SSMClient) TerminateSession(_ context.Context, in *ssm.TerminateSessionInput, _ ...func(*ssm.Options)) (*ssm.TerminateSessionOutput, error) {
	c.mu.Lock()
	c.Terminated = append(c.Terminated, aws.ToString(in.SessionId))
	c.mu.Unlock()
	return &ssm.TerminateSessionOutput{SessionId: in.SessionId}, sdkError(c.S.TerminateSession(aws.ToString(in.SessionId)))
}

// Counts returns how many sessions were started and which were terminated.
func (c *SSMClient) Counts() (starts int, terminated []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Starts, append([]string(nil), c.Terminated...)
}
