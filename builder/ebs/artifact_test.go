package ebs

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

var _ packersdk.Artifact = (*Artifact)(nil)

func TestArtifact_describesAMIsSortedByRegion(t *testing.T) {
	a := &Artifact{
		Amis:      map[string]string{"us-east-1": "ami-east", "eu-west-1": "ami-west", "ap-south-1": "ami-south"},
		StateData: map[string]interface{}{"generated_data": map[string]interface{}{"SourceAMI": "ami-src"}},
	}
	if got, want := a.Id(), "ap-south-1:ami-south,eu-west-1:ami-west,us-east-1:ami-east"; got != want {
		t.Errorf("Id() = %q, want %q", got, want)
	}
	want := "AMIs were created:\nap-south-1: ami-south\neu-west-1: ami-west\nus-east-1: ami-east"
	if got := a.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if a.BuilderId() != BuilderID || a.Files() != nil {
		t.Errorf("BuilderId() = %q, Files() = %v; want %q and none", a.BuilderId(), a.Files(), BuilderID)
	}
	if got := a.State("generated_data"); !reflect.DeepEqual(got, map[string]interface{}{"SourceAMI": "ami-src"}) {
		t.Errorf("State(generated_data) = %v", got)
	}
	if got := a.State("nothing"); got != nil {
		t.Errorf("State(nothing) = %v, want nil", got)
	}
}

func TestArtifact_Destroy(t *testing.T) {
	east := newFakeImageDeleter(t)
	scriptImageDeletion(east, "ami-east")
	west := newFakeImageDeleter(t)
	scriptImageDeletion(west, "ami-west")
	fakes := map[string]*fakeImageDeleter{"us-east-1": east, "eu-west-1": west}
	var asked []string
	a := &Artifact{
		Amis: map[string]string{"us-east-1": "ami-east", "eu-west-1": "ami-west"},
		client: func(region string) imageDeleter {
			asked = append(asked, region)
			return fakes[region]
		},
	}

	if err := a.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	sort.Strings(asked)
	if !reflect.DeepEqual(asked, []string{"eu-west-1", "us-east-1"}) {
		t.Errorf("clients made for %v, want one per region", asked)
	}
	for region, f := range fakes {
		if got := f.DeregisterImageCalls.Input(t).ImageId; *got != a.Amis[region] {
			t.Errorf("%s: deregistered %s, want %s", region, *got, a.Amis[region])
		}
	}
}

func TestArtifact_DestroyJoinsErrors(t *testing.T) {
	east := newFakeImageDeleter(t)
	east.DescribeImagesCalls.Return(nil, apiErr("UnauthorizedOperation"))
	west := newFakeImageDeleter(t)
	scriptImageDeletion(west, "ami-west")
	south := newFakeImageDeleter(t)
	south.DescribeImagesCalls.Return(nil, errors.New("connection reset"))
	fakes := map[string]*fakeImageDeleter{"us-east-1": east, "eu-west-1": west, "ap-south-1": south}
	a := &Artifact{
		Amis:   map[string]string{"us-east-1": "ami-east", "eu-west-1": "ami-west", "ap-south-1": "ami-south"},
		client: func(region string) imageDeleter { return fakes[region] },
	}

	err := a.Destroy()
	if err == nil {
		t.Fatal("Destroy succeeded though two regions failed")
	}
	for _, w := range []string{"us-east-1: describing AMI ami-east", "UnauthorizedOperation", "ap-south-1: describing AMI ami-south", "connection reset"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "eu-west-1") {
		t.Errorf("error %q mentions eu-west-1, which was destroyed", err)
	}
	if west.DeregisterImageCalls.Called() != 1 {
		t.Errorf("a failure in one region stopped the others from being destroyed")
	}
	wantAPICode(t, err, "UnauthorizedOperation")
}
