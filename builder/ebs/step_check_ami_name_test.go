package ebs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestStepCheckAMIName_nameFree(t *testing.T) {
	f := newFakeImages(t)
	f.DescribeImagesCalls.Return(&ec2.DescribeImagesOutput{}, nil)
	state, ui := newState(t)
	step := &stepCheckAMIName{ec2: f, name: "web 2024-01-01", region: "eu-west-1"}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	in := f.DescribeImagesCalls.Input(t)
	if !reflect.DeepEqual(in.Owners, []string{"self"}) {
		t.Errorf("Owners = %v, want [self]: only this account's AMI names can clash", in.Owners)
	}
	if len(in.Filters) != 1 || aws.ToString(in.Filters[0].Name) != "name" ||
		!reflect.DeepEqual(in.Filters[0].Values, []string{"web 2024-01-01"}) {
		t.Errorf("Filters = %s, want name=[web 2024-01-01]", jsonString(in.Filters))
	}
	if !strings.Contains(ui.Out.String(), `Checking that AMI name "web 2024-01-01" is free in eu-west-1`) {
		t.Errorf("user was not told what is checked: %q", ui.Out.String())
	}
	step.Cleanup(state) // the fake fails on any call
}

func TestStepCheckAMIName_nameTaken(t *testing.T) {
	f := newFakeImages(t)
	f.DescribeImagesCalls.Return(&ec2.DescribeImagesOutput{Images: []types.Image{{ImageId: aws.String("ami-0existing"), Name: aws.String("web")}}}, nil)
	state, ui := newState(t)
	step := &stepCheckAMIName{ec2: f, name: "web", region: "eu-west-1"}

	wantHalt(t, step.Run(t.Context(), state), state, ui, `"web" already exists in eu-west-1`, "ami-0existing", "`ami_name`")
	step.Cleanup(state)
}

func TestStepCheckAMIName_apiError(t *testing.T) {
	f := newFakeImages(t)
	f.DescribeImagesCalls.Return(nil, apiErr("UnauthorizedOperation"))
	state, ui := newState(t)
	step := &stepCheckAMIName{ec2: f, name: "web", region: "eu-west-1"}

	err := wantHalt(t, step.Run(t.Context(), state), state, ui, `looking for an existing AMI named "web"`)
	wantAPICode(t, err, "UnauthorizedOperation")
	step.Cleanup(state)
}

func TestStepCheckAMIName_nameTakenWithForce(t *testing.T) {
	f := newFakeImages(t)
	f.DescribeImagesCalls.Return(&ec2.DescribeImagesOutput{Images: []types.Image{{ImageId: aws.String("ami-0existing"), Name: aws.String("web")}}}, nil)
	state, ui := newState(t)
	step := &stepCheckAMIName{ec2: f, name: "web", region: "eu-west-1", force: true}

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	if !strings.Contains(ui.Out.String(), "ami-0existing") || !strings.Contains(ui.Out.String(), "force_deregister") {
		t.Errorf("the user was not told that ami-0existing will be replaced: %q", ui.Out.String())
	}
}
