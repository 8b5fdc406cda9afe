package ssmparameter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// parameterStore is what publishing needs of SSM in one region.
type parameterStore interface {
	GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(context.Context, *ssm.PutParameterInput, ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

// dataTypeImage makes SSM check that the value is an AMI of the account
// and region.
const dataTypeImage = "aws:ec2:image"

// publisher writes the parameter in one region.
type publisher struct {
	client parameterStore
	region string
	cfg    *Config
	say    func(string)
	poll   bakery.Poll // zero: every 2 s up to validation_timeout
}

// publish makes the parameter hold ami: created if missing, a new version
// if it holds another AMI and overwrite is set. It returns once SSM shows
// the new version, since SSM validates aws:ec2:image values only after
// PutParameter has answered and silently drops a value it refuses.
func (p publisher) publish(ctx context.Context, ami string) error {
	name := p.cfg.Name
	cur, err := p.client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
	var notFound *types.ParameterNotFound
	exists := true
	switch {
	case errors.As(err, &notFound):
		exists = false
	case err != nil:
		return fmt.Errorf("reading parameter %s in %s (ssm:GetParameter): %w", name, p.region, err)
	}
	in := &ssm.PutParameterInput{
		Name:     aws.String(name),
		Value:    aws.String(ami),
		Type:     types.ParameterTypeString,
		DataType: aws.String(dataTypeImage),
	}
	if p.cfg.Description != "" {
		in.Description = aws.String(p.cfg.Description)
	}
	previous := int64(0)
	if exists {
		param := cur.Parameter
		previous = param.Version
		value := aws.ToString(param.Value)
		switch {
		case value == ami:
			p.say(fmt.Sprintf("%s: parameter %s already holds %s (version %d): unchanged", p.region, name, ami, param.Version))
			return nil
		case aws.ToString(param.DataType) != dataTypeImage:
			return fmt.Errorf("parameter %s in %s has data type %q, and SSM cannot change a parameter to %s: delete it, or publish under another `parameter_name`", name, p.region, aws.ToString(param.DataType), dataTypeImage)
		case !p.cfg.Overwrite:
			return fmt.Errorf("parameter %s in %s holds %s (version %d); not overwritten: set `overwrite = true` to publish %s as its next version", name, p.region, value, param.Version, ami)
		}
		// SSM refuses tags together with Overwrite; the parameter keeps
		// the tags it has.
		in.Overwrite = aws.Bool(true)
	} else {
		in.Tags = bakery.Tags(p.cfg.Tags).SSM()
	}
	out, err := p.client.PutParameter(ctx, in)
	var already *types.ParameterAlreadyExists
	if errors.As(err, &already) {
		return fmt.Errorf("parameter %s in %s was created by someone else while this build published: run the build again (with `overwrite = true` to replace it): %w", name, p.region, err)
	}
	if err != nil {
		return fmt.Errorf("writing parameter %s = %s in %s (ssm:PutParameter): %w", name, ami, p.region, err)
	}
	if err := p.waitAccepted(ctx, ami, out.Version, previous); err != nil {
		return err
	}
	if exists {
		p.say(fmt.Sprintf("%s: parameter %s = %s (version %d; version %d is the previous AMI)", p.region, name, ami, out.Version, previous))
	} else {
		p.say(fmt.Sprintf("%s: parameter %s = %s (version %d, created)", p.region, name, ami, out.Version))
	}
	return nil
}

// waitAccepted waits until SSM shows version (or a later one) holding ami.
func (p publisher) waitAccepted(ctx context.Context, ami string, version, previous int64) error {
	poll := p.poll
	if poll.Timeout == 0 {
		poll = bakery.Poll{Interval: 2 * time.Second, Timeout: p.cfg.ValidationTimeout}
	}
	name := p.cfg.Name
	err := bakery.Wait(ctx, p.say, fmt.Sprintf("%s: SSM to validate %s = %s", p.region, name, ami), poll, func(ctx context.Context) (bool, string, error) {
		cur, err := p.client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
		var notFound *types.ParameterNotFound
		switch {
		case errors.As(err, &notFound):
			return false, "not created yet", nil
		case err != nil:
			return false, "", fmt.Errorf("reading parameter %s in %s (ssm:GetParameter): %w", name, p.region, err)
		case cur.Parameter.Version >= version && aws.ToString(cur.Parameter.Value) == ami:
			return true, "", nil
		case cur.Parameter.Version > version:
			// Someone published after us: ours is in the history, and
			// it is not ours to undo theirs.
			return false, "", fmt.Errorf("parameter %s in %s moved on to version %d (%s) while this build published %s as version %d", name, p.region, cur.Parameter.Version, aws.ToString(cur.Parameter.Value), ami, version)
		}
		return false, fmt.Sprintf("version %d", cur.Parameter.Version), nil
	})
	if errors.Is(err, bakery.ErrWaitTimeout) {
		if previous == 0 {
			return fmt.Errorf("SSM did not create parameter %s = %s in %s within %s: it validates aws:ec2:image values after accepting the call and drops a value it refuses; check that the AMI is available to the parameter's account (share it first when `assume_role` names another account): %w", name, ami, p.region, poll.Timeout, err)
		}
		return fmt.Errorf("SSM did not take %s as parameter %s's version %d in %s within %s (it still holds version %d): it validates aws:ec2:image values after accepting the call and drops a value it refuses; check that the AMI is available to the parameter's account: %w", ami, name, version, p.region, poll.Timeout, previous, err)
	}
	return err
}
