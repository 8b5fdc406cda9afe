package ebs

import (
	"maps"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
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

// The AMI, its encrypted copy and its copies in ami_regions get the same
// rendered tags, snapshot tags (tags under snapshot_tags) and description (amazon-ebs renders them
// with the build region for every copy too).
func TestBuilderImageSteps_renderedForEveryCopy(t *testing.T) {
	b := preparedBuilder(t, map[string]interface{}{
		"encrypt_boot":    true,
		"ami_regions":     []string{"eu-west-1"},
		"tags":            map[string]interface{}{"Base": "{{ .SourceAMI }}", "From": "{{ .BuildRegion }}", "Team": "ami"},
		"snapshot_tags":   map[string]interface{}{"Team": "{{ .SourceAMITags.Team }}"},
		"ami_description": "from {{ .SourceAMIName }}",
	})
	steps := testPlan(b)
	for _, s := range steps {
		if r, ok := s.(*stepRenderTemplates); ok {
			if err := r.templates.render(testInfo); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantTags := map[string]string{"Base": "ami-0abc", "From": "eu-west-1", "Team": "ami"}
	// The snapshots carry tags too, snapshot_tags winning, as in amazon-ebs.
	wantSnap := map[string]string{"Base": "ami-0abc", "From": "eu-west-1", "Team": "platform"}
	const wantDesc = "from al2023: base"
	seen := 0
	for _, s := range steps {
		switch s := s.(type) {
		case *stepCreateImage: // the intermediate: temporary tags, but the description
			seen++
			if aws.ToString(s.description) != wantDesc {
				t.Errorf("CreateImage description %q, want %q", aws.ToString(s.description), wantDesc)
			}
		case *stepEncryptImage:
			seen++
			if !maps.Equal(s.tags, wantTags) || !maps.Equal(s.snapshotTags, wantSnap) || aws.ToString(s.description) != wantDesc {
				t.Errorf("encrypted copy: tags %v, snapshot tags %v, description %q", s.tags, s.snapshotTags, aws.ToString(s.description))
			}
		case *stepCopyImages:
			seen++
			if !maps.Equal(s.tags, wantTags) || !maps.Equal(s.snapshotTags, wantSnap) || aws.ToString(s.description) != wantDesc {
				t.Errorf("ami_regions copies: tags %v, snapshot tags %v, description %q", s.tags, s.snapshotTags, aws.ToString(s.description))
			}
		}
	}
	if seen != 3 {
		t.Errorf("found %d of the 3 image steps", seen)
	}
}

// run_tags reach the temporary key pair and security group, under their
// Name, with the build's own bakery:* tags.
func TestPlan_runTagsOnKeyPairAndSecurityGroup(t *testing.T) {
	b := preparedBuilder(t, map[string]interface{}{
		"run_tags": map[string]interface{}{"CostCenter": "{{ .SourceAMITags.Team }}"},
	})
	steps := testPlan(b)
	var written []bakery.Tags
	for _, s := range steps {
		switch s := s.(type) {
		case *stepKeyPair:
			written = append(written, s.written.of(s.tags))
		case *stepSecurityGroup:
			written = append(written, s.written.of(s.tags))
		}
	}
	for _, s := range steps {
		if r, ok := s.(*stepRenderTemplates); ok {
			if err := r.templates.render(testInfo); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := 0
	for _, s := range steps {
		var tags bakery.Tags
		var name string
		switch s := s.(type) {
		case *stepKeyPair:
			tags, name = s.tags, s.name
		case *stepSecurityGroup:
			tags, name = s.tags, s.name
		default:
			continue
		}
		seen++
		if tags["CostCenter"] != "platform" || tags["Name"] != name || tags[bakery.TagBuildID] == "" {
			t.Errorf("%T tags %v: want run_tags rendered, Name %q, the build's own id", s, tags, name)
		}
	}
	if seen != 2 {
		t.Fatalf("found %d of the key pair and security group steps", seen)
	}
	// The permission check runs before the templates are rendered: its dry
	// runs carry the tags as written, the build's id among them.
	for _, w := range written {
		if w["CostCenter"] != "{{ .SourceAMITags.Team }}" || w[bakery.TagBuildID] == "" {
			t.Errorf("tags as written for the dry run: %v", w)
		}
	}
}
