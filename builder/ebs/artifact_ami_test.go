package ebs

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"
)

func TestArtifact_registryImagePerRegion(t *testing.T) {
	a := newArtifact(map[string]types.Image{
		"us-east-1": builtImage("ami-0home", types.ImageStateAvailable),
		"eu-west-1": builtImage("ami-0eu", types.ImageStateAvailable),
	}, "us-east-1", types.Image{ImageId: aws.String("ami-0src")}, map[string]interface{}{"SourceAMI": "ami-0src"}, nil)

	if got, want := a.Id(), "eu-west-1:ami-0eu,us-east-1:ami-0home"; got != want {
		t.Errorf("Id() = %q, want %q", got, want)
	}
	raw := a.State(registryimage.ArtifactStateURI)
	imgs, ok := raw.([]*registryimage.Image)
	if !ok {
		t.Fatalf("State(%s) is a %T, want []*image.Image", registryimage.ArtifactStateURI, raw)
	}
	labels := map[string]string{"build_region": "us-east-1", "source_ami": "ami-0src"}
	want := []*registryimage.Image{
		{ImageID: "ami-0eu", ProviderName: "aws", ProviderRegion: "eu-west-1", SourceImageID: "ami-0src", Labels: labels},
		{ImageID: "ami-0home", ProviderName: "aws", ProviderRegion: "us-east-1", SourceImageID: "ami-0src", Labels: labels},
	}
	if !reflect.DeepEqual(imgs, want) {
		t.Errorf("registry images %s, want %s", jsonString(imgs), jsonString(want))
	}
	for _, img := range imgs {
		if err := img.Validate(); err != nil {
			t.Errorf("registry image %s: %v", img, err)
		}
	}
	if got := a.State("generated_data"); !reflect.DeepEqual(got, map[string]interface{}{"SourceAMI": "ami-0src"}) {
		t.Errorf("State(generated_data) = %v", got)
	}
}
