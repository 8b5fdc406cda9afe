package ssmparameter

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// fakeStore is one region's Parameter Store: versions of one parameter.
type fakeStore struct {
	t        *testing.T
	versions []types.Parameter
	dataType string
	puts     []*ssm.PutParameterInput
	// dropPuts: accept PutParameter, then drop the value, as SSM does with
	// an aws:ec2:image value its validation refuses.
	dropPuts bool
	getErr   error
}

func (f *fakeStore) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	if f.getErr != nil {
		return nil, f.getErr
	}
	if len(f.versions) == 0 {
		return nil, &types.ParameterNotFound{Message: aws.String("not found")}
	}
	p := f.versions[len(f.versions)-1]
	p.DataType = aws.String(f.dataType)
	return &ssm.GetParameterOutput{Parameter: &p}, nil
}

func (f *fakeStore) PutParameter(_ context.Context, in *ssm.PutParameterInput, _ ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	f.puts = append(f.puts, in)
	if len(f.versions) > 0 && !aws.ToBool(in.Overwrite) {
		return nil, &types.ParameterAlreadyExists{Message: aws.String("exists")}
	}
	if in.Overwrite != nil && *in.Overwrite && len(in.Tags) > 0 {
		f.t.Errorf("PutParameter with both Overwrite and Tags: SSM refuses that")
	}
	v := int64(len(f.versions) + 1)
	if !f.dropPuts {
		f.versions = append(f.versions, types.Parameter{Name: in.Name, Value: in.Value, Version: v})
		f.dataType = aws.ToString(in.DataType)
	}
	return &ssm.PutParameterOutput{Version: v}, nil
}

func (f *fakeStore) value() string {
	if len(f.versions) == 0 {
		return ""
	}
	return aws.ToString(f.versions[len(f.versions)-1].Value)
}

func newPublisher(f *fakeStore, cfg Config) (publisher, *[]string) {
	var said []string
	if cfg.ValidationTimeout == 0 {
		cfg.ValidationTimeout = time.Second
	}
	return publisher{client: f, region: "us-east-1", cfg: &cfg, say: func(s string) { said = append(said, s) },
		poll: bakery.Poll{Interval: time.Millisecond, Timeout: 50 * time.Millisecond}}, &said
}

func TestPublishCreatesImageParameter(t *testing.T) {
	f := &fakeStore{t: t}
	p, said := newPublisher(f, Config{Name: "/app/latest", Tags: map[string]string{"team": "web"}, Description: "app AMI"})
	if err := p.publish(context.Background(), "ami-0123456789abcdef0"); err != nil {
		t.Fatal(err)
	}
	if len(f.puts) != 1 {
		t.Fatalf("%d PutParameter calls, want 1", len(f.puts))
	}
	in := f.puts[0]
	if aws.ToString(in.DataType) != "aws:ec2:image" || in.Type != types.ParameterTypeString || aws.ToBool(in.Overwrite) {
		t.Errorf("PutParameter DataType %q Type %q Overwrite %v; want aws:ec2:image, String, no overwrite", aws.ToString(in.DataType), in.Type, aws.ToBool(in.Overwrite))
	}
	if len(in.Tags) != 1 || aws.ToString(in.Tags[0].Key) != "team" || aws.ToString(in.Description) != "app AMI" {
		t.Errorf("tags %v, description %q", in.Tags, aws.ToString(in.Description))
	}
	if f.value() != "ami-0123456789abcdef0" {
		t.Errorf("parameter holds %q", f.value())
	}
	if !strings.Contains(strings.Join(*said, "\n"), "/app/latest = ami-0123456789abcdef0 (version 1, created)") {
		t.Errorf("output %q does not report the new version", *said)
	}
}

func TestPublishRefusesToOverwriteUnlessAsked(t *testing.T) {
	f := &fakeStore{t: t, dataType: "aws:ec2:image", versions: []types.Parameter{{Value: aws.String("ami-00000000000000001"), Version: 1}}}
	p, _ := newPublisher(f, Config{Name: "/app/latest"})
	err := p.publish(context.Background(), "ami-00000000000000002")
	if err == nil || !strings.Contains(err.Error(), "set `overwrite = true`") || !strings.Contains(err.Error(), "ami-00000000000000001 (version 1)") {
		t.Fatalf("err = %v; want a refusal naming the current value and the option", err)
	}
	if len(f.puts) != 0 || f.value() != "ami-00000000000000001" {
		t.Errorf("the parameter was written (%d puts, value %s)", len(f.puts), f.value())
	}
}

func TestPublishOverwriteAddsVersion(t *testing.T) {
	f := &fakeStore{t: t, dataType: "aws:ec2:image", versions: []types.Parameter{{Value: aws.String("ami-00000000000000001"), Version: 1}}}
	p, said := newPublisher(f, Config{Name: "/app/latest", Overwrite: true, Tags: map[string]string{"team": "web"}})
	if err := p.publish(context.Background(), "ami-00000000000000002"); err != nil {
		t.Fatal(err)
	}
	if len(f.versions) != 2 || f.value() != "ami-00000000000000002" {
		t.Fatalf("versions %v", f.versions)
	}
	if len(f.puts[0].Tags) != 0 || !aws.ToBool(f.puts[0].Overwrite) {
		t.Errorf("overwrite PutParameter: tags %v overwrite %v", f.puts[0].Tags, aws.ToBool(f.puts[0].Overwrite))
	}
	if !strings.Contains(strings.Join(*said, "\n"), "version 2; version 1 is the previous AMI") {
		t.Errorf("output %q", *said)
	}
}

func TestPublishSameValueMakesNoVersion(t *testing.T) {
	f := &fakeStore{t: t, dataType: "aws:ec2:image", versions: []types.Parameter{{Value: aws.String("ami-00000000000000001"), Version: 4}}}
	p, _ := newPublisher(f, Config{Name: "/app/latest", Overwrite: true})
	if err := p.publish(context.Background(), "ami-00000000000000001"); err != nil {
		t.Fatal(err)
	}
	if len(f.puts) != 0 {
		t.Errorf("%d PutParameter calls for the value the parameter holds", len(f.puts))
	}
}

func TestPublishRefusesTextParameter(t *testing.T) {
	f := &fakeStore{t: t, dataType: "text", versions: []types.Parameter{{Value: aws.String("ami-00000000000000001"), Version: 1}}}
	p, _ := newPublisher(f, Config{Name: "/app/latest", Overwrite: true})
	err := p.publish(context.Background(), "ami-00000000000000002")
	if err == nil || !strings.Contains(err.Error(), `data type "text"`) || len(f.puts) != 0 {
		t.Fatalf("err = %v, %d puts; want a refusal naming the data type and no write", err, len(f.puts))
	}
}

// SSM answers PutParameter before it validates an aws:ec2:image value and
// drops a value it refuses: publishing must not report success then.
func TestPublishWaitsForValidation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		versions []types.Parameter
		want     string
	}{
		{"new parameter", nil, "SSM did not create parameter /app/latest"},
		{"new version", []types.Parameter{{Value: aws.String("ami-00000000000000001"), Version: 1}}, "it still holds version 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeStore{t: t, dataType: "aws:ec2:image", versions: tc.versions, dropPuts: true}
			p, _ := newPublisher(f, Config{Name: "/app/latest", Overwrite: true})
			err := p.publish(context.Background(), "ami-00000000000000002")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "validates aws:ec2:image values") {
				t.Fatalf("err = %v; want %q", err, tc.want)
			}
		})
	}
}

func TestPostProcessPublishesInEveryRegion(t *testing.T) {
	stores := map[string]*fakeStore{"us-east-1": {t: t}, "eu-west-1": {t: t}, "ap-south-1": {t: t}}
	p := &PostProcessor{config: Config{Name: "/app/latest", ValidationTimeout: time.Second},
		clients: func(r string) parameterStore { return stores[r] }}
	art := &packersdk.MockArtifact{IdValue: "us-east-1:ami-00000000000000001,eu-west-1:ami-00000000000000002"}
	out, keep, _, err := p.PostProcess(context.Background(), packersdk.TestUi(t), art)
	if err != nil || out != art || !keep {
		t.Fatalf("PostProcess = %v, keep %v, %v; want the artifact handed on", out, keep, err)
	}
	if stores["us-east-1"].value() != "ami-00000000000000001" || stores["eu-west-1"].value() != "ami-00000000000000002" || len(stores["ap-south-1"].puts) != 0 {
		t.Errorf("values %q %q; want each region's own AMI, and nothing elsewhere", stores["us-east-1"].value(), stores["eu-west-1"].value())
	}

	// One region refused: the others are still published, and the error
	// names the refused one.
	stores = map[string]*fakeStore{"us-east-1": {t: t, getErr: errors.New("AccessDenied")}, "eu-west-1": {t: t}}
	_, _, _, err = p.PostProcess(context.Background(), packersdk.TestUi(t), art)
	if err == nil || !strings.Contains(err.Error(), "us-east-1 (ssm:GetParameter)") {
		t.Fatalf("err = %v", err)
	}
	if stores["eu-west-1"].value() != "ami-00000000000000002" {
		t.Errorf("eu-west-1 was not published after us-east-1 failed")
	}
}
