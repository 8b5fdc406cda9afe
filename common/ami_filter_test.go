package common

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// fakeImages answers DescribeImages with one scripted page per call and
// fails the test on a call beyond the script or a page never asked for.
type fakeImages struct {
	t      *testing.T
	pages  []*ec2.DescribeImagesOutput
	err    error
	Inputs []*ec2.DescribeImagesInput
}

var _ ImageDescriber = (*fakeImages)(nil)

func newFakeImages(t *testing.T, pages ...*ec2.DescribeImagesOutput) *fakeImages {
	f := &fakeImages{t: t, pages: pages}
	t.Cleanup(func() {
		if len(f.pages) > 0 {
			t.Errorf("%d DescribeImages page(s) never asked for", len(f.pages))
		}
	})
	return f
}

func (f *fakeImages) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	f.Inputs = append(f.Inputs, in)
	if f.err != nil {
		err := f.err
		f.err = nil
		return nil, err
	}
	if len(f.pages) == 0 {
		f.t.Fatalf("unexpected DescribeImages call (token %q)", aws.ToString(in.NextToken))
	}
	page := f.pages[0]
	f.pages = f.pages[1:]
	return page, nil
}

func image(id, created string) types.Image {
	return types.Image{ImageId: aws.String(id), CreationDate: aws.String(created)}
}

func page(next string, imgs ...types.Image) *ec2.DescribeImagesOutput {
	out := &ec2.DescribeImagesOutput{Images: imgs}
	if next != "" {
		out.NextToken = aws.String(next)
	}
	return out
}

func TestAMIFilterFind_oneMatch(t *testing.T) {
	f := newFakeImages(t, page("", image("ami-1", "2024-01-01T00:00:00.000Z")))
	filter := &AMIFilterOptions{
		Filters:           map[string]string{"virtualization-type": "hvm", "name": "al2023-*", "architecture": "x86_64"},
		Owners:            []string{"amazon", "123456789012"},
		IncludeDeprecated: true,
	}

	img, err := filter.Find(t.Context(), f)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	if aws.ToString(img.ImageId) != "ami-1" {
		t.Errorf("Find = %s, want ami-1", aws.ToString(img.ImageId))
	}
	if len(f.Inputs) != 1 {
		t.Fatalf("%d DescribeImages calls, want 1", len(f.Inputs))
	}
	in := f.Inputs[0]
	var names []string
	for _, flt := range in.Filters {
		names = append(names, aws.ToString(flt.Name))
		if want := filter.Filters[aws.ToString(flt.Name)]; !reflect.DeepEqual(flt.Values, []string{want}) {
			t.Errorf("filter %s = %v, want [%s]", aws.ToString(flt.Name), flt.Values, want)
		}
	}
	if !reflect.DeepEqual(names, []string{"architecture", "name", "virtualization-type"}) {
		t.Errorf("filters sent in order %v, want sorted by name so requests are reproducible", names)
	}
	if !reflect.DeepEqual(in.Owners, []string{"amazon", "123456789012"}) {
		t.Errorf("Owners = %v", in.Owners)
	}
	if !aws.ToBool(in.IncludeDeprecated) {
		t.Errorf("IncludeDeprecated not sent")
	}
}

func TestAMIFilterFind_excludesDeprecatedByDefault(t *testing.T) {
	f := newFakeImages(t, page("", image("ami-1", "2024-01-01T00:00:00Z")))
	filter := &AMIFilterOptions{Owners: []string{"self"}}
	if _, err := filter.Find(t.Context(), f); err != nil {
		t.Fatalf("Find: %v", err)
	}
	if d := f.Inputs[0].IncludeDeprecated; d == nil || *d {
		t.Errorf("IncludeDeprecated = %v, want an explicit false", d)
	}
	if f.Inputs[0].Filters != nil {
		t.Errorf("Filters = %v, want none", f.Inputs[0].Filters)
	}
}

func TestAMIFilterFind_severalMatches(t *testing.T) {
	imgs := []types.Image{
		image("ami-old", "2023-05-01T12:00:00.000Z"),
		image("ami-newest", "2024-02-01T08:30:00.000Z"),
		image("ami-mid", "2023-12-24T00:00:00.000Z"),
	}

	t.Run("without most_recent is an error", func(t *testing.T) {
		f := newFakeImages(t, page("", imgs...))
		_, err := (&AMIFilterOptions{Filters: map[string]string{"name": "web-*"}, Owners: []string{"self"}}).Find(t.Context(), f)
		if err == nil {
			t.Fatal("Find chose one of several AMIs without most_recent")
		}
		for _, w := range []string{"3 AMIs match", "web-*", "`most_recent = true`"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	})
	t.Run("with most_recent takes the newest across pages", func(t *testing.T) {
		f := newFakeImages(t, page("tok-2", imgs[0]), page("tok-3", imgs[1]), page("", imgs[2]))
		img, err := (&AMIFilterOptions{Owners: []string{"self"}, MostRecent: true}).Find(t.Context(), f)
		if err != nil {
			t.Fatalf("Find: %v", err)
		}
		if aws.ToString(img.ImageId) != "ami-newest" {
			t.Errorf("Find = %s, want ami-newest", aws.ToString(img.ImageId))
		}
		if len(f.Inputs) != 3 || aws.ToString(f.Inputs[1].NextToken) != "tok-2" || aws.ToString(f.Inputs[2].NextToken) != "tok-3" {
			t.Errorf("pages not followed: %d calls", len(f.Inputs))
		}
	})
}

func TestAMIFilterFind_noMatch(t *testing.T) {
	f := newFakeImages(t, page(""))
	_, err := (&AMIFilterOptions{Filters: map[string]string{"name": "nope-*"}, Owners: []string{"self"}}).Find(t.Context(), f)
	if !errors.Is(err, ErrNoImage) {
		t.Fatalf("err = %v, want it to wrap ErrNoImage", err)
	}
	if !strings.Contains(err.Error(), "nope-*") || !strings.Contains(err.Error(), "self") {
		t.Errorf("error %q does not say which filter and owners matched nothing", err)
	}
}

func TestAMIFilterFind_apiError(t *testing.T) {
	f := newFakeImages(t)
	f.err = &smithy.GenericAPIError{Code: "AuthFailure", Message: "no"}
	_, err := (&AMIFilterOptions{Owners: []string{"self"}}).Find(t.Context(), f)
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AuthFailure" || !strings.Contains(err.Error(), "describing AMIs") {
		t.Errorf("err = %v, want the wrapped AuthFailure", err)
	}
}

func TestNewest(t *testing.T) {
	got := Newest([]types.Image{
		image("ami-unparsable", "yesterday"),
		image("ami-nodate", ""),
		image("ami-2024", "2024-01-01T00:00:00Z"),
		image("ami-2024-later", "2024-01-01T00:00:00.500Z"),
		image("ami-2023", "2023-12-31T23:59:59.999Z"),
	})
	if aws.ToString(got.ImageId) != "ami-2024-later" {
		t.Errorf("Newest = %s, want ami-2024-later", aws.ToString(got.ImageId))
	}
	if got := Newest([]types.Image{image("ami-only", "junk")}); aws.ToString(got.ImageId) != "ami-only" {
		t.Errorf("Newest of one = %s", aws.ToString(got.ImageId))
	}
}

func TestAMIFilterPrepare(t *testing.T) {
	tests := []struct {
		name   string
		filter *AMIFilterOptions
		want   []string
	}{
		{name: "nil", filter: nil},
		{name: "empty", filter: &AMIFilterOptions{}},
		{name: "valid", filter: &AMIFilterOptions{Filters: map[string]string{"name": "x"}, Owners: []string{"self"}}},
		{name: "no owners", filter: &AMIFilterOptions{Filters: map[string]string{"name": "x"}}, want: []string{"`src` needs `owners`"}},
		{name: "only most_recent", filter: &AMIFilterOptions{MostRecent: true}, want: []string{"`src` needs `owners`"}},
		{name: "blank filter name", filter: &AMIFilterOptions{Filters: map[string]string{"  ": "x"}, Owners: []string{"self"}},
			want: []string{"`src` has a filter with an empty name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.filter.Prepare("src")
			if len(errs) != len(tt.want) {
				t.Fatalf("Prepare = %v, want %d error(s) %q", errs, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %q does not mention %q", errs[i], w)
				}
			}
		})
	}
}
