package faultproxy

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The testdata replies were captured from moto 5.2.5: three instances
// (running, stopped, terminated) whose Name tag holds XML-looking text, and
// an AMI whose description does.
const (
	runningID    = "i-4c908494adea8263d"
	stoppedID    = "i-9b8f79308399bed20"
	terminatedID = "i-d592b893df7c0df22"
	imageID      = "ami-09a7ece8cd27d3750"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// describedInstances is what an SDK would read from a DescribeInstances or
// DescribeInstanceStatus reply.
type describedInstances struct {
	Items []struct {
		ID   string `xml:"instanceId"`
		Code int    `xml:"instanceState>code"`
		Name string `xml:"instanceState>name"`
		Tags []struct {
			Key   string `xml:"key"`
			Value string `xml:"value"`
		} `xml:"tagSet>item"`
		Reason string `xml:"stateReason>code"`
	} `xml:"reservationSet>item>instancesSet>item"`
	StatusItems []struct {
		ID   string `xml:"instanceId"`
		Code int    `xml:"instanceState>code"`
		Name string `xml:"instanceState>name"`
	} `xml:"instanceStatusSet>item"`
}

func decodeInstances(t *testing.T, doc []byte) describedInstances {
	t.Helper()
	var v describedInstances
	if err := xml.Unmarshal(doc, &v); err != nil {
		t.Fatalf("rewritten reply is not valid XML: %v\n%s", err, doc)
	}
	return v
}

func TestRewriteInstanceStates(t *testing.T) {
	orig := readTestdata(t, "describe-instances.xml")
	before := decodeInstances(t, orig)
	if len(before.Items) != 3 {
		t.Fatalf("testdata has %d instances, want 3", len(before.Items))
	}
	var asked []string
	out, err := rewriteInstanceStates(orig, func(id, name string) (string, int, bool) {
		asked = append(asked, id+"="+name)
		switch id {
		case runningID:
			return "pending", 0, true
		case terminatedID:
			return "shutting-down", 32, true
		}
		return "", 0, false
	})
	if err != nil {
		t.Fatal(err)
	}
	wantAsked := []string{runningID + "=running", stoppedID + "=stopped", terminatedID + "=terminated"}
	if !slices.Equal(asked, wantAsked) {
		t.Errorf("decide was asked %q, want %q", asked, wantAsked)
	}

	// Exactly the two state fields changed, byte for byte.
	want := string(orig)
	for _, r := range []struct{ id, from, to string }{
		{runningID, "<code>16</code><name>running</name>", "<code>0</code><name>pending</name>"},
		{terminatedID, "<code>48</code><name>terminated</name>", "<code>32</code><name>shutting-down</name>"},
	} {
		marker := "<instanceId>" + r.id + "</instanceId><imageId>ami-12c6146b</imageId><instanceState>"
		i := strings.Index(want, marker)
		if i < 0 {
			t.Fatalf("testdata lacks %q", marker)
		}
		j := i + len(marker)
		if !strings.HasPrefix(want[j:], r.from) {
			t.Fatalf("testdata state of %s is not %q", r.id, r.from)
		}
		want = want[:j] + r.to + want[j+len(r.from):]
	}
	if string(out) != want {
		t.Errorf("rewrite changed more than the state fields:\n got  %s\n want %s", out, want)
	}

	after := decodeInstances(t, out)
	for i, it := range after.Items {
		b := before.Items[i]
		if it.ID != b.ID || !slices.Equal(it.Tags, b.Tags) || it.Reason != b.Reason {
			t.Errorf("instance %d: fields other than state changed: %+v → %+v", i, b, it)
		}
	}
	got := map[string]string{}
	for _, it := range after.Items {
		got[it.ID] = it.Name
	}
	if got[runningID] != "pending" || got[stoppedID] != "stopped" || got[terminatedID] != "shutting-down" {
		t.Errorf("states after rewrite: %v", got)
	}
	if tag := after.Items[0].Tags[0].Value; !strings.Contains(tag, "<instanceState><name>running</name></instanceState> & é") {
		t.Errorf("tag text with XML in it was altered: %q", tag)
	}
}

func TestRewriteInstanceStatusStates(t *testing.T) {
	orig := readTestdata(t, "describe-instance-status.xml")
	out, err := rewriteInstanceStates(orig, func(id, name string) (string, int, bool) {
		return "stopping", 64, id == stoppedID
	})
	if err != nil {
		t.Fatal(err)
	}
	v := decodeInstances(t, out)
	got := map[string]string{}
	for _, it := range v.StatusItems {
		got[it.ID] = it.Name
	}
	if got[stoppedID] != "stopping" || got[runningID] != "running" || got[terminatedID] != "terminated" {
		t.Errorf("states after rewrite: %v", got)
	}
	// The status details also have <name> and <status> elements; they must stay.
	if strings.Count(string(out), "<name>reachability</name>") != strings.Count(string(orig), "<name>reachability</name>") {
		t.Error("status details changed")
	}
}

func TestRewriteImageStates(t *testing.T) {
	orig := readTestdata(t, "describe-images.xml")
	out, err := rewriteImageStates(orig, func(id, state string) (string, bool) {
		if id != imageID || state != "available" {
			t.Errorf("decide(%q, %q)", id, state)
		}
		return "pending", true
	})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(orig), "<imageState>available</imageState>", "<imageState>pending</imageState>", 1)
	if string(out) != want {
		t.Errorf("rewrite:\n got  %s\n want %s", out, want)
	}
	var v struct {
		Desc  string `xml:"imagesSet>item>description"`
		State string `xml:"imagesSet>item>imageState"`
	}
	if err := xml.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	if v.State != "pending" || v.Desc != "imageState <imageState>available</imageState>" {
		t.Errorf("after rewrite: %+v", v)
	}
}

func TestRewriteWithNamespacePrefixes(t *testing.T) {
	doc := []byte(`<?xml version="1.0"?>
<ec2:DescribeImagesResponse xmlns:ec2="http://ec2.amazonaws.com/doc/2016-11-15/">
  <ec2:imagesSet>
    <ec2:item>
      <ec2:imageId>ami-1</ec2:imageId>
      <ec2:imageState> available </ec2:imageState>
    </ec2:item>
  </ec2:imagesSet>
</ec2:DescribeImagesResponse>`)
	out, err := rewriteImageStates(doc, func(id, state string) (string, bool) {
		return "pending", id == "ami-1" && state == "available"
	})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(doc), "<ec2:imageState> available </ec2:imageState>", "<ec2:imageState>pending</ec2:imageState>", 1)
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestRewriteLeavesOddRepliesAlone(t *testing.T) {
	yes := func(id, name string) (string, int, bool) { return "pending", 0, true }
	for name, doc := range map[string]string{
		"self-closing state": `<R><instancesSet><item><instanceId>i-1</instanceId><instanceState><code/><name/></instanceState></item></instancesSet></R>`,
		"no instanceId":      `<R><instancesSet><item><instanceState><code>16</code><name>running</name></instanceState></item></instancesSet></R>`,
		"state elsewhere":    `<R><item><instanceId>i-1</instanceId><instanceState><code>16</code><name>running</name></instanceState></item></R>`,
	} {
		out, err := rewriteInstanceStates([]byte(doc), yes)
		if err != nil || string(out) != doc {
			t.Errorf("%s: got %s, %v; want it unchanged", name, out, err)
		}
	}
	for name, doc := range map[string]string{
		"truncated":  `<R><instancesSet><item><instanceId>i-1</instanceId><instanceState><code>16</code>`,
		"mismatched": `<R><instancesSet></item></R>`,
	} {
		out, err := rewriteInstanceStates([]byte(doc), yes)
		if err == nil || string(out) != doc {
			t.Errorf("%s: got %s, %v; want an error and the reply unchanged", name, out, err)
		}
	}
}

func TestIDsFromReplies(t *testing.T) {
	ids, err := instanceIDs(readTestdata(t, "run-instances.xml"))
	if err != nil || !slices.Equal(ids, []string{runningID}) {
		t.Errorf("RunInstances ids %q, %v", ids, err)
	}
	ids, err = instanceIDs(readTestdata(t, "describe-instances.xml"))
	if err != nil || !slices.Equal(ids, []string{runningID, stoppedID, terminatedID}) {
		t.Errorf("DescribeInstances ids %q, %v", ids, err)
	}
	id, err := topImageID(readTestdata(t, "create-image.xml"))
	if err != nil || id != imageID {
		t.Errorf("CreateImage id %q, %v", id, err)
	}
	// DescribeImages has imageIds deeper down, not at the top.
	if id, _ := topImageID(readTestdata(t, "describe-images.xml")); id != "" {
		t.Errorf("DescribeImages top imageId %q, want none", id)
	}
}
