package ebs

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

type spotLauncher interface {
	CreateLaunchTemplate(context.Context, *ec2.CreateLaunchTemplateInput, ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateOutput, error)
	DescribeLaunchTemplates(context.Context, *ec2.DescribeLaunchTemplatesInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error)
	DescribeLaunchTemplateVersions(context.Context, *ec2.DescribeLaunchTemplateVersionsInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error)
	DeleteLaunchTemplate(context.Context, *ec2.DeleteLaunchTemplateInput, ...func(*ec2.Options)) (*ec2.DeleteLaunchTemplateOutput, error)
	CreateFleet(context.Context, *ec2.CreateFleetInput, ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error)
	DeleteFleets(context.Context, *ec2.DeleteFleetsInput, ...func(*ec2.Options)) (*ec2.DeleteFleetsOutput, error)
	DescribeFleets(context.Context, *ec2.DescribeFleetsInput, ...func(*ec2.Options)) (*ec2.DescribeFleetsOutput, error)
	CreateTags(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	instanceTerminator
}

// stepRunSpotInstance launches the build instance as a spot instance, as
// amazon-ebs does: a launch template made from exactly the request an
// on-demand launch would send, and an EC2 Fleet of type instant for one
// spot instance. Template, fleet, instance and volumes are tagged at
// creation and journaled as AWS returns them; Cleanup deletes the fleet
// with its instance, waits until the instance is gone, and deletes the
// template.
type stepRunSpotInstance struct {
	ec2 spotLauncher
	// input is the on-demand launch request (onDemand.input).
	input              func(multistep.StateBag) *ec2.RunInstancesInput
	onDemand           *stepRunInstance // the launch this one stands in for: its calls are made by EC2 Fleet
	price              string           // spot_price: "auto" or a maximum hourly price
	instanceTypes      []string         // spot_instance_types, instead of the request's type
	allocationStrategy string
	name               string      // the launch template's name, unique to the build
	temporary          bakery.Tags // the build's bakery:* tags
	spotTags           bakery.Tags
	fleetTags          bakery.Tags
	clientToken        string // base of the template's and the fleet's tokens
	poll               bakery.Poll
	journal            *journal.Journal
	// capacityRetryDelay is the first pause before asking EC2 Fleet again
	// (no spot capacity, or an instance profile EC2 does not know yet); it
	// doubles each time. Default 2s.
	capacityRetryDelay time.Duration
	written            asWritten // the tags as written, for the permission check and the policy

	templateID string
	fleetIDs   []string // every fleet made; an instant fleet is made per attempt
	instanceID string
}

var _ multistep.Step = (*stepRunSpotInstance)(nil)

func (s *stepRunSpotInstance) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	in := s.input(state)
	data, err := launchTemplateData(in)
	if err != nil {
		return halt(state, err)
	}
	// The fleet's capacity type and overrides make it spot; EC2 Fleet takes
	// the price from the overrides, not from the template.
	data.InstanceMarketOptions = nil
	spotRequestTags := s.spotTags.Merge(s.temporary)
	if len(spotRequestTags) > 0 { // EC2 rejects a specification without tags
		data.TagSpecifications = append(data.TagSpecifications, types.LaunchTemplateTagSpecificationRequest{
			ResourceType: types.ResourceTypeSpotInstancesRequest, Tags: spotRequestTags.EC2(),
		})
	}

	if err := s.createTemplate(ctx, state, data); err != nil {
		return halt(state, err)
	}

	launchTypes := s.instanceTypes
	if len(launchTypes) == 0 {
		launchTypes = []string{string(in.InstanceType)}
	}
	ui.Say(fmt.Sprintf("Launching a spot instance (%s, maximum price %s) through an EC2 Fleet...", strings.Join(launchTypes, " or "), s.priceText()))
	out, ids, err := s.launchFleet(ctx, ui.Say)
	if err != nil {
		return halt(state, err)
	}
	if len(ids) == 0 {
		return halt(state, fmt.Errorf("EC2 Fleet %s launched no spot instance: %s\nTry other `spot_instance_types`, a higher `spot_price`, or another `subnet_id`/`availability_zone`",
			orNone(aws.ToString(out.FleetId)), fleetErrors(out.Errors)))
	}
	if len(out.Errors) > 0 {
		ui.Say("EC2 Fleet reported, while still launching an instance: " + fleetErrors(out.Errors))
	}
	s.instanceID = ids[0]
	ui.Say(fmt.Sprintf("Spot instance %s launched by EC2 Fleet %s", s.instanceID, aws.ToString(out.FleetId)))
	putInstanceID(state, s.instanceID)

	inst, err := waitUntilRunning(ctx, s.ec2, ui.Say, s.instanceID, s.poll)
	if err != nil {
		return halt(state, err)
	}
	putInstance(state, inst)
	// EC2 Fleet may not pass the launch template's spot request tags on
	// (amazon-ebs tags the request afterwards for that reason).
	if req := aws.ToString(inst.SpotInstanceRequestId); req != "" && len(spotRequestTags) > 0 {
		poll := s.poll
		poll.Timeout = 2 * time.Minute
		err := bakery.Wait(ctx, ui.Say, "spot instance request "+req+" to be tagged", poll, func(ctx context.Context) (bool, string, error) {
			_, err := s.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{req}, Tags: spotRequestTags.EC2()})
			if apiErrorCode(err) == "InvalidSpotInstanceRequestID.NotFound" {
				return false, "not visible yet", nil // EC2 is eventually consistent
			}
			return err == nil, "tagged", err
		})
		if err != nil {
			return halt(state, fmt.Errorf("tagging spot instance request %s: %w", req, err))
		}
	}
	ui.Say(fmt.Sprintf("Instance %s is running (private IP %s, public IP %s)", s.instanceID,
		orNone(aws.ToString(inst.PrivateIpAddress)), orNone(aws.ToString(inst.PublicIpAddress))))
	return multistep.ActionContinue
}

// launchFleet asks EC2 Fleet for the spot instance and returns the last
// reply and the instances it launched. As amazon-ebs does, it asks again,
// after a doubling pause, while EC2 has no spot capacity (for about 30 s)
// or does not know a just-made instance profile yet (for about 2 min, as
// the on-demand launch). Each attempt is a fleet of its own, with a token
// of its own (a retry of one call keeps its token).
func (s *stepRunSpotInstance) launchFleet(ctx context.Context, say func(string)) (*ec2.CreateFleetOutput, []string, error) {
	first := s.capacityRetryDelay
	if first <= 0 {
		first = 2 * time.Second
	}
	delay, waited := first, time.Duration(0)
	for attempt := 1; ; attempt++ {
		in := s.fleetInput()
		if attempt > 1 {
			in.ClientToken = aws.String(fmt.Sprintf("%s-%d", aws.ToString(in.ClientToken), attempt))
		}
		out, err := s.ec2.CreateFleet(ctx, in)
		var ids []string
		if err == nil {
			if id := aws.ToString(out.FleetId); id != "" {
				s.fleetIDs = append(s.fleetIDs, id)
				_ = s.journal.Record(journal.KindFleet, id, "")
			}
			for _, fi := range out.Instances {
				ids = append(ids, fi.InstanceIds...)
			}
			for _, id := range ids {
				_ = s.journal.Record(journal.KindInstance, id, "")
			}
		}
		var reason string
		var budget time.Duration
		switch {
		case err != nil && unknownProfile(err):
			reason, budget = "EC2 does not know the instance profile yet", 60*first
		case err != nil:
			return nil, nil, fmt.Errorf("launching the spot build instance (CreateFleet): %w", err)
		case len(ids) > 0:
			return out, ids, nil
		case noCapacity(out.Errors):
			reason, budget = "EC2 has no spot capacity for this request ("+fleetErrors(out.Errors)+")", 15*first
		case profileNotYet(out.Errors):
			reason, budget = "EC2 does not know the instance profile yet ("+fleetErrors(out.Errors)+")", 60*first
		default:
			return out, nil, nil
		}
		if waited+delay > budget {
			if err != nil {
				return nil, nil, fmt.Errorf("launching the spot build instance (CreateFleet): %w", err)
			}
			return out, nil, nil
		}
		say(fmt.Sprintf("%s; asking again in %s...", reason, delay))
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(delay):
		}
		waited += delay
		delay = min(2*delay, 8*first)
	}
}

// noCapacity is true when every reason EC2 Fleet gave is a (passing) lack
// of spot capacity.
func noCapacity(errs []types.CreateFleetError) bool {
	for _, e := range errs {
		if aws.ToString(e.ErrorCode) != "InsufficientInstanceCapacity" {
			return false
		}
	}
	return len(errs) > 0
}

// profileNotYet is true when every reason EC2 Fleet gave is an instance
// profile it does not know (yet): IAM's changes reach EC2 late.
func profileNotYet(errs []types.CreateFleetError) bool {
	for _, e := range errs {
		msg := strings.ToLower(aws.ToString(e.ErrorMessage))
		if !strings.Contains(msg, "iam instance profile") && !strings.Contains(msg, "iaminstanceprofile") {
			return false
		}
	}
	return len(errs) > 0
}

// createTemplate creates the launch template, or adopts the one an attempt
// whose reply was lost made.
func (s *stepRunSpotInstance) createTemplate(ctx context.Context, state multistep.StateBag, data *types.RequestLaunchTemplateData) error {
	ui := getUI(state)
	out, err := s.ec2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(s.name),
		LaunchTemplateData: data,
		ClientToken:        aws.String(s.clientToken + "-lt"),
		VersionDescription: aws.String("packer-plugin-bakery spot build instance"),
		TagSpecifications:  bakery.Tags{"Name": s.name}.Merge(s.spotTags, s.temporary).Spec(types.ResourceTypeLaunchTemplate),
	})
	switch {
	case err == nil && out.LaunchTemplate != nil:
		s.templateID = aws.ToString(out.LaunchTemplate.LaunchTemplateId)
	case apiErrorCode(err) == "InvalidLaunchTemplateName.AlreadyExistsException":
		id, aerr := s.adoptTemplate(ctx, data)
		if aerr != nil {
			return aerr
		}
		s.templateID = id
		ui.Say(fmt.Sprintf("Launch template %s was created by an attempt whose reply was lost; using it", id))
	case err != nil:
		return fmt.Errorf("creating launch template %q for the spot instance: %w", s.name, err)
	default:
		return fmt.Errorf("creating launch template %q for the spot instance: EC2 returned no template", s.name)
	}
	_ = s.journal.Record(journal.KindLaunchTemplate, s.templateID, "")
	ui.Say(fmt.Sprintf("Created launch template %s (%s)", s.templateID, s.name))
	return nil
}

// adoptTemplate returns the ID of the template named s.name if it is what
// our CreateLaunchTemplate sent: this build's id tag (which others can read
// in the key pair's name, so it proves nothing alone), one version only,
// and that version's data equal to data. Anything else was made or changed
// by someone else: the instance must not launch from it, and it is left
// untouched.
func (s *stepRunSpotInstance) adoptTemplate(ctx context.Context, data *types.RequestLaunchTemplateData) (string, error) {
	out, err := s.ec2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{s.name}})
	if err != nil {
		return "", fmt.Errorf("launch template %q already exists; describing it: %w", s.name, err)
	}
	build := s.temporary[bakery.TagBuildID]
	for _, lt := range out.LaunchTemplates {
		for _, tag := range lt.Tags {
			if build != "" && aws.ToString(tag.Key) == bakery.TagBuildID && aws.ToString(tag.Value) == build {
				id := aws.ToString(lt.LaunchTemplateId)
				return id, s.templateAsSent(ctx, lt, data)
			}
		}
	}
	return "", fmt.Errorf("launch template %q already exists and is not this build's: delete it (aws ec2 delete-launch-template --launch-template-name %s)", s.name, s.name)
}

// templateAsSent fails unless the template holds exactly one version whose
// data is what the build sent.
func (s *stepRunSpotInstance) templateAsSent(ctx context.Context, lt types.LaunchTemplate, data *types.RequestLaunchTemplateData) error {
	id := aws.ToString(lt.LaunchTemplateId)
	notOurs := func(why string) error {
		return fmt.Errorf("launch template %s (%s) carries this build's tag but is not what the build made (%s): someone else made it; it is left untouched and nothing was launched from it: delete it (aws ec2 delete-launch-template --launch-template-id %s) and build again",
			s.name, id, why, id)
	}
	if aws.ToInt64(lt.LatestVersionNumber) != 1 || aws.ToInt64(lt.DefaultVersionNumber) != 1 {
		return notOurs(fmt.Sprintf("it has version %d, the build makes only version 1", max(aws.ToInt64(lt.LatestVersionNumber), aws.ToInt64(lt.DefaultVersionNumber))))
	}
	out, err := s.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: lt.LaunchTemplateId})
	if err != nil {
		return fmt.Errorf("launch template %s (%s) already exists; reading its versions to see whether this build made it: %w", s.name, id, err)
	}
	if len(out.LaunchTemplateVersions) != 1 || aws.ToInt64(out.LaunchTemplateVersions[0].VersionNumber) != 1 {
		return notOurs(fmt.Sprintf("it has %d versions", len(out.LaunchTemplateVersions)))
	}
	if diff := templateDataDiff(data, out.LaunchTemplateVersions[0].LaunchTemplateData); diff != "" {
		return notOurs("its launch data differs in " + diff)
	}
	return nil
}

func (s *stepRunSpotInstance) fleetInput() *ec2.CreateFleetInput {
	var maxPrice *string
	if s.price != spotPriceAuto {
		maxPrice = aws.String(s.price)
	}
	var overrides []types.FleetLaunchTemplateOverridesRequest
	for _, t := range s.instanceTypes {
		overrides = append(overrides, types.FleetLaunchTemplateOverridesRequest{InstanceType: types.InstanceType(t), MaxPrice: maxPrice})
	}
	if len(overrides) == 0 && maxPrice != nil {
		overrides = []types.FleetLaunchTemplateOverridesRequest{{MaxPrice: maxPrice}}
	}
	in := &ec2.CreateFleetInput{
		Type:        types.FleetTypeInstant,
		ClientToken: aws.String(s.clientToken + "-fleet"),
		LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{
			LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{
				LaunchTemplateId: aws.String(s.templateID),
				Version:          aws.String("1"),
			},
			Overrides: overrides,
		}},
		TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{
			TotalTargetCapacity:       aws.Int32(1),
			DefaultTargetCapacityType: types.DefaultTargetCapacityTypeSpot,
		},
		ReplaceUnhealthyInstances: aws.Bool(false),
		TagSpecifications:         s.fleetTags.Merge(s.temporary).Spec(types.ResourceTypeFleet),
	}
	if s.allocationStrategy != "" {
		in.SpotOptions = &types.SpotOptionsRequest{AllocationStrategy: types.SpotAllocationStrategy(s.allocationStrategy)}
	}
	return in
}

func (s *stepRunSpotInstance) priceText() string {
	if s.price == spotPriceAuto {
		return "the on-demand price"
	}
	return "$" + s.price + "/hour"
}

// fleetErrors says why EC2 Fleet launched nothing, per instance type and
// zone it tried.
func fleetErrors(errs []types.CreateFleetError) string {
	if len(errs) == 0 {
		return "EC2 gave no reason"
	}
	var out []string
	for _, e := range errs {
		where := ""
		if lt := e.LaunchTemplateAndOverrides; lt != nil && lt.Overrides != nil {
			var parts []string
			if t := lt.Overrides.InstanceType; t != "" {
				parts = append(parts, string(t))
			}
			if z := aws.ToString(lt.Overrides.AvailabilityZone); z != "" {
				parts = append(parts, "in "+z)
			}
			if len(parts) > 0 {
				where = " (" + strings.Join(parts, " ") + ")"
			}
		}
		out = append(out, fmt.Sprintf("%s: %s%s", aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage), where))
	}
	return strings.Join(out, "; ")
}

func (s *stepRunSpotInstance) Cleanup(state multistep.StateBag) {
	if s.instanceID == "" && len(s.fleetIDs) == 0 && s.templateID == "" {
		return
	}
	ui := getUI(state)
	ctx, cancel := cleanupContext()
	defer cancel()
	var kept []string
	for _, id := range s.fleetIDs {
		ui.Say(fmt.Sprintf("Deleting EC2 Fleet %s...", id))
		// An instant fleet can only be deleted with its instances, so the
		// fleet goes first and terminates the instance; the instance is
		// then waited for (and terminated directly if that failed).
		if err := s.deleteFleet(ctx, id); err != nil {
			cleanupFailed(ui, "EC2 Fleet", id, "aws ec2 delete-fleets --terminate-instances --fleet-ids "+id, err)
			kept = append(kept, id)
		} else {
			_ = s.journal.Forget(id)
		}
	}
	s.fleetIDs = kept
	if s.instanceID != "" {
		ui.Say(fmt.Sprintf("Terminating spot instance %s...", s.instanceID))
		if err := terminateInstance(ctx, s.ec2, ui.Say, s.instanceID, s.poll); err != nil {
			cleanupFailed(ui, "instance", s.instanceID, "aws ec2 terminate-instances --instance-ids "+s.instanceID, err)
		} else {
			_ = s.journal.Forget(s.instanceID)
			s.instanceID = ""
		}
	}
	if s.templateID != "" {
		ui.Say(fmt.Sprintf("Deleting launch template %s...", s.templateID))
		_, err := s.ec2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(s.templateID)})
		if err != nil && !templateGone(err) {
			cleanupFailed(ui, "launch template", s.templateID, "aws ec2 delete-launch-template --launch-template-id "+s.templateID, err)
			return
		}
		_ = s.journal.Forget(s.templateID)
		s.templateID = ""
	}
}

func (s *stepRunSpotInstance) deleteFleet(ctx context.Context, id string) error {
	err := s.deleteFleetOnce(ctx, id)
	if err == nil {
		return nil
	}
	// A retry after a lost reply meets a fleet already deleted, and EC2
	// may refuse it then: what counts is the fleet's state.
	out, derr := s.ec2.DescribeFleets(ctx, &ec2.DescribeFleetsInput{FleetIds: []string{id}})
	if derr == nil {
		for _, f := range out.Fleets {
			if aws.ToString(f.FleetId) == id && (f.FleetState == types.FleetStateCodeDeleted || f.FleetState == types.FleetStateCodeDeletedTerminatingInstances) {
				return nil
			}
		}
	}
	return err
}

func (s *stepRunSpotInstance) deleteFleetOnce(ctx context.Context, id string) error {
	out, err := s.ec2.DeleteFleets(ctx, &ec2.DeleteFleetsInput{FleetIds: []string{id}, TerminateInstances: aws.Bool(true)})
	if err != nil {
		return err
	}
	for _, u := range out.UnsuccessfulFleetDeletions {
		if u.Error != nil && u.Error.Code == types.DeleteFleetErrorCodeFleetIdDoesNotExist {
			continue // gone already
		}
		if u.Error != nil {
			return fmt.Errorf("%s: %s", u.Error.Code, aws.ToString(u.Error.Message))
		}
		return fmt.Errorf("EC2 did not delete it and gave no reason")
	}
	return nil
}

// templateGone is true for the errors EC2 gives for a template that no
// longer exists (moto answers the by-name code for an ID too).
func templateGone(err error) bool {
	switch apiErrorCode(err) {
	case "InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException":
		return true
	}
	return false
}

func (s *stepRunSpotInstance) awsCalls() []awsCall {
	// The instance is launched by an instant EC2 Fleet from a launch
	// template, both the build's own and tagged; EC2 then asks for
	// RunInstances as for an on-demand launch.
	var calls []awsCall
	if s.onDemand != nil {
		calls = s.onDemand.awsCalls()
		for i := range calls {
			if calls[i].action == "ec2:RunInstances" || calls[i].partOf == "ec2:RunInstances" {
				calls[i].partOf = "ec2:CreateFleet"
			}
		}
	}
	ours := []Grant{{Sid: "CreateTaggedSpotFleet", EC2: []string{"launch-template/*", "fleet/*"}, Tagged: RequestTagged}}
	ownTemplate := Grant{Sid: "UseOwnLaunchTemplate", EC2: []string{"launch-template/*"}, Tagged: ResourceTagged}
	// The spot request's tag keys: spot_tags and the build's own.
	keys := slices.Clone(bakery.BuildTagKeys)
	for k := range s.written.of(s.spotTags) {
		if bakery.Known(k) && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	calls = append(calls,
		awsCall{action: "ec2:CreateLaunchTemplate", grants: ours, check: func(ctx context.Context) error {
			_, err := s.ec2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{DryRun: dryRun, LaunchTemplateName: aws.String(placeholderName),
				LaunchTemplateData: &types.RequestLaunchTemplateData{InstanceType: types.InstanceType(s.instanceType())},
				TagSpecifications:  bakery.Tags{"Name": s.name}.Merge(s.written.of(s.spotTags), s.temporary).Spec(types.ResourceTypeLaunchTemplate)})
			return err
		}},
		awsCall{action: "ec2:CreateTags", partOf: "ec2:CreateLaunchTemplate", grants: []Grant{tagOnCreate("CreateLaunchTemplate", "launch-template/*")}},
		awsCall{action: "ec2:CreateFleet", grants: append(ours, ownTemplate,
			Grant{Sid: "LaunchSpotFromFleet", EC2: []string{"instance/*", "volume/*", "network-interface/*", "subnet/*", "security-group/*", "key-pair/*", "image/*", "spot-instances-request/*"}}),
			check: func(ctx context.Context) error {
				_, err := s.ec2.CreateFleet(ctx, &ec2.CreateFleetInput{DryRun: dryRun, Type: types.FleetTypeInstant,
					LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{
						LaunchTemplateId: aws.String(placeholderTemplate), Version: aws.String("$Latest")}}},
					TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{TotalTargetCapacity: aws.Int32(1),
						DefaultTargetCapacityType: types.DefaultTargetCapacityTypeSpot},
					TagSpecifications: s.written.of(s.fleetTags).Merge(s.temporary).Spec(types.ResourceTypeFleet)})
				return err
			}},
		awsCall{action: "ec2:CreateTags", partOf: "ec2:CreateFleet", grants: []Grant{tagOnCreate("CreateFleet", "fleet/*", "spot-instances-request/*")}},
		awsCall{action: "ec2:DeleteLaunchTemplate", grants: []Grant{ownTemplate}, check: func(ctx context.Context) error {
			_, err := s.ec2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{DryRun: dryRun, LaunchTemplateId: aws.String(placeholderTemplate)})
			return err
		}},
		awsCall{action: "ec2:DeleteFleets", grants: []Grant{{Sid: "DeleteOwnFleet", EC2: []string{"fleet/*"}, Tagged: ResourceTagged}},
			check: func(ctx context.Context) error {
				_, err := s.ec2.DeleteFleets(ctx, &ec2.DeleteFleetsInput{DryRun: dryRun, FleetIds: []string{placeholderFleet}, TerminateInstances: aws.Bool(true)}, noRetry)
				return err
			}},
		// The spot request is tagged once EC2 shows it.
		awsCall{action: "ec2:CreateTags", grants: []Grant{{Sid: "TagOwnSpotRequest", EC2: []string{"spot-instances-request/*"}, TagKeys: keys, BuildTags: true}},
			check: func(ctx context.Context) error {
				_, err := s.ec2.CreateTags(ctx, &ec2.CreateTagsInput{DryRun: dryRun, Resources: []string{placeholderSnapshot}, Tags: s.written.of(s.spotTags).Merge(s.temporary).EC2()})
				return err
			}},
		// EC2 Spot's service-linked role, made by the first spot request of
		// an account.
		awsCall{action: "iam:CreateServiceLinkedRole", partOf: "ec2:CreateFleet", grants: []Grant{{Sid: "SpotServiceLinkedRole",
			IAM: []string{"role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"}, ServiceName: "spot.amazonaws.com"}}},
	)
	return append(calls, s.describeCalls()...)
}

// describeCalls: a retry after a lost reply reads the template it meets,
// and a fleet's deletion is checked by reading the fleet.
func (s *stepRunSpotInstance) describeCalls() []awsCall {
	calls := describe("ec2:DescribeLaunchTemplates", "ec2:DescribeFleets", "ec2:DescribeLaunchTemplateVersions")
	calls[0].check = func(ctx context.Context) error {
		_, err := s.ec2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{DryRun: dryRun})
		return err
	}
	calls[1].check = func(ctx context.Context) error {
		_, err := s.ec2.DescribeFleets(ctx, &ec2.DescribeFleetsInput{DryRun: dryRun})
		return err
	}
	calls[2].check = func(ctx context.Context) error {
		_, err := s.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{DryRun: dryRun, LaunchTemplateId: aws.String(placeholderTemplate)})
		return err
	}
	return calls
}

func (s *stepRunSpotInstance) instanceType() string {
	if s.onDemand == nil {
		return ""
	}
	return s.onDemand.instanceType
}
