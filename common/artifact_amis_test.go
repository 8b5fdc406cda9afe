package common

import (
	"slices"
	"strings"
	"testing"
)

func TestArtifactAMIs(t *testing.T) {
	got, err := ArtifactAMIs("us-east-1:ami-0123456789abcdef0,eu-west-1:ami-0fedcba9876543210")
	if err != nil || len(got) != 2 || got["eu-west-1"] != "ami-0fedcba9876543210" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "ami-0123", "us-east-1:snap-0123", "us-east-1:ami-01,us-east-1:ami-02", "not a region:ami-01"} {
		if _, err := ArtifactAMIs(bad); err == nil {
			t.Errorf("ArtifactAMIs(%q) took it", bad)
		}
	}
}

func TestArtifactRegions(t *testing.T) {
	amis := map[string]string{"us-east-1": "ami-1", "eu-west-1": "ami-2"}
	if got, _ := ArtifactRegions(nil, amis); !slices.Equal(got, []string{"eu-west-1", "us-east-1"}) {
		t.Errorf("default %v: every region of the artifact, sorted", got)
	}
	if got, _ := ArtifactRegions([]string{"us-east-1"}, amis); !slices.Equal(got, []string{"us-east-1"}) {
		t.Errorf("subset %v", got)
	}
	_, err := ArtifactRegions([]string{"us-east-1", "ap-south-1"}, amis)
	if err == nil || !strings.Contains(err.Error(), "ap-south-1") || !strings.Contains(err.Error(), "ami_regions") {
		t.Errorf("a region without an AMI: err = %v", err)
	}
}
