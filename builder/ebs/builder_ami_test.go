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

func TestBuilderImageSteps(t *testing.T) {
	sess := &bakery.Session{Config: aws.Config{Region: "us-east-1"}}
	temporary := bakery.Tags{bakery.TagBuildID: "b1"}
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
			regions := b.config.copyRegions("us-east-1")
			steps := b.imageSteps(sess, "b1", "us-east-1", regions, temporary, bakery.Poll{}, nil)
			if got := stepNames(steps); !reflect.DeepEqual(got, tc.wantSteps) {
				t.Errorf("steps %v,\nwant %v", got, tc.wantSteps)
			}
			if got := stepNames(b.nameChecks(sess, "us-east-1", regions)); !reflect.DeepEqual(got, tc.wantNames) {
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
	steps := b.imageSteps(&bakery.Session{Config: aws.Config{Region: "us-east-1"}}, "b1", "us-east-1", nil, nil, bakery.Poll{}, nil)
	for _, s := range steps {
		if c, ok := s.(*stepCreateImage); ok && c.bootMode != types.BootModeOverrideValuesUefi {
			t.Errorf("CreateImage boot mode override %q, want uefi", c.bootMode)
		}
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
