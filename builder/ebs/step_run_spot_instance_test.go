package ebs

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// fakeSpot implements spotLauncher.
type fakeSpot struct {
	fake
	CreateLaunchTemplateCalls    script[ec2.CreateLaunchTemplateInput, ec2.CreateLaunchTemplateOutput]
	DescribeLaunchTemplatesCalls script[ec2.DescribeLaunchTemplatesInput, ec2.DescribeLaunchTemplatesOutput]
	DescribeVersionsCalls        script[ec2.DescribeLaunchTemplateVersionsInput, ec2.DescribeLaunchTemplateVersionsOutput]
	DeleteLaunchTemplateCalls    script[ec2.DeleteLaunchTemplateInput, ec2.DeleteLaunchTemplateOutput]
	CreateFleetCalls             script[ec2.CreateFleetInput, ec2.CreateFleetOutput]
	DeleteFleetsCalls            script[ec2.DeleteFleetsInput, ec2.DeleteFleetsOutput]
	DescribeFleetsCalls          script[ec2.DescribeFleetsInput, ec2.DescribeFleetsOutput]
	CreateTagsCalls              script[ec2.CreateTagsInput, ec2.CreateTagsOutput]
	DescribeInstancesCalls       script[ec2.DescribeInstancesInput, ec2.DescribeInstancesOutput]
	TerminateInstancesCalls      script[ec2.TerminateInstancesInput, ec2.TerminateInstancesOutput]
}

var _ spotLauncher = (*fakeSpot)(nil)

func newFakeSpot(t *testing.T) *fakeSpot {
	f := &fakeSpot{}
	f.fake = newFake(t, map[string]pending{
		"CreateLaunchTemplate":           &f.CreateLaunchTemplateCalls,
		"DescribeLaunchTemplates":        &f.DescribeLaunchTemplatesCalls,
		"DescribeLaunchTemplateVersions": &f.DescribeVersionsCalls,
		"DeleteLaunchTemplate":           &f.DeleteLaunchTemplateCalls,
		"CreateFleet":                    &f.CreateFleetCalls,
		"DeleteFleets":                   &f.DeleteFleetsCalls,
		"DescribeFleets":                 &f.DescribeFleetsCalls,
		"CreateTags":                     &f.CreateTagsCalls,
		"DescribeInstances":              &f.DescribeInstancesCalls,
		"TerminateInstances":             &f.TerminateInstancesCalls,
	})
	return f
}

func (f *fakeSpot) CreateLaunchTemplate(ctx context.Context, in *ec2.CreateLaunchTemplateInput, _ ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateOutput, error) {
	return call(&f.fake, &f.CreateLaunchTemplateCalls, "CreateLaunchTemplate", ctx, in)
}

func (f *fakeSpot) DescribeLaunchTemplates(ctx context.Context, in *ec2.DescribeLaunchTemplatesInput, _ ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error) {
	return call(&f.fake, &f.DescribeLaunchTemplatesCalls, "DescribeLaunchTemplates", ctx, in)
}

func (f *fakeSpot) DescribeLaunchTemplateVersions(ctx context.Context, in *ec2.DescribeLaunchTemplateVersionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
	return call(&f.fake, &f.DescribeVersionsCalls, "DescribeLaunchTemplateVersions", ctx, in)
}

func (f *fakeSpot) DeleteLaunchTemplate(ctx context.Context, in *ec2.DeleteLaunchTemplateInput, _ ...func(*ec2.Options)) (*ec2.DeleteLaunchTemplateOutput, error) {
	return call(&f.fake, &f.DeleteLaunchTemplateCalls, "DeleteLaunchTemplate", ctx, in)
}

func (f *fakeSpot) CreateFleet(ctx context.Context, in *ec2.CreateFleetInput, _ ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	return call(&f.fake, &f.CreateFleetCalls, "CreateFleet", ctx, in)
}

func (f *fakeSpot) DeleteFleets(ctx context.Context, in *ec2.DeleteFleetsInput, _ ...func(*ec2.Options)) (*ec2.DeleteFleetsOutput, error) {
	return call(&f.fake, &f.DeleteFleetsCalls, "DeleteFleets", ctx, in)
}

func (f *fakeSpot) DescribeFleets(ctx context.Context, in *ec2.DescribeFleetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeFleetsOutput, error) {
	return call(&f.fake, &f.DescribeFleetsCalls, "DescribeFleets", ctx, in)
}

func (f *fakeSpot) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	return call(&f.fake, &f.CreateTagsCalls, "CreateTags", ctx, in)
}

func (f *fakeSpot) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	return call(&f.fake, &f.DescribeInstancesCalls, "DescribeInstances", ctx, in)
}

func (f *fakeSpot) TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	return call(&f.fake, &f.TerminateInstancesCalls, "TerminateInstances", ctx, in)
}

var spotTemporary = bakery.Tags{bakery.TagBuildID: "b1", bakery.TagCreatedAt: "2026-01-01T00:00:00Z", bakery.TagCreatedBy: "test"}

// newSpotStep is a spot launch of what newRunStep would launch on demand,
// journaled in a journal of its own.
func newSpotStep(t *testing.T, f spotLauncher, price string) (*stepRunSpotInstance, *journal.Journal) {
	t.Helper()
	t.Setenv(journal.EnvDir, t.TempDir())
	j, err := journal.Open("b1", "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	onDemand := newRunStep(nil)
	onDemand.journal = j
	// As plan makes it.
	step := &stepRunSpotInstance{ec2: f, onDemand: onDemand, input: onDemand.input, price: price, name: "packer_bakery_b1",
		temporary: spotTemporary, clientToken: onDemand.clientToken, poll: onDemand.poll, journal: j}
	step.spotTags = bakery.Tags{"team": "spot"}
	step.fleetTags = bakery.Tags{"fleet": "yes"}
	step.capacityRetryDelay = time.Millisecond
	return step, j
}

func templateCreated(id string) *ec2.CreateLaunchTemplateOutput {
	return &ec2.CreateLaunchTemplateOutput{LaunchTemplate: &types.LaunchTemplate{LaunchTemplateId: aws.String(id), LaunchTemplateName: aws.String("packer_bakery_b1")}}
}

func fleetLaunched(fleet string, instances ...string) *ec2.CreateFleetOutput {
	out := &ec2.CreateFleetOutput{FleetId: aws.String(fleet)}
	if len(instances) > 0 {
		out.Instances = []types.CreateFleetInstance{{InstanceIds: instances, Lifecycle: types.InstanceLifecycleSpot}}
	}
	return out
}

func journaledKinds(j *journal.Journal) map[string]string {
	m := map[string]string{}
	for _, r := range j.Remaining() {
		m[r.ID] = string(r.Kind)
	}
	return m
}

func specTags[T any](specs []T, rt types.ResourceType) map[string]string {
	for _, s := range specs {
		v := reflect.ValueOf(s)
		if types.ResourceType(v.FieldByName("ResourceType").String()) == rt {
			return tagMap(v.FieldByName("Tags").Interface().([]types.Tag))
		}
	}
	return nil
}

func TestStepRunSpotInstance_launchAndCleanup(t *testing.T) {
	running := instance("i-1", types.InstanceStateNameRunning)
	running.SpotInstanceRequestId = aws.String("sir-1")
	running.PublicIpAddress = aws.String("203.0.113.5")
	f := newFakeSpot(t)
	f.CreateLaunchTemplateCalls.Return(templateCreated("lt-1"), nil)
	f.CreateFleetCalls.Return(fleetLaunched("fleet-1", "i-1"), nil)
	f.DescribeInstancesCalls.
		Return(nil, apiErr("InvalidInstanceID.NotFound")).
		Return(described(running), nil)
	f.CreateTagsCalls.Return(nil, apiErr("InvalidSpotInstanceRequestID.NotFound")).Return(nil, nil)
	state, ui := stateForLaunch(t, "packer_bakery_b1")
	step, j := newSpotStep(t, f, "0.05")
	step.allocationStrategy = "capacity-optimized"

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	// The template: named for the build, tagged at creation, and holding
	// exactly what the on-demand launch would have asked for.
	lt := f.CreateLaunchTemplateCalls.Input(t)
	if aws.ToString(lt.LaunchTemplateName) != "packer_bakery_b1" {
		t.Errorf("template name %q, want packer_bakery_b1", aws.ToString(lt.LaunchTemplateName))
	}
	if tok := aws.ToString(lt.ClientToken); tok == "" || !strings.Contains(tok, "bakery-b1") {
		t.Errorf("CreateLaunchTemplate ClientToken %q, want one derived from the build", tok)
	}
	wantLT := map[string]string{"Name": "packer_bakery_b1", "team": "spot", bakery.TagBuildID: "b1", bakery.TagCreatedAt: "2026-01-01T00:00:00Z", bakery.TagCreatedBy: "test"}
	if got := specTags(lt.TagSpecifications, types.ResourceTypeLaunchTemplate); !reflect.DeepEqual(got, wantLT) || len(lt.TagSpecifications) != 1 {
		t.Errorf("template tagged %s, want %v", jsonString(lt.TagSpecifications), wantLT)
	}
	onDemand, _ := launchTemplateData(newRunStep(nil).input(state))
	data := *lt.LaunchTemplateData
	if got := specTags(data.TagSpecifications, types.ResourceTypeSpotInstancesRequest); !reflect.DeepEqual(got, map[string]string{"team": "spot", bakery.TagBuildID: "b1", bakery.TagCreatedAt: "2026-01-01T00:00:00Z", bakery.TagCreatedBy: "test"}) {
		t.Errorf("spot request tags %v, want spot_tags and the build's tags", got)
	}
	data.TagSpecifications = data.TagSpecifications[:len(data.TagSpecifications)-1]
	if !reflect.DeepEqual(&data, onDemand) {
		t.Errorf("template data differs from the on-demand launch:\n got %s\nwant %s", jsonString(data), jsonString(onDemand))
	}
	if data.InstanceMarketOptions != nil {
		t.Errorf("template has market options %s: EC2 Fleet sets the market", jsonString(data.InstanceMarketOptions))
	}

	// The fleet: one spot instance, instant, from that template.
	fl := f.CreateFleetCalls.Input(t)
	if fl.Type != types.FleetTypeInstant || aws.ToInt32(fl.TargetCapacitySpecification.TotalTargetCapacity) != 1 ||
		fl.TargetCapacitySpecification.DefaultTargetCapacityType != types.DefaultTargetCapacityTypeSpot {
		t.Errorf("fleet %s, want an instant fleet of 1 spot instance", jsonString(fl))
	}
	if len(fl.LaunchTemplateConfigs) != 1 || aws.ToString(fl.LaunchTemplateConfigs[0].LaunchTemplateSpecification.LaunchTemplateId) != "lt-1" ||
		aws.ToString(fl.LaunchTemplateConfigs[0].LaunchTemplateSpecification.Version) != "1" {
		t.Fatalf("fleet launch templates %s, want lt-1 version 1", jsonString(fl.LaunchTemplateConfigs))
	}
	if ov := fl.LaunchTemplateConfigs[0].Overrides; len(ov) != 1 || aws.ToString(ov[0].MaxPrice) != "0.05" || ov[0].InstanceType != "" {
		t.Errorf("overrides %s, want the maximum price 0.05 and the template's instance type", jsonString(ov))
	}
	if fl.SpotOptions == nil || fl.SpotOptions.AllocationStrategy != types.SpotAllocationStrategyCapacityOptimized {
		t.Errorf("spot options %s, want capacity-optimized", jsonString(fl.SpotOptions))
	}
	if got := specTags(fl.TagSpecifications, types.ResourceTypeFleet); !reflect.DeepEqual(got, map[string]string{"fleet": "yes", bakery.TagBuildID: "b1", bakery.TagCreatedAt: "2026-01-01T00:00:00Z", bakery.TagCreatedBy: "test"}) {
		t.Errorf("fleet tags %v, want fleet_tags and the build's tags", got)
	}
	if tl, tf := aws.ToString(lt.ClientToken), aws.ToString(fl.ClientToken); tf == "" || tf == tl || len(tf) > 64 {
		t.Errorf("CreateFleet ClientToken %q: want its own token of at most 64 characters (template's %q)", tf, tl)
	}

	if n := f.CreateTagsCalls.Called(); n != 2 {
		t.Errorf("%d CreateTags calls, want a retry after the request was not visible yet", n)
	}
	if tags := f.CreateTagsCalls.Inputs[1]; !reflect.DeepEqual(tags.Resources, []string{"sir-1"}) || tagMap(tags.Tags)["team"] != "spot" {
		t.Errorf("CreateTags %s, want the spot request sir-1 tagged with spot_tags", jsonString(tags))
	}
	if got := getInstance(state); aws.ToString(got.PublicIpAddress) != "203.0.113.5" || state.Get(keyInstanceID) != "i-1" {
		t.Errorf("state instance %s / id %v, want the running i-1", jsonString(got), state.Get(keyInstanceID))
	}
	if got, want := journaledKinds(j), map[string]string{"lt-1": "launch-template", "fleet-1": "fleet", "i-1": "instance"}; !reflect.DeepEqual(got, want) {
		t.Errorf("journal holds %v, want %v", got, want)
	}
	for _, said := range []string{"Created launch template lt-1", "maximum price $0.05/hour", "Spot instance i-1 launched by EC2 Fleet fleet-1", "Instance i-1 is running"} {
		if !strings.Contains(ui.Out.String(), said) {
			t.Errorf("user was not told %q:\n%s", said, ui.Out.String())
		}
	}

	// Cleanup: the fleet with its instances (instant fleets allow nothing
	// else), the instance until it is gone, then the template, each with a
	// live context.
	f.Order = nil
	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameTerminated)), nil)
	f.DeleteFleetsCalls.Return(&ec2.DeleteFleetsOutput{SuccessfulFleetDeletions: []types.DeleteFleetSuccessItem{{FleetId: aws.String("fleet-1")}}}, nil)
	f.DeleteLaunchTemplateCalls.Return(nil, nil)
	state.Put(multistep.StateCancelled, true)
	step.Cleanup(state)
	if want := []string{"DeleteFleets", "TerminateInstances", "DescribeInstances", "DeleteLaunchTemplate"}; !reflect.DeepEqual(f.Order, want) {
		t.Errorf("cleanup calls %v, want %v", f.Order, want)
	}
	if d := f.DeleteFleetsCalls.Input(t); !reflect.DeepEqual(d.FleetIds, []string{"fleet-1"}) || !aws.ToBool(d.TerminateInstances) {
		t.Errorf("DeleteFleets %s, want fleet-1 with its instances", jsonString(d))
	}
	if d := f.DeleteLaunchTemplateCalls.Input(t); aws.ToString(d.LaunchTemplateId) != "lt-1" {
		t.Errorf("deleted template %s, want lt-1", jsonString(d))
	}
	wantLiveCleanupContexts(t, "DeleteFleets", f.DeleteFleetsCalls.CtxErrs, f.DeleteFleetsCalls.HadDeadline)
	wantLiveCleanupContexts(t, "DeleteLaunchTemplate", f.DeleteLaunchTemplateCalls.CtxErrs, f.DeleteLaunchTemplateCalls.HadDeadline)
	if ui.Err.Len() > 0 {
		t.Errorf("cleanup showed an error: %s", ui.Err.String())
	}
	if left := j.Remaining(); len(left) != 0 {
		t.Errorf("journal still holds %v after cleanup", left)
	}
	step.Cleanup(state) // nothing left: no call
}

func TestStepRunSpotInstance_instanceTypesAndAutoPrice(t *testing.T) {
	f := newFakeSpot(t)
	f.CreateLaunchTemplateCalls.Return(templateCreated("lt-1"), nil)
	f.CreateFleetCalls.Return(fleetLaunched("fleet-1", "i-1"), nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameRunning)), nil)
	state, ui := stateForLaunch(t, "k")
	step, _ := newSpotStep(t, f, "auto")
	step.input = func(state multistep.StateBag) *ec2.RunInstancesInput {
		s := newRunStep(nil)
		s.instanceType = "" // spot_instance_types replaces instance_type
		return s.input(state)
	}
	step.instanceTypes = []string{"t3.micro", "t3a.micro"}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	if it := f.CreateLaunchTemplateCalls.Input(t).LaunchTemplateData.InstanceType; it != "" {
		t.Errorf("template instance type %q, want none: the overrides give the types", it)
	}
	fl := f.CreateFleetCalls.Input(t)
	var got []string
	for _, ov := range fl.LaunchTemplateConfigs[0].Overrides {
		got = append(got, string(ov.InstanceType))
		if ov.MaxPrice != nil {
			t.Errorf("override %s has a maximum price: \"auto\" leaves it at the on-demand price", jsonString(ov))
		}
	}
	if !reflect.DeepEqual(got, []string{"t3.micro", "t3a.micro"}) {
		t.Errorf("overrides for %v, want t3.micro and t3a.micro", got)
	}
	if fl.SpotOptions != nil {
		t.Errorf("spot options %s without spot_allocation_strategy, want EC2's default", jsonString(fl.SpotOptions))
	}
	if !strings.Contains(ui.Out.String(), "t3.micro or t3a.micro, maximum price the on-demand price") {
		t.Errorf("user was not told the types and price:\n%s", ui.Out.String())
	}
	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(nil, apiErr("InvalidInstanceID.NotFound"))
	f.DeleteFleetsCalls.Return(nil, nil)
	f.DeleteLaunchTemplateCalls.Return(nil, nil)
	step.Cleanup(state)
}

func TestStepRunSpotInstance_fleetLaunchesNothing(t *testing.T) {
	tests := []struct {
		name      string
		out       *ec2.CreateFleetOutput
		err       error
		want      []string
		wantFleet bool
	}{
		{
			name: "no spot capacity",
			out: &ec2.CreateFleetOutput{FleetId: aws.String("fleet-1"), Errors: []types.CreateFleetError{{
				ErrorCode:    aws.String("InsufficientInstanceCapacity"),
				ErrorMessage: aws.String("There is no Spot capacity available that matches your request."),
				LaunchTemplateAndOverrides: &types.LaunchTemplateAndOverridesResponse{Overrides: &types.FleetLaunchTemplateOverrides{
					InstanceType: types.InstanceTypeT3Micro, AvailabilityZone: aws.String("eu-west-1a")}},
			}, {
				ErrorCode:    aws.String("SpotMaxPriceTooLow"),
				ErrorMessage: aws.String("Your Spot request price of 0.001 is lower than the minimum required Spot request fulfillment price of 0.0035."),
			}}},
			want: []string{"EC2 Fleet fleet-1 launched no spot instance", "InsufficientInstanceCapacity: There is no Spot capacity available that matches your request. (t3.micro in eu-west-1a)",
				"SpotMaxPriceTooLow: Your Spot request price of 0.001", "`spot_instance_types`", "`spot_price`"},
			wantFleet: true,
		},
		{
			name: "no reason given", out: &ec2.CreateFleetOutput{FleetId: aws.String("fleet-1")},
			want: []string{"EC2 Fleet fleet-1 launched no spot instance: EC2 gave no reason"}, wantFleet: true,
		},
		{
			name: "CreateFleet refused", err: apiErr("InvalidFleetConfig"),
			want: []string{"launching the spot build instance (CreateFleet)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSpot(t)
			f.CreateLaunchTemplateCalls.Return(templateCreated("lt-1"), nil)
			f.CreateFleetCalls.Return(tt.out, tt.err)
			state, ui := stateForLaunch(t, "k")
			step, j := newSpotStep(t, f, "0.001")

			err := wantHalt(t, step.Run(t.Context(), state), state, ui, tt.want...)
			if tt.err != nil {
				wantAPICode(t, err, "InvalidFleetConfig")
			}
			wantNoKeys(t, state, keyInstance, keyInstanceID)

			// The fleet (if any) and the template go; there is no instance.
			if tt.wantFleet {
				f.DeleteFleetsCalls.Return(nil, nil)
			}
			f.DeleteLaunchTemplateCalls.Return(nil, nil)
			state.Put(multistep.StateHalted, true)
			step.Cleanup(state)
			if left := j.Remaining(); len(left) != 0 {
				t.Errorf("journal still holds %v", left)
			}
			if ui.Err.String() != err.Error()+"\n" {
				t.Errorf("cleanup showed more errors: %s", ui.Err.String())
			}
		})
	}
}

func noCapacityFleet(id string) *ec2.CreateFleetOutput {
	return &ec2.CreateFleetOutput{FleetId: aws.String(id), Errors: []types.CreateFleetError{{
		ErrorCode:    aws.String("InsufficientInstanceCapacity"),
		ErrorMessage: aws.String("There is no Spot capacity available that matches your request."),
	}}}
}

// As amazon-ebs does, a lack of spot capacity is asked about again for a
// while; each attempt is a new fleet with a token of its own.
func TestStepRunSpotInstance_capacityComesBack(t *testing.T) {
	f := newFakeSpot(t)
	f.CreateLaunchTemplateCalls.Return(templateCreated("lt-1"), nil)
	f.CreateFleetCalls.Return(noCapacityFleet("fleet-1"), nil).Return(fleetLaunched("fleet-2", "i-1"), nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameRunning)), nil)
	state, ui := stateForLaunch(t, "k")
	step, j := newSpotStep(t, f, "auto")

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	t1, t2 := aws.ToString(f.CreateFleetCalls.Inputs[0].ClientToken), aws.ToString(f.CreateFleetCalls.Inputs[1].ClientToken)
	if t1 == t2 || t2 != t1+"-2" {
		t.Errorf("fleet tokens %q then %q, want a new one per attempt", t1, t2)
	}
	if !strings.Contains(ui.Out.String(), "EC2 has no spot capacity for this request (InsufficientInstanceCapacity: There is no Spot capacity") ||
		!strings.Contains(ui.Out.String(), "asking again in 1ms") {
		t.Errorf("user was not told of the retry:\n%s", ui.Out.String())
	}
	if got, want := journaledKinds(j), map[string]string{"lt-1": "launch-template", "fleet-1": "fleet", "fleet-2": "fleet", "i-1": "instance"}; !reflect.DeepEqual(got, want) {
		t.Errorf("journal holds %v, want %v", got, want)
	}
	f.DeleteFleetsCalls.Return(nil, nil).Return(nil, nil)
	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameTerminated)), nil)
	f.DeleteLaunchTemplateCalls.Return(nil, nil)
	step.Cleanup(state)
	var deleted []string
	for _, in := range f.DeleteFleetsCalls.Inputs {
		deleted = append(deleted, in.FleetIds...)
	}
	if !reflect.DeepEqual(deleted, []string{"fleet-1", "fleet-2"}) {
		t.Errorf("deleted fleets %v, want both attempts' fleets", deleted)
	}
	if left := j.Remaining(); len(left) != 0 {
		t.Errorf("journal holds %v", left)
	}
}

// A temporary instance profile reaches EC2 a little after IAM made it:
// EC2 Fleet then fails the launch (in its errors, or the call itself), and
// is asked again, as the on-demand launch asks RunInstances again.
func TestStepRunSpotInstance_instanceProfileNotKnownYet(t *testing.T) {
	f := newFakeSpot(t)
	f.CreateLaunchTemplateCalls.Return(templateCreated("lt-1"), nil)
	f.CreateFleetCalls.
		Return(&ec2.CreateFleetOutput{FleetId: aws.String("fleet-1"), Errors: []types.CreateFleetError{{
			ErrorCode: aws.String("InvalidParameterValue"), ErrorMessage: aws.String("Value (packer_bakery_b1) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"),
		}}}, nil).
		Return(nil, &smithy.OperationError{ServiceID: "EC2", OperationName: "CreateFleet", Err: &smithy.GenericAPIError{
			Code: "InvalidParameterValue", Message: "Invalid IAM Instance Profile name"}}).
		Return(fleetLaunched("fleet-3", "i-1"), nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameRunning)), nil)
	state, ui := stateForLaunch(t, "k")
	step, j := newSpotStep(t, f, "auto")

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	if n := f.CreateFleetCalls.Called(); n != 3 {
		t.Errorf("%d CreateFleet calls, want 3", n)
	}
	if !strings.Contains(ui.Out.String(), "EC2 does not know the instance profile yet") {
		t.Errorf("user was not told why the launch is retried:\n%s", ui.Out.String())
	}
	if got := journaledKinds(j); got["fleet-1"] != "fleet" || got["fleet-3"] != "fleet" {
		t.Errorf("journal %v, want both fleets", got)
	}
	f.DeleteFleetsCalls.Return(nil, nil).Return(nil, nil)
	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameTerminated)), nil)
	f.DeleteLaunchTemplateCalls.Return(nil, nil)
	step.Cleanup(state)
}

func TestStepRunSpotInstance_capacityNeverComes(t *testing.T) {
	f := newFakeSpot(t)
	f.CreateLaunchTemplateCalls.Return(templateCreated("lt-1"), nil)
	// Pauses of 1, 2, 4 and 8 times the first: 5 attempts, as 2+4+8+16 s
	// are about amazon-ebs's 30 s.
	const capacityAttempts = 5
	for i := 1; i <= capacityAttempts; i++ {
		f.CreateFleetCalls.Return(noCapacityFleet(fmt.Sprintf("fleet-%d", i)), nil)
	}
	state, ui := stateForLaunch(t, "k")
	step, j := newSpotStep(t, f, "auto")

	wantHalt(t, step.Run(t.Context(), state), state, ui, "EC2 Fleet fleet-5 launched no spot instance: InsufficientInstanceCapacity")
	if n := f.CreateFleetCalls.Called(); n != capacityAttempts {
		t.Errorf("%d CreateFleet calls, want %d", n, capacityAttempts)
	}
	for i := 0; i < capacityAttempts; i++ {
		f.DeleteFleetsCalls.Return(nil, nil)
	}
	f.DeleteLaunchTemplateCalls.Return(nil, nil)
	step.Cleanup(state)
	if left := j.Remaining(); len(left) != 0 {
		t.Errorf("journal holds %v", left)
	}
}

func TestStepRunSpotInstance_interruptedWhileWaitingForCapacity(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := newFakeSpot(t)
	f.CreateLaunchTemplateCalls.Return(templateCreated("lt-1"), nil)
	f.CreateFleetCalls.ReturnFunc(func(*ec2.CreateFleetInput) (*ec2.CreateFleetOutput, error) {
		cancel() // Ctrl-C
		return noCapacityFleet("fleet-1"), nil
	})
	state, ui := stateForLaunch(t, "k")
	step, j := newSpotStep(t, f, "auto")
	step.capacityRetryDelay = time.Hour

	if got := step.Run(ctx, state); got != multistep.ActionHalt {
		t.Errorf("action %v, want halt", got)
	}
	wantNoKeys(t, state, keyError, keyInstance)
	if journaledKinds(j)["fleet-1"] != "fleet" {
		t.Errorf("the fleet is not journaled: %v", journaledKinds(j))
	}
	f.DeleteFleetsCalls.Return(nil, nil)
	f.DeleteLaunchTemplateCalls.Return(nil, nil)
	step.Cleanup(state)
	if ui.Err.Len() > 0 {
		t.Errorf("errors shown: %s", ui.Err.String())
	}
}

func TestStepRunSpotInstance_templateAlreadyExists(t *testing.T) {
	tagged := func(build string, latest int64) *ec2.DescribeLaunchTemplatesOutput {
		return &ec2.DescribeLaunchTemplatesOutput{LaunchTemplates: []types.LaunchTemplate{{
			LaunchTemplateId: aws.String("lt-first"), LaunchTemplateName: aws.String("packer_bakery_b1"),
			LatestVersionNumber: aws.Int64(latest), DefaultVersionNumber: aws.Int64(1),
			Tags: []types.Tag{{Key: aws.String(bakery.TagBuildID), Value: aws.String(build)}},
		}}}
	}
	// alreadyExists answers CreateLaunchTemplate with AlreadyExists and the
	// template's version 1 (if read) with what that call sent, changed by
	// change.
	alreadyExists := func(f *fakeSpot, read bool, change func(*types.ResponseLaunchTemplateData)) {
		var sent *types.RequestLaunchTemplateData
		f.CreateLaunchTemplateCalls.ReturnFunc(func(in *ec2.CreateLaunchTemplateInput) (*ec2.CreateLaunchTemplateOutput, error) {
			sent = in.LaunchTemplateData
			return nil, apiErr("InvalidLaunchTemplateName.AlreadyExistsException")
		})
		if !read {
			return
		}
		f.DescribeVersionsCalls.ReturnFunc(func(*ec2.DescribeLaunchTemplateVersionsInput) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
			raw, err := json.Marshal(sent)
			if err != nil {
				t.Fatal(err)
			}
			data := new(types.ResponseLaunchTemplateData)
			if err := json.Unmarshal(raw, data); err != nil {
				t.Fatal(err)
			}
			if change != nil {
				change(data)
			}
			return &ec2.DescribeLaunchTemplateVersionsOutput{LaunchTemplateVersions: []types.LaunchTemplateVersion{{
				LaunchTemplateId: aws.String("lt-first"), VersionNumber: aws.Int64(1), LaunchTemplateData: data,
			}}}, nil
		})
	}

	t.Run("ours, after a lost reply: adopted", func(t *testing.T) {
		f := newFakeSpot(t)
		alreadyExists(f, true, nil)
		f.DescribeLaunchTemplatesCalls.Return(tagged("b1", 1), nil)
		f.CreateFleetCalls.Return(fleetLaunched("fleet-1", "i-1"), nil)
		f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameRunning)), nil)
		state, ui := stateForLaunch(t, "k")
		step, j := newSpotStep(t, f, "auto")

		wantContinue(t, step.Run(t.Context(), state), state, ui)
		if got := f.DescribeLaunchTemplatesCalls.Input(t).LaunchTemplateNames; !reflect.DeepEqual(got, []string{"packer_bakery_b1"}) {
			t.Errorf("described templates %v, want packer_bakery_b1", got)
		}
		if got := aws.ToString(f.DescribeVersionsCalls.Input(t).LaunchTemplateId); got != "lt-first" {
			t.Errorf("read the versions of %q, want lt-first", got)
		}
		if id := aws.ToString(f.CreateFleetCalls.Input(t).LaunchTemplateConfigs[0].LaunchTemplateSpecification.LaunchTemplateId); id != "lt-first" {
			t.Errorf("fleet launched from %s, want the adopted lt-first", id)
		}
		if journaledKinds(j)["lt-first"] != "launch-template" {
			t.Errorf("adopted template not journaled: %v", journaledKinds(j))
		}
		if !strings.Contains(ui.Out.String(), "Launch template lt-first was created by an attempt whose reply was lost") {
			t.Errorf("user not told of the adoption:\n%s", ui.Out.String())
		}
		f.TerminateInstancesCalls.Return(nil, nil)
		f.DescribeInstancesCalls.Return(nil, apiErr("InvalidInstanceID.NotFound"))
		f.DeleteFleetsCalls.Return(nil, nil)
		f.DeleteLaunchTemplateCalls.Return(nil, nil)
		step.Cleanup(state)
	})

	// Each is refused, names the template, launches nothing from it and
	// leaves it alone (a call the test did not script fails the fake).
	for name, tc := range map[string]struct {
		templates *ec2.DescribeLaunchTemplatesOutput
		change    func(*types.ResponseLaunchTemplateData)
		want      string
	}{
		"another build's": {templates: tagged("b2", 1),
			want: `launch template "packer_bakery_b1" already exists and is not this build's`},
		"our tag, someone's user data": {templates: tagged("b1", 1),
			change: func(d *types.ResponseLaunchTemplateData) { d.UserData = aws.String("IyEvYmluL3NoCmN1cmwgZXZpbA==") },
			want:   "launch template packer_bakery_b1 (lt-first) carries this build's tag but is not what the build made (its launch data differs in UserData)"},
		"our tag, someone's instance profile and image": {templates: tagged("b1", 1),
			change: func(d *types.ResponseLaunchTemplateData) {
				d.IamInstanceProfile = &types.LaunchTemplateIamInstanceProfileSpecification{Name: aws.String("admin")}
				d.ImageId = aws.String("ami-theirs")
			},
			want: "its launch data differs in IamInstanceProfile, ImageId"},
		"our tag, a second version": {templates: tagged("b1", 2),
			want: "launch template packer_bakery_b1 (lt-first) carries this build's tag but is not what the build made (it has version 2"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeSpot(t)
			alreadyExists(f, tc.change != nil, tc.change)
			f.DescribeLaunchTemplatesCalls.Return(tc.templates, nil)
			state, ui := stateForLaunch(t, "k")
			step, j := newSpotStep(t, f, "auto")

			wantHalt(t, step.Run(t.Context(), state), state, ui, tc.want)
			step.Cleanup(state) // deletes nothing: a call would fail the fake
			if left := j.Remaining(); len(left) != 0 {
				t.Errorf("journal holds %v", left)
			}
		})
	}
}

// A retried call must not make a second template or fleet: every attempt
// of the same build sends the same tokens.
func TestStepRunSpotInstance_clientTokensAreStablePerBuild(t *testing.T) {
	tokens := func() (string, string) {
		f := newFakeSpot(t)
		f.CreateLaunchTemplateCalls.Return(templateCreated("lt-1"), nil)
		f.CreateFleetCalls.Return(nil, apiErr("RequestLimitExceeded"))
		state, _ := stateForLaunch(t, "k")
		step, _ := newSpotStep(t, f, "auto")
		step.Run(t.Context(), state)
		f.DeleteLaunchTemplateCalls.Return(nil, nil)
		step.Cleanup(state)
		return aws.ToString(f.CreateLaunchTemplateCalls.Input(t).ClientToken), aws.ToString(f.CreateFleetCalls.Input(t).ClientToken)
	}
	lt1, fl1 := tokens()
	lt2, fl2 := tokens()
	if lt1 == "" || fl1 == "" || lt1 != lt2 || fl1 != fl2 {
		t.Errorf("tokens differ between attempts of one build: template %q/%q, fleet %q/%q", lt1, lt2, fl1, fl2)
	}
}

func TestStepRunSpotInstance_cleanupFailuresSayWhatToDelete(t *testing.T) {
	f := newFakeSpot(t)
	f.CreateLaunchTemplateCalls.Return(templateCreated("lt-1"), nil)
	f.CreateFleetCalls.Return(fleetLaunched("fleet-1", "i-1"), nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameRunning)), nil)
	state, ui := stateForLaunch(t, "k")
	step, j := newSpotStep(t, f, "auto")
	wantContinue(t, step.Run(t.Context(), state), state, ui)

	f.TerminateInstancesCalls.Return(nil, apiErr("UnauthorizedOperation"))
	f.DeleteFleetsCalls.Return(&ec2.DeleteFleetsOutput{UnsuccessfulFleetDeletions: []types.DeleteFleetErrorItem{{
		FleetId: aws.String("fleet-1"),
		Error:   &types.DeleteFleetError{Code: types.DeleteFleetErrorCodeUnexpectedError, Message: aws.String("try again")},
	}}}, nil)
	f.DescribeFleetsCalls.Return(&ec2.DescribeFleetsOutput{Fleets: []types.FleetData{{FleetId: aws.String("fleet-1"), FleetState: types.FleetStateCodeActive}}}, nil)
	f.DeleteLaunchTemplateCalls.Return(nil, apiErr("UnauthorizedOperation"))
	step.Cleanup(state)

	for _, want := range []string{
		"Could not delete instance i-1", "aws ec2 terminate-instances --instance-ids i-1",
		"Could not delete EC2 Fleet fleet-1: unexpectedError: try again", "aws ec2 delete-fleets --terminate-instances --fleet-ids fleet-1",
		"Could not delete launch template lt-1", "aws ec2 delete-launch-template --launch-template-id lt-1",
	} {
		if !strings.Contains(ui.Err.String(), want) {
			t.Errorf("user was not told %q:\n%s", want, ui.Err.String())
		}
	}
	if got, want := journaledKinds(j), map[string]string{"lt-1": "launch-template", "fleet-1": "fleet", "i-1": "instance"}; !reflect.DeepEqual(got, want) {
		t.Errorf("journal holds %v, want what is left (%v) for the sweep", got, want)
	}
}

func TestStepRunSpotInstance_goneAlreadyIsFine(t *testing.T) {
	f := newFakeSpot(t)
	f.CreateLaunchTemplateCalls.Return(templateCreated("lt-1"), nil)
	f.CreateFleetCalls.Return(fleetLaunched("fleet-1", "i-1"), nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameRunning)), nil)
	state, ui := stateForLaunch(t, "k")
	step, j := newSpotStep(t, f, "auto")
	wantContinue(t, step.Run(t.Context(), state), state, ui)

	f.TerminateInstancesCalls.Return(nil, apiErr("InvalidInstanceID.NotFound"))
	f.DescribeInstancesCalls.Return(nil, apiErr("InvalidInstanceID.NotFound"))
	f.DeleteFleetsCalls.Return(&ec2.DeleteFleetsOutput{UnsuccessfulFleetDeletions: []types.DeleteFleetErrorItem{{
		FleetId: aws.String("fleet-1"), Error: &types.DeleteFleetError{Code: types.DeleteFleetErrorCodeFleetIdDoesNotExist},
	}}}, nil)
	f.DeleteLaunchTemplateCalls.Return(nil, apiErr("InvalidLaunchTemplateId.NotFound"))
	step.Cleanup(state)
	if ui.Err.Len() > 0 {
		t.Errorf("cleanup of things already gone showed errors: %s", ui.Err.String())
	}
	if left := j.Remaining(); len(left) != 0 {
		t.Errorf("journal holds %v", left)
	}
}

// A DeleteFleets retried after a lost reply may be refused (moto answers
// InvalidParameterCombination): the fleet's state says it is deleted.
func TestStepRunSpotInstance_fleetDeletedByALostCall(t *testing.T) {
	f := newFakeSpot(t)
	f.CreateLaunchTemplateCalls.Return(templateCreated("lt-1"), nil)
	f.CreateFleetCalls.Return(fleetLaunched("fleet-1", "i-1"), nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameRunning)), nil)
	state, ui := stateForLaunch(t, "k")
	step, j := newSpotStep(t, f, "auto")
	wantContinue(t, step.Run(t.Context(), state), state, ui)

	f.DeleteFleetsCalls.Return(nil, apiErr("InvalidParameterCombination"))
	f.DescribeFleetsCalls.Return(&ec2.DescribeFleetsOutput{Fleets: []types.FleetData{{FleetId: aws.String("fleet-1"), FleetState: types.FleetStateCodeDeletedTerminatingInstances}}}, nil)
	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameTerminated)), nil)
	f.DeleteLaunchTemplateCalls.Return(nil, apiErr("InvalidLaunchTemplateName.NotFoundException"))
	step.Cleanup(state)
	if ui.Err.Len() > 0 {
		t.Errorf("cleanup showed errors: %s", ui.Err.String())
	}
	if got := f.DescribeFleetsCalls.Input(t).FleetIds; !reflect.DeepEqual(got, []string{"fleet-1"}) {
		t.Errorf("described fleets %v, want fleet-1", got)
	}
	if left := j.Remaining(); len(left) != 0 {
		t.Errorf("journal holds %v", left)
	}
}

func TestStepRunSpotInstance_spotRequestCannotBeTagged(t *testing.T) {
	running := instance("i-1", types.InstanceStateNameRunning)
	running.SpotInstanceRequestId = aws.String("sir-1")
	f := newFakeSpot(t)
	f.CreateLaunchTemplateCalls.Return(templateCreated("lt-1"), nil)
	f.CreateFleetCalls.Return(fleetLaunched("fleet-1", "i-1"), nil)
	f.DescribeInstancesCalls.Return(described(running), nil)
	f.CreateTagsCalls.Return(nil, apiErr("UnauthorizedOperation"))
	state, ui := stateForLaunch(t, "k")
	step, _ := newSpotStep(t, f, "auto")

	err := wantHalt(t, step.Run(t.Context(), state), state, ui, "tagging spot instance request sir-1")
	wantAPICode(t, err, "UnauthorizedOperation")
	f.DeleteFleetsCalls.Return(nil, nil)
	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(described(instance("i-1", types.InstanceStateNameTerminated)), nil)
	f.DeleteLaunchTemplateCalls.Return(nil, nil)
	step.Cleanup(state)
}

func TestStepRunSpotInstance_instanceDiesWhileStarting(t *testing.T) {
	dead := instance("i-1", types.InstanceStateNameTerminated)
	dead.StateReason = &types.StateReason{Message: aws.String("Server.SpotInstanceTermination: Spot instance termination")}
	f := newFakeSpot(t)
	f.CreateLaunchTemplateCalls.Return(templateCreated("lt-1"), nil)
	f.CreateFleetCalls.Return(fleetLaunched("fleet-1", "i-1"), nil)
	f.DescribeInstancesCalls.Return(described(dead), nil)
	state, ui := stateForLaunch(t, "k")
	step, _ := newSpotStep(t, f, "auto")

	wantHalt(t, step.Run(t.Context(), state), state, ui, "instance i-1 is terminated instead of running: Server.SpotInstanceTermination")
	f.TerminateInstancesCalls.Return(nil, nil)
	f.DescribeInstancesCalls.Return(described(dead), nil)
	f.DeleteFleetsCalls.Return(nil, nil)
	f.DeleteLaunchTemplateCalls.Return(nil, nil)
	step.Cleanup(state)
}

// launchStep is the step of cfg's plan that launches the instance.
func launchStep(t *testing.T, cfg *Config) multistep.Step {
	t.Helper()
	steps := plan(cfg, planDeps{region: "us-east-1", buildID: "b1", clients: noClients()})
	for i, s := range steps {
		if _, ok := s.(*stepIAMInstanceProfile); ok {
			return steps[i+1]
		}
	}
	t.Fatal("no instance profile step in the plan")
	return nil
}

func TestPlanChoosesTheLaunch(t *testing.T) {
	if l := launchStep(t, preparedConfig(t, nil)); reflect.TypeOf(l) != reflect.TypeOf(&stepRunInstance{}) {
		t.Errorf("without spot_price the launch is %T, want the on-demand step", l)
	}
	if l := launchStep(t, preparedConfig(t, map[string]interface{}{"spot_price": "0"})); reflect.TypeOf(l) != reflect.TypeOf(&stepRunInstance{}) {
		t.Errorf("with spot_price 0 the launch is %T, want the on-demand step", l)
	}
	l := launchStep(t, preparedConfig(t, map[string]interface{}{"spot_price": "auto", "spot_instance_types": []string{"t3.micro"}, "instance_type": unset}))
	spot, ok := l.(*stepRunSpotInstance)
	if !ok {
		t.Fatalf("with spot_price the launch is %T", l)
	}
	if spot.clientToken != spot.onDemand.clientToken || spot.price != "auto" || !reflect.DeepEqual(spot.instanceTypes, []string{"t3.micro"}) || spot.name != "packer_bakery_b1" {
		t.Errorf("spot step %+v does not carry the build's settings", spot)
	}
}
