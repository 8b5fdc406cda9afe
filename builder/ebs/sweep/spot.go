package sweep

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
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
				out = append(out, found{"fleet", aws.ToString(f.FleetId), region, build, created(f.Tags, aws.ToTime(f.CreateTime))})
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
				out = append(out, found{"launch-template", aws.ToString(lt.LaunchTemplateId), region, build, created(lt.Tags, aws.ToTime(lt.CreateTime))})
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
	case "fleet":
		out, err := c.DeleteFleets(ctx, &ec2.DeleteFleetsInput{FleetIds: []string{r.id}, TerminateInstances: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("deleting EC2 Fleet %s: %w", r.id, err)
		}
		for _, u := range out.UnsuccessfulFleetDeletions {
			if u.Error != nil && u.Error.Code == types.DeleteFleetErrorCodeFleetIdDoesNotExist {
				continue
			}
			msg := "no reason given"
			if u.Error != nil {
				msg = fmt.Sprintf("%s: %s", u.Error.Code, aws.ToString(u.Error.Message))
			}
			return fmt.Errorf("deleting EC2 Fleet %s: %s", r.id, msg)
		}
	case "launch-template":
		_, err := c.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(r.id)})
		if err != nil && code(err) != "InvalidLaunchTemplateId.NotFound" {
			return fmt.Errorf("deleting launch template %s: %w", r.id, err)
		}
	}
	return nil
}
