package ssmparameter

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// PostProcessor publishes the artifact's AMIs to SSM Parameter Store.
type PostProcessor struct {
	config Config
	// clients gives the SSM client of a region; nil: from the session.
	clients func(region string) parameterStore
}

var _ packersdk.PostProcessor = (*PostProcessor)(nil)

func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

func (p *PostProcessor) Configure(raws ...interface{}) error { return p.config.Prepare(raws...) }

// PostProcess writes the parameter in each region and hands the artifact on
// unchanged: publishing adds nothing to delete.
func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, artifact packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	amis, err := bakery.ArtifactAMIs(artifact.Id())
	if err != nil {
		return nil, false, false, fmt.Errorf("bakery-ssm-parameter: %w", err)
	}
	regions, err := bakery.ArtifactRegions(p.config.Regions, amis)
	if err != nil {
		return nil, false, false, fmt.Errorf("bakery-ssm-parameter: %w", err)
	}
	clients := p.clients
	if clients == nil {
		sess, err := bakery.NewSessionOr(ctx, &p.config.AccessConfig, regions[0])
		if err != nil {
			return nil, false, false, fmt.Errorf("bakery-ssm-parameter: %w", err)
		}
		id, err := sess.Identify(ctx)
		if err != nil {
			return nil, false, false, fmt.Errorf("bakery-ssm-parameter: %w", err)
		}
		ui.Say(fmt.Sprintf("AWS credentials: %s", id))
		clients = func(r string) parameterStore { return sess.SSM(r) }
	}
	var errs []error
	for _, r := range regions {
		pub := publisher{client: clients(r), region: r, cfg: &p.config, say: ui.Say}
		if err := pub.publish(ctx, amis[r]); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil, false, false, err
			}
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, false, false, fmt.Errorf("bakery-ssm-parameter: %w", err)
	}
	return artifact, true, false, nil
}
