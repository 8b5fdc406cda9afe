package common

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestTagsMerge(t *testing.T) {
	base := Tags{"Name": "Packer Builder", "team": "a"}
	user := Tags{"team": "bakers", "cost": "42"}
	build := Tags{TagBuildID: "b1"}

	got := base.Merge(user, build)
	want := Tags{"Name": "Packer Builder", "team": "bakers", "cost": "42", TagBuildID: "b1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Merge = %v, want %v (later sets win)", got, want)
	}
	if !reflect.DeepEqual(base, Tags{"Name": "Packer Builder", "team": "a"}) {
		t.Errorf("Merge changed its receiver: %v", base)
	}
	for name, empty := range map[string]Tags{"nil with nil": Tags(nil).Merge(nil), "nil alone": Tags(nil).Merge()} {
		if empty == nil || len(empty) != 0 {
			t.Errorf("Merge of %s = %#v, want an empty, usable set", name, empty)
			continue
		}
		empty["x"] = "y" // a nil map would panic here
	}
	// Callers add to what Merge returns: it must never be the receiver.
	solo := base.Merge()
	solo["team"] = "changed"
	if base["team"] != "a" {
		t.Errorf("writing to Merge()'s result changed its receiver: %v", base)
	}
}

func TestTagsEC2(t *testing.T) {
	got := Tags{"b": "2", "a": "1", "c": ""}.EC2()
	want := []types.Tag{
		{Key: aws.String("a"), Value: aws.String("1")},
		{Key: aws.String("b"), Value: aws.String("2")},
		{Key: aws.String("c"), Value: aws.String("")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EC2 = %v, want sorted %v", got, want)
	}
	if got := Tags(nil).EC2(); len(got) != 0 {
		t.Errorf("EC2 of no tags = %v", got)
	}
}

func TestTagsSpec(t *testing.T) {
	got := Tags{"b": "2", "a": "1"}.Spec(types.ResourceTypeVolume)
	want := []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{
		{Key: aws.String("a"), Value: aws.String("1")},
		{Key: aws.String("b"), Value: aws.String("2")},
	}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Spec = %v, want %v", got, want)
	}
	// EC2 rejects a TagSpecification without tags.
	if got := (Tags{}).Spec(types.ResourceTypeImage); got != nil {
		t.Errorf("Spec of no tags = %v, want nil", got)
	}
}
