package ebs

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// stepNames lists steps as type names, with the region or name where it
// tells them apart.
func stepNames(steps []multistep.Step) []string {
	var out []string
	for _, s := range steps {
		name := strings.TrimPrefix(fmt.Sprintf("%T", s), "*ebs.")
		switch s := s.(type) {
		case *stepCheckAMIName:
			name += " " + s.region
		case *stepCreateImage:
			name += " " + s.name
		}
		out = append(out, name)
	}
	return out
}

func preparedBuilder(t *testing.T, over map[string]interface{}) *Builder {
	t.Helper()
	b := &Builder{}
	if _, _, err := b.Prepare(validConfig(over)); err != nil {
		t.Fatal(err)
	}
	return b
}

// testPlan is b's plan for build b1 in us-east-1.
func testPlan(b *Builder) []multistep.Step {
	return plan(&b.config, planDeps{region: "us-east-1", buildID: "b1", clients: noClients()})
}

// planPart is the part of steps from the first step of type from on, and
// the name checks (stepCheckAMIName).
func planPart(steps []multistep.Step, from multistep.Step) (part, nameChecks []multistep.Step) {
	for i, s := range steps {
		if _, ok := s.(*stepCheckAMIName); ok {
			nameChecks = append(nameChecks, s)
		}
		if part == nil && reflect.TypeOf(s) == reflect.TypeOf(from) {
			part = steps[i:]
		}
	}
	return part, nameChecks
}

func TestBuilderImageSteps(t *testing.T) {
	for _, tc := range []struct {
		name      string
		over      map[string]interface{}
		wantSteps []string
		wantNames []string // name checks
	}{
		{name: "plain", over: nil,
			wantSteps: []string{"stepDeregisterExisting", "stepCreateImage bakery-test-1", "stepTagSnapshots", "stepCopyImages", "stepAMIAttributes", "stepShareImages"},
			wantNames: []string{"stepCheckAMIName us-east-1"}},
		{name: "encrypted, copied", over: map[string]interface{}{"encrypt_boot": true, "ami_regions": []string{"eu-west-1", "us-east-1"}},
			wantSteps: []string{"stepDeregisterExisting", "stepDeregisterExisting", "stepCreateImage packer-bakery-intermediate-b1", "stepTagSnapshots",
				"stepEncryptImage", "stepCopyImages", "stepAMIAttributes", "stepShareImages"},
			wantNames: []string{"stepCheckAMIName us-east-1", "stepCheckAMIName eu-west-1"}},
		{name: "skip_save_build_region", over: map[string]interface{}{"encrypt_boot": true, "skip_save_build_region": true, "ami_regions": []string{"eu-west-1"}},
			wantSteps: []string{"stepDeregisterExisting", "stepCreateImage packer-bakery-intermediate-b1", "stepTagSnapshots",
				"stepCopyImages", "stepAMIAttributes", "stepShareImages"},
			wantNames: []string{"stepCheckAMIName eu-west-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := preparedBuilder(t, tc.over)
			steps, nameChecks := planPart(testPlan(b), &stepDeregisterExisting{})
			if got := stepNames(steps); !reflect.DeepEqual(got, tc.wantSteps) {
				t.Errorf("steps %v,\nwant %v", got, tc.wantSteps)
			}
			if got := stepNames(nameChecks); !reflect.DeepEqual(got, tc.wantNames) {
				t.Errorf("name checks %v, want %v", got, tc.wantNames)
			}
			for _, s := range steps {
				if c, ok := s.(*stepCreateImage); ok && strings.HasPrefix(c.name, "packer-bakery-intermediate-") && c.tags[bakery.TagBuildID] != "b1" {
					t.Errorf("the intermediate AMI is tagged %v, want the temporary tags", c.tags)
				}
			}
		})
	}
}

func TestBuilderImageSteps_uefi(t *testing.T) {
	b := preparedBuilder(t, map[string]interface{}{"boot_mode": "uefi"})
	var creates []*stepCreateImage
	for _, s := range testPlan(b) {
		if c, ok := s.(*stepCreateImage); ok {
			creates = append(creates, c)
		}
	}
	// With no CreateImage step at all, "every one has the override" would hold.
	if len(creates) != 1 {
		t.Fatalf("%d CreateImage steps in the plan, want 1", len(creates))
	}
	if got := creates[0].bootMode; got != types.BootModeOverrideValuesUefi {
		t.Errorf("CreateImage boot mode override %q, want uefi", got)
	}
}

func TestStepCreateImage_bootModeUEFI(t *testing.T) {
	f := newFakeImageCreator(t)
	f.CreateImageCalls.Return(&ec2.CreateImageOutput{ImageId: aws.String("ami-0new")}, nil)
	f.DescribeImagesCalls.Return(images(builtImage("ami-0new", types.ImageStateAvailable)), nil)
	state, ui := stateWithInstance(t, "i-1")
	step := &stepCreateImage{ec2: f, name: "web", region: "us-east-1", poll: fastPoll, bootMode: types.BootModeOverrideValuesUefi}
	wantContinue(t, step.Run(t.Context(), state), state, ui)
	if got := f.CreateImageCalls.Input(t).BootModeOverride; got != types.BootModeOverrideValuesUefi {
		t.Errorf("CreateImage BootModeOverride %q, want uefi", got)
	}
}
