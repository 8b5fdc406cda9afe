package faultproxy

import (
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"
)

const fakeImageID = "ami-09a7ece8cd27d3750" // testdata/describe-images.xml

func TestImageDeprecationStandIn(t *testing.T) {
	moto := newFakeMoto(t)
	clock := newFakeClock()
	p := startProxy(t, moto.URL, withClock(clock.now), WithConfig(Config{ImageDeprecation: true}))
	future := clock.now().Add(48 * time.Hour).Format(time.RFC3339)

	status, body := mustCall(t, p, "ec2", "EnableImageDeprecation", "ImageId", fakeImageID, "DeprecateAt", future)
	var ok struct {
		XMLName xml.Name `xml:"EnableImageDeprecationResponse"`
		Return  bool     `xml:"return"`
	}
	if err := xml.Unmarshal(body, &ok); err != nil || status != http.StatusOK || !ok.Return {
		t.Fatalf("EnableImageDeprecation: HTTP %d %s (%v); want 200 with <return>true</return>", status, body, err)
	}
	_, body = mustCall(t, p, "ec2", "DescribeImages", "ImageId.1", fakeImageID)
	var images struct {
		Items []struct {
			ID         string `xml:"imageId"`
			Deprecated string `xml:"deprecationTime"`
		} `xml:"imagesSet>item"`
	}
	if err := xml.Unmarshal(body, &images); err != nil || len(images.Items) != 1 {
		t.Fatalf("DescribeImages after the deprecation: %s (%v)", body, err)
	}
	if want := clock.now().Add(48 * time.Hour).UTC().Format("2006-01-02T15:04:05.000Z"); images.Items[0].Deprecated != want {
		t.Errorf("deprecationTime %q, want %q", images.Items[0].Deprecated, want)
	}

	for _, tc := range []struct{ name, id, at, code string }{
		{"unknown AMI", "ami-0000000000000000f", future, "InvalidAMIID.NotFound"},
		{"in the past", fakeImageID, clock.now().Add(-time.Hour).Format(time.RFC3339), "InvalidParameterValue"},
		{"over 10 years", fakeImageID, clock.now().AddDate(11, 0, 0).Format(time.RFC3339), "InvalidParameterValue"},
		{"no time", fakeImageID, "", "MissingParameter"},
	} {
		status, body := mustCall(t, p, "ec2", "EnableImageDeprecation", "ImageId", tc.id, "DeprecateAt", tc.at)
		var e ec2Error
		if err := xml.Unmarshal(body, &e); err != nil || status != http.StatusBadRequest || e.Code != tc.code {
			t.Errorf("%s: HTTP %d %q, want 400 %s", tc.name, status, e.Code, tc.code)
		}
	}
	if n := strings.Count(strings.Join(moto.calls(), ","), "EnableImageDeprecation"); n != 0 {
		t.Errorf("moto got %d EnableImageDeprecation calls; the stand-in answers them", n)
	}

	status, body = mustCall(t, p, "ec2", "EnableImageDeprecation", "ImageId", fakeImageID, "DeprecateAt", future, "DryRun", "true")
	var e ec2Error
	if err := xml.Unmarshal(body, &e); err != nil || status != http.StatusPreconditionFailed || e.Code != "DryRunOperation" {
		t.Errorf("dry run: HTTP %d %q, want 412 DryRunOperation", status, e.Code)
	}

	p.Reset()
	_, body = mustCall(t, p, "ec2", "DescribeImages", "ImageId.1", fakeImageID)
	if strings.Contains(string(body), "deprecationTime") {
		t.Errorf("Reset kept the deprecation: %s", body)
	}
}

func TestImageDeprecationOffReachesMoto(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL)
	mustCall(t, p, "ec2", "EnableImageDeprecation", "ImageId", fakeImageID, "DeprecateAt", time.Now().Add(time.Hour).Format(time.RFC3339))
	if n := strings.Count(strings.Join(moto.calls(), ","), "EnableImageDeprecation"); n != 1 {
		t.Errorf("moto got %d EnableImageDeprecation calls with the stand-in off, want 1", n)
	}
}
