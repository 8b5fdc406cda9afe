package sweep

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// A spot build also leaves a launch template and an EC2 Fleet, tagged like
// everything else it creates. (Its spot instance request goes with the
// fleet and the instance.)

// spotEC2 is what sweeping spot builds calls.
type spotEC2 interface {
	DescribeLaunchTemplates(context.Context, *ec2.DescribeLaunchTemplatesInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error)
	DeleteLaunchTemplate(context.Context, *ec2.DeleteLaunchTemplateInput, ...func(*ec2.Options)) (*ec2.DeleteLaunchTemplateOutput, error)
	DescribeFleets(context.Context, *ec2.DescribeFleetsInput, ...func(*ec2.Options)) (*ec2.DescribeFleetsOutput, error)
	DeleteFleets(context.Context, *ec2.DeleteFleetsInput, ...func(*ec2.Options)) (*ec2.DeleteFleetsOutput, error)
}

// listSpot finds the not yet deleted fleets and the launch templates that
// carry the build-id tag, fleets first: they use the templates.
func listSpot(ctx context.Context, c spotEC2, region string) ([]found, error) {
	var out []found
	var next *string
	// DescribeFleets has no tag filter: the tag is checked here.
	for {
		fleets, err := c.DescribeFleets(ctx, &ec2.DescribeFleetsInput{NextToken: next})
		if err != nil {
			return nil, fmt.Errorf("listing EC2 Fleets: %w", err)
		}
		for _, f := range fleets.Fleets {
			switch f.FleetState {
			case types.FleetStateCodeDeleted, types.FleetStateCodeDeletedRunning, types.FleetStateCodeDeletedTerminatingInstances:
				continue
			}
			if build := tag(f.Tags, bakery.TagBuildID); build != "" {
				out = append(out, found{journal.KindFleet, aws.ToString(f.FleetId), region, build, created(f.Tags, aws.ToTime(f.CreateTime))})
			}
		}
		if next = fleets.NextToken; aws.ToString(next) == "" {
			break
		}
	}
	next = nil
	for {
		lts, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{
			Filters:   []types.Filter{{Name: aws.String("tag-key"), Values: []string{bakery.TagBuildID}}},
			NextToken: next,
		})
		if err != nil {
			return nil, fmt.Errorf("listing launch templates: %w", err)
		}
		for _, lt := range lts.LaunchTemplates {
			if build := tag(lt.Tags, bakery.TagBuildID); build != "" {
				out = append(out, found{journal.KindLaunchTemplate, aws.ToString(lt.LaunchTemplateId), region, build, created(lt.Tags, aws.ToTime(lt.CreateTime))})
			}
		}
		if next = lts.NextToken; aws.ToString(next) == "" {
			break
		}
	}
	return out, nil
}

// removeSpot deletes a fleet (with its instances: an instant fleet allows
// nothing else) or a launch template; one already gone is fine.
func removeSpot(ctx context.Context, c spotEC2, r found) error {
	switch r.kind {
	case journal.KindFleet:
		err := deleteFleet(ctx, c, r.id)
		if err == nil {
			return nil
		}
		// A retry after a lost reply meets a fleet already deleted, and
		// EC2 may refuse it then: what counts is the fleet's state.
		if out, derr := c.DescribeFleets(ctx, &ec2.DescribeFleetsInput{FleetIds: []string{r.id}}); derr == nil {
			for _, f := range out.Fleets {
				if aws.ToString(f.FleetId) == r.id && (f.FleetState == types.FleetStateCodeDeleted || f.FleetState == types.FleetStateCodeDeletedTerminatingInstances) {
					return nil
				}
			}
		}
		return fmt.Errorf("deleting EC2 Fleet %s: %w", r.id, err)
	case journal.KindLaunchTemplate:
		_, err := c.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(r.id)})
		if c := code(err); err != nil && c != "InvalidLaunchTemplateId.NotFound" && c != "InvalidLaunchTemplateName.NotFoundException" {
			return fmt.Errorf("deleting launch template %s: %w", r.id, err)
		}
	}
	return nil
}

func deleteFleet(ctx context.Context, c spotEC2, id string) error {
	out, err := c.DeleteFleets(ctx, &ec2.DeleteFleetsInput{FleetIds: []string{id}, TerminateInstances: aws.Bool(true)})
	if err != nil {
		return err
	}
	for _, u := range out.UnsuccessfulFleetDeletions {
		if u.Error != nil && u.Error.Code == types.DeleteFleetErrorCodeFleetIdDoesNotExist {
			continue
		}
		if u.Error != nil {
			return fmt.Errorf("%s: %s", u.Error.Code, aws.ToString(u.Error.Message))
		}
		return fmt.Errorf("EC2 did not delete it and gave no reason")
	}
	return nil
}
