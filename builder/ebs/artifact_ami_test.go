package ebs

import (
	"fmt"
	"net"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"
	packerrpc "github.com/hashicorp/packer-plugin-sdk/rpc"
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

// TestArtifact_registryImagesSurviveThePluginRPC: packer reads the HCP
// metadata through the plugin RPC (msgpack, into interface{}) and decodes
// it by field name; every region's image must arrive that way.
func TestArtifact_registryImagesSurviveThePluginRPC(t *testing.T) {
	a := newArtifact(map[string]types.Image{
		"us-east-1": builtImage("ami-0home", types.ImageStateAvailable),
		"eu-west-1": builtImage("ami-0eu", types.ImageStateAvailable),
	}, "us-east-1", types.Image{ImageId: aws.String("ami-0src")}, nil, nil)

	serverConn, clientConn := net.Pipe()
	server, err := packerrpc.NewServer(serverConn)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.RegisterArtifact(a); err != nil {
		t.Fatal(err)
	}
	go server.Serve()
	client, err := packerrpc.NewClient(clientConn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })

	remote := client.Artifact()
	if got, want := remote.Id(), "eu-west-1:ami-0eu,us-east-1:ami-0home"; got != want {
		t.Errorf("Id over RPC = %q, want %q", got, want)
	}
	raw, ok := remote.State(registryimage.ArtifactStateURI).([]interface{})
	if !ok || len(raw) != 2 {
		t.Fatalf("HCP state over RPC = %#v, want two images", remote.State(registryimage.ArtifactStateURI))
	}
	// msgpack gives maps with interface{} keys; packer's decoder
	// (mapstructure, weakly typed) reads them by name, as here.
	byName := func(v interface{}) map[string]interface{} {
		m := map[string]interface{}{}
		if raw, ok := v.(map[interface{}]interface{}); ok {
			for k, v := range raw {
				m[fmt.Sprint(k)] = v
			}
		}
		return m
	}
	got := map[string]string{}
	for _, item := range raw {
		m := byName(item)
		labels := byName(m["Labels"])
		got[fmt.Sprint(m["ProviderRegion"])] = fmt.Sprintf("%v %v %v %v", m["ImageID"], m["ProviderName"], m["SourceImageID"], labels["build_region"])
	}
	want := map[string]string{"eu-west-1": "ami-0eu aws ami-0src us-east-1", "us-east-1": "ami-0home aws ami-0src us-east-1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("images over RPC %v, want %v", got, want)
	}
}
