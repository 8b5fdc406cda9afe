package ebs

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

func TestStepRenderTemplates_fillsValuesHandedOutEarlier(t *testing.T) {
	bt := newBuildTemplates(interpolate.Context{Funcs: templateFuncs})
	snapshotTags := bt.Tags("snapshot_tags", map[string]string{"From": "{{ .SourceAMIName }}", "Team": "{{ .SourceAMITags.Team }}"})
	desc := bt.Text("ami_description", "{{ .BuildRegion }} build of {{ .SourceAMI }}")
	state, ui := newState(t)
	img := sourceImage("ami-0source", "2024-03-01T10:00:00.000Z")
	img.Tags = []types.Tag{{Key: aws.String("Team"), Value: aws.String("platform")}}
	state.Put(keySourceImage, img)
	step := &stepRenderTemplates{templates: bt, region: "eu-west-1"}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	if snapshotTags["From"] != "base-ami-0source" || snapshotTags["Team"] != "platform" || len(snapshotTags) != 2 {
		t.Errorf("snapshot_tags = %v", snapshotTags)
	}
	if *desc != "eu-west-1 build of ami-0source" {
		t.Errorf("ami_description = %q", *desc)
	}
	if info := getBuildInfo(state); info.SourceAMI != "ami-0source" || info.BuildRegion != "eu-west-1" {
		t.Errorf("build info in state = %+v", info)
	}
	step.Cleanup(state)
}

func TestStepRenderTemplates_errorHalts(t *testing.T) {
	bt := newBuildTemplates(interpolate.Context{Funcs: templateFuncs})
	tags := bt.Tags("tags", map[string]string{"{{ .SourceAMITags.Missing }}": "x", "Keep": "y"})
	state, ui := newState(t)
	state.Put(keySourceImage, sourceImage("ami-0source", "2024-03-01T10:00:00.000Z"))
	step := &stepRenderTemplates{templates: bt, region: "eu-west-1"}

	wantHalt(t, step.Run(t.Context(), state), state, ui, "rendering the build variables", "`tags`: the key \"{{ .SourceAMITags.Missing }}\" renders to an empty tag key")

	if len(tags) != 0 {
		t.Errorf("tags = %v after a failed render, want none", tags)
	}
	wantNoKeys(t, state, keyBuildInfo)
}
