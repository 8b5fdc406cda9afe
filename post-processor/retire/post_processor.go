package retire

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// PostProcessor retires the old AMIs of the artifact's family.
type PostProcessor struct {
	config Config
	// clients gives a region's EC2 and SSM clients; nil: from the session.
	clients func(region string) (imageRetirer, parameterReader)
	now     func() time.Time
}

var _ packersdk.PostProcessor = (*PostProcessor)(nil)

func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

func (p *PostProcessor) Configure(raws ...interface{}) error { return p.config.Prepare(raws...) }

// PostProcess retires in each region and hands the artifact on unchanged.
func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, artifact packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	fail := func(err error) (packersdk.Artifact, bool, bool, error) {
		return nil, false, false, fmt.Errorf("bakery-retire: %w", err)
	}
	amis, err := bakery.ArtifactAMIs(artifact.Id())
	if err != nil {
		return fail(err)
	}
	regions, err := bakery.ArtifactRegions(p.config.Regions, amis)
	if err != nil {
		return fail(err)
	}
	clients := p.clients
	if clients == nil {
		sess, err := bakery.NewSessionOr(ctx, &p.config.AccessConfig, regions[0])
		if err != nil {
			return fail(err)
		}
		id, err := sess.Identify(ctx)
		if err != nil {
			return fail(err)
		}
		ui.Say(fmt.Sprintf("AWS credentials: %s", id))
		clients = func(r string) (imageRetirer, parameterReader) { return sess.EC2(r), sess.SSM(r) }
	}
	now := time.Now
	if p.now != nil {
		now = p.now
	}
	if p.config.DryRun {
		ui.Say("Dry run: nothing is changed")
	}
	// Every region is planned and checked before any is changed: a region
	// whose in-use check or permissions fail stops the whole retirement.
	var retirers []retirer
	plans := map[string][]types.Image{}
	for _, r := range regions {
		ec2c, ssmc := clients(r)
		rt := retirer{ec2: ec2c, ssm: ssmc, region: r, cfg: &p.config, say: ui.Say, now: now()}
		candidates, err := rt.plan(ctx, amis[r])
		if err == nil {
			err = rt.check(ctx, candidates)
		}
		if err != nil {
			return fail(err)
		}
		retirers = append(retirers, rt)
		plans[r] = candidates
	}
	var errs []error
	for _, rt := range retirers {
		if err := rt.apply(ctx, plans[rt.region]); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil, false, false, err
			}
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	return artifact, true, false, nil
}
